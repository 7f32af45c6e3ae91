using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dialer.Api;
using Dialer.Emulator;
using Dialer.Tests;

namespace Dialer.Ari.Tests;

/// <summary>/metrics of a campaign `serve` runs on the emulated Asterisk: the same figures as /stats/live, by trunk name, and ARI reconnects.</summary>
public partial class ServeTests
{
    [Fact]
    public async Task Metrics_show_a_running_campaign_as_stats_live_does_and_count_ari_reconnects()
    {
        // Time at 0.2: the human hangs up 6 s after answering, 1.2 s here. At 0.05 it was 0.3 s, less than a loaded machine's
        // first answer-to-bridge (CI: the bridge found the callee gone, counted abandoned).
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.2 });
        await using var app = await StartApi(emu.BaseUri, TimeSpan.FromSeconds(10));
        using var http = await CreateRenewals(app);
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/start", null)).StatusCode);

        // Both leads called and over (one human, one busy), the agent back to ready: the figures hold still.
        async Task<JsonElement> Live() => (await http.GetFromJsonAsync<JsonElement>("/stats/live")).GetProperty("campaigns").GetProperty("renewals");
        await Rig.Until(() => Live().Result is var l && l.GetProperty("calls_placed").GetInt32() == 2 && l.GetProperty("ringing").GetInt32() == 0
                              && l.GetProperty("agents_ready").GetInt32() == 1, TimeSpan.FromSeconds(10), "both calls over, agent ready");
        var live = await Live();
        var text = await http.GetStringAsync(DialerMetrics.Path);
        (string, string) c = ("campaign", "renewals"), trunk = ("trunk", "carrier-a");

        Assert.Equal(live.GetProperty("calls_placed").GetInt64(), Exposition.Sum(text, "dialer_calls_placed_total", c, trunk));
        Assert.Equal(1, Exposition.Sum(text, "dialer_live_answers_total", c, trunk));
        Assert.Equal(0, Exposition.Sum(text, "dialer_machine_answers_total", c, trunk));
        Assert.Equal(0, Exposition.Sum(text, "dialer_abandoned_total", c, trunk));
        Assert.Equal(live.GetProperty("dial_level").GetDouble(), Exposition.Sum(text, "dialer_dial_level", c));
        Assert.Equal(live.GetProperty("abandon_rate_today").GetDouble(), Exposition.Sum(text, "dialer_abandon_rate", c, ("window", "today")));
        Assert.Equal(live.GetProperty("abandon_rate_30d").GetDouble(), Exposition.Sum(text, "dialer_abandon_rate", c, ("window", "30d")));
        Assert.Equal(live.GetProperty("ringing").GetInt32(), Exposition.Sum(text, "dialer_calls", c, ("phase", "ringing")));
        Assert.Equal(live.GetProperty("waiting").GetInt32(), Exposition.Sum(text, "dialer_calls", c, ("phase", "waiting")));
        Assert.Equal(live.GetProperty("agents_talking").GetInt32(), Exposition.Sum(text, "dialer_calls", c, ("phase", "connected")));
        Assert.Equal(live.GetProperty("agents_ready").GetInt32(), Exposition.Sum(text, "dialer_agents", c, ("state", "ready")));
        Assert.Equal(live.GetProperty("agents_talking").GetInt32(), Exposition.Sum(text, "dialer_agents", c, ("state", "talking")));
        Assert.Equal(live.GetProperty("agents_paused").GetInt32(), Exposition.Sum(text, "dialer_agents", c, ("state", "paused")));
        Assert.Equal(live.GetProperty("agents_logged_in").GetInt32(), Exposition.Sum(text, "dialer_agents", c) - Exposition.Sum(text, "dialer_agents", c, ("state", "logged_out")));
        Assert.Equal(1, Exposition.Sum(text, "dialer_answer_to_agent_seconds_count", c)); // the human reached the agent
        Assert.Equal(1, Exposition.Sum(text, "dialer_answer_to_agent_seconds_bucket", c, ("le", "2")));
        Assert.Equal(10, Exposition.Sum(text, "dialer_trunk_channels", c, trunk));
        Assert.Equal(0, Exposition.Sum(text, "dialer_trunk_channels_in_use", c, trunk) - Exposition.Sum(text, "dialer_calls", c, trunk));
        Assert.Equal(1, Exposition.Sum(text, "dialer_ari_connected", c, ("server", "pbx1")));
        Assert.Equal(0, Exposition.Sum(text, "dialer_ari_reconnects_total", c, ("server", "pbx1")));
        // A second scrape with nothing new leaves the histogram as it was (it adds what arrived since, not all again).
        Assert.Equal(1, Exposition.Sum(await http.GetStringAsync(DialerMetrics.Path), "dialer_answer_to_agent_seconds_count", c));

        emu.DropEventSockets(); // Asterisk drops the events WebSocket; the client reconnects
        await Rig.Until(() => Exposition.Sum(http.GetStringAsync(DialerMetrics.Path).Result, "dialer_ari_reconnects_total", c, ("server", "pbx1")) == 1,
            TimeSpan.FromSeconds(10), "the reconnect counted");

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
        Assert.DoesNotContain("campaign=\"renewals\"", await http.GetStringAsync(DialerMetrics.Path)); // a stopped engine's series go
        await app.StopAsync();
    }
}
