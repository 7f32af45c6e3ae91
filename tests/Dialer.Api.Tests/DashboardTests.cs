using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dialer.Emulator;
using Dialer.Tests;

namespace Dialer.Api.Tests;

/// <summary>The dashboard in a real headless Chromium against a campaign dialing the emulated Asterisk.</summary>
public sealed class DashboardTests
{
    /// <summary>Screenshots go beside the test results (TestResults/ is ignored by git), never into the repository.</summary>
    private static readonly string Shots = Path.Combine(AppContext.BaseDirectory, "TestResults", "dashboard");

    private static EmulatorScenario Traffic() => new()
    {
        TimeScale = 0.05, Seed = 7, QualifySeconds = 20, TrunkRttMs = { ["carrier-a"] = 35 },
        Mix = new CalleeMix { Human = 0.6, Machine = 0.1, Busy = 0.1, NoAnswer = 0.2, Congestion = 0, BadNumber = 0, RingMinSeconds = 2, RingMaxSeconds = 8, TalkMinSeconds = 10, TalkMaxSeconds = 40 },
    };

    [ChromiumFact]
    public async Task A_campaign_started_from_the_dashboard_shows_live_figures_that_move_and_match_stats_and_metrics()
    {
        await using var floor = await Floor.StartAsync(agents: 4, leads: 150, Traffic());
        await using var browser = await Chromium.StartAsync(TimeSpan.FromSeconds(30));
        var page = floor.BaseUri.ToString();
        await browser.Navigate(page);

        // No data without a key: the page asks for one; a wrong key is refused, the right one opens it.
        await browser.Until("!document.querySelector('#login').hidden", TimeSpan.FromSeconds(10), "the sign-in form");
        await browser.Eval("document.querySelector('#login input').value = 'not-the-key-0123456789'; document.querySelector('#login').requestSubmit()");
        await browser.Until("document.querySelector('#login-error').textContent.includes('not accepted')", TimeSpan.FromSeconds(5), "the refusal");
        await browser.Eval($"document.querySelector('#login input').value = '{Floor.Key}'; document.querySelector('#login').requestSubmit()");
        const string card = "document.querySelector('article[data-campaign=\"renewals\"]')";
        await browser.Until($"{card} && {card}.querySelector('.badge.status').textContent === 'stopped'", TimeSpan.FromSeconds(10), "the campaign's card");
        await browser.Until("document.querySelector('#link').textContent === 'live'", TimeSpan.FromSeconds(10), "the event stream open");

        // Start it from the dashboard.
        await browser.Eval($"{card}.querySelector('button[data-action=start]').click()");
        await browser.Until($"{card}.querySelector('.badge.status').textContent === 'running'", TimeSpan.FromSeconds(10), "status running on the page");
        string Fig(string k) => $"Number({card}.querySelector('.fig[data-k=\"{k}\"]').dataset.v)";
        await browser.Until($"{Fig("calls_placed")} > 0 && {Fig("agents.talking")} > 0", TimeSpan.FromSeconds(20), "calls placed and agents talking");
        var first = (await browser.Eval(Fig("calls_placed")))!.GetValue<double>();
        await browser.Until($"{Fig("calls_placed")} > {first.ToString(CultureInfo.InvariantCulture)}", TimeSpan.FromSeconds(20), "calls placed moving");
        await browser.Until($"{card}.querySelectorAll('.seats tbody tr').length === 4 && {card}.querySelector('tr[data-trunk=\"carrier-a\"]')", TimeSpan.FromSeconds(5), "agents and trunk rows");
        await browser.Until($"{card}.querySelector('.chart.abandon canvas') && {card}.querySelector('.chart.calls canvas')", TimeSpan.FromSeconds(5), "both charts drawn");
        // The trunk's round trip comes from the RTCP of calls up (polled every 10 s; qualify round trips feed nothing), so it is read while dialing.
        await browser.Until($"Number({card}.querySelector('tr[data-trunk=\"carrier-a\"] .rtt').dataset.v) > 0", TimeSpan.FromSeconds(30), "the trunk's RTT");
        await browser.Screenshot(Path.Combine(Shots, "1-dialing.png"));

        // Pause from the dashboard: no new calls; once the calls up are over, the page, /stats/live and /metrics agree.
        await browser.Eval($"{card}.querySelector('button[data-action=pause]').click()");
        await browser.Until($"{card}.querySelector('.badge.status').textContent === 'paused'", TimeSpan.FromSeconds(10), "status paused on the page");
        async Task<JsonElement> Live() => (await floor.Http.GetFromJsonAsync<JsonElement>("/stats/live")).GetProperty("campaigns").GetProperty("renewals");
        await Floor.Until(async () => await Live() is var l && l.GetProperty("ringing").GetInt32() == 0 && l.GetProperty("waiting").GetInt32() == 0
                                      && l.GetProperty("agents_ready").GetInt32() == 4, TimeSpan.FromSeconds(30), "the calls up over, every agent ready");
        var live = await Live();
        var placed = live.GetProperty("calls_placed").GetInt64();
        await browser.Until($"{Fig("calls_placed")} === {placed} && {Fig("calls_up")} === 0 && {Fig("agents.ready")} === 4", TimeSpan.FromSeconds(5), "the page caught up with /stats/live");
        var metrics = await floor.Http.GetStringAsync("/metrics");
        (string, string) c = ("campaign", "renewals");
        Assert.Equal(placed, Exposition.Sum(metrics, "dialer_calls_placed_total", c));
        var liveAnswers = Exposition.Sum(metrics, "dialer_live_answers_total", c);
        Assert.True(liveAnswers > 0);
        Assert.Equal(liveAnswers / placed, (await browser.Eval(Fig("answer_rate")))!.GetValue<double>(), 9);
        Assert.Equal(live.GetProperty("abandon_rate_today").GetDouble(), (await browser.Eval(Fig("abandon_rate_today")))!.GetValue<double>(), 9);
        Assert.Equal(Exposition.Sum(metrics, "dialer_abandon_rate", c, ("window", "30d")), (await browser.Eval(Fig("abandon_rate_30d")))!.GetValue<double>(), 9);
        Assert.Equal(Exposition.Sum(metrics, "dialer_abandon_cap", c), (await browser.Eval(Fig("abandon_cap")))!.GetValue<double>(), 9);
        Assert.Equal(4, Exposition.Sum(metrics, "dialer_agents", c, ("state", "ready")));
        Assert.Equal("%", (await browser.Eval($"{card}.querySelector('.fig[data-k=\"answer_rate\"] .v').textContent.slice(-1)"))!.GetValue<string>());
        // The trunk's round trip as the driver measured it (the calls' RTCP, 35 ms here), and the day's report charts with this hour's calls.
        Assert.Equal(35, (await browser.Eval($"Number({card}.querySelector('tr[data-trunk=\"carrier-a\"] .rtt').dataset.v)"))!.GetValue<double>(), 0);
        await browser.Until($"Number({card}.querySelector('.chart.day-answer').dataset.hours) >= 1 && {card}.querySelector('.chart.day-abandon canvas')", TimeSpan.FromSeconds(10), "the day's charts");
        await browser.Screenshot(Path.Combine(Shots, "2-paused.png"));

        // An agent paused from the dashboard is paused in the engine.
        await browser.Eval($"{card}.querySelector('tr[data-agent=\"agent2\"] button').click()");
        await Floor.Until(async () => (await Live()).GetProperty("agents_paused").GetInt32() == 1, TimeSpan.FromSeconds(5), "agent2 paused in the engine");
        await browser.Until($"{card}.querySelector('tr[data-agent=\"agent2\"] .state').textContent === 'paused'", TimeSpan.FromSeconds(5), "agent2 paused on the page");

        Assert.Equal(HttpStatusCode.OK, (await floor.Http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
    }

    [Fact]
    public async Task The_page_shell_is_public_but_its_data_needs_a_key_or_a_session()
    {
        await using var floor = await Floor.StartAsync(agents: 1, leads: 1, Traffic());
        using var anonymous = new HttpClient { BaseAddress = floor.BaseUri };
        var shell = await anonymous.GetStringAsync("/");
        Assert.Contains("/app.js", shell);
        Assert.DoesNotContain("renewals", shell); // the shell holds no data
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/state")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/events")).StatusCode);
        var refused = await anonymous.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = "wrong-key-0123456789" }));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        var bad = await anonymous.PostAsync("/login", JsonContent.Create(new { key = Floor.Key }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"key\"", await bad.Content.ReadAsStringAsync());

        var signIn = await anonymous.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = Floor.Key }));
        Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single();
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase); // another site's form cannot ride on it
        // HttpClient's default handler kept the cookie: the session opens the data.
        var state = await anonymous.GetFromJsonAsync<JsonElement>("/dashboard/state");
        Assert.Equal("renewals", state.GetProperty("campaigns")[0].GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await anonymous.PostAsync("/logout", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/state")).StatusCode);
    }

    [ChromiumFact]
    public async Task An_alert_raised_on_the_floor_shows_on_the_dashboard_with_the_action_it_took()
    {
        await using var floor = await AlertTests.Overdialing(new[] { new { kind = "abandon_near_cap", threshold = 0.5, actions = new[] { "pause_campaign" } } });
        await using var browser = await Chromium.StartAsync(TimeSpan.FromSeconds(30));
        await browser.Navigate(floor.BaseUri.ToString());
        await browser.Until("!document.querySelector('#login').hidden", TimeSpan.FromSeconds(10), "the sign-in form");
        await browser.Eval($"document.querySelector('#login input').value = '{Floor.Key}'; document.querySelector('#login').requestSubmit()");
        const string card = "document.querySelector('article[data-campaign=\"renewals\"]')";
        await browser.Until($"{card} && document.querySelector('#link').textContent === 'live'", TimeSpan.FromSeconds(10), "the card and the stream");
        await browser.Eval($"{card}.querySelector('button[data-action=start]').click()");
        const string alert = "document.querySelector('#alerts li[data-rule=\"abandon_near_cap\"]')";
        await browser.Until($"{alert} && {alert}.textContent.includes('pause_campaign')", TimeSpan.FromSeconds(30), "the alert with its action on the page");
        await browser.Until($"{card}.querySelector('.badge.status').textContent === 'paused'", TimeSpan.FromSeconds(10), "the campaign paused by the alert, on the page");
        Assert.Contains("critical", (await browser.Eval($"{alert}.className"))!.GetValue<string>());
        await browser.Screenshot(Path.Combine(Shots, "3-alert.png"));
        Assert.Equal(HttpStatusCode.OK, (await floor.Http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
    }
}
