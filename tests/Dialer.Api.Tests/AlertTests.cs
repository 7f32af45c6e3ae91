using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Dialer.Emulator;
using Dialer.Store;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Api.Tests;

/// <summary>Alert rules on a campaign dialing the emulated Asterisk: raised on the stream, audited, and their actions taken.</summary>
public sealed class AlertTests
{
    /// <summary>One agent, callees who nearly all answer, a 3:1 dial ratio: most live answers find no agent within 2 s.</summary>
    internal static Task<Floor> Overdialing(object alerts, IReadOnlyList<WebhookTarget>? webhooks = null) => Floor.StartAsync(agents: 1, leads: 80, new EmulatorScenario
    {
        TimeScale = 0.05, Seed = 3,
        Mix = new CalleeMix { Human = 0.9, Machine = 0, Busy = 0, NoAnswer = 0.1, Congestion = 0, BadNumber = 0, RingMinSeconds = 2, RingMaxSeconds = 4, TalkMinSeconds = 60, TalkMaxSeconds = 100 },
    }, new { pacer = "ratio:3", alerts }, webhooks);

    [Fact]
    public async Task An_abandon_rate_near_the_cap_pauses_the_campaign_notifies_the_webhook_and_is_audited()
    {
        var hook = new WebhookTarget(new Uri("http://127.0.0.1:9/hook"), "alert-secret-0123456789", new HashSet<string> { "alert" });
        await using var listener = await HookListener.StartAsync();
        await using var floor = await Overdialing(new object[]
        {
            new { kind = "abandon_near_cap", threshold = 0.5, actions = new[] { "pause_campaign", "notify" } },
            new { kind = "no_agents", for_seconds = 3600 }, // never held that long here: must not fire
        }, [hook with { Url = listener.Url }]);
        var phases = new System.Collections.Concurrent.ConcurrentQueue<string>();
        floor.App.Services.GetRequiredService<EventHub>().Published += (type, _, payload, _, _) =>
        {
            if (type == "call") phases.Enqueue(JsonDocument.Parse(payload).RootElement is var e ? $"{e.GetProperty("phase").GetString()}/{(e.TryGetProperty("verdict", out var v) ? v.GetString() : null)}" : "");
        };
        Assert.Equal(HttpStatusCode.OK, (await floor.Http.PostAsync("/campaigns/renewals/start", null)).StatusCode);

        await Floor.Until(async () => (await floor.Http.GetFromJsonAsync<JsonElement>("/campaigns/renewals")).GetProperty("status").GetString() == "paused",
            TimeSpan.FromSeconds(30), "the alert's action paused the campaign");
        // The action is taken before the alert is published: the status can show paused a moment before the alert list has it.
        JsonElement alert = default;
        await Floor.Until(async () =>
        {
            var state = await floor.Http.GetFromJsonAsync<JsonElement>("/dashboard/state");
            alert = state.GetProperty("alerts").EnumerateArray().FirstOrDefault(a => a.GetProperty("state").GetString() == "raised"); // it may clear and come back
            return alert.ValueKind == JsonValueKind.Object;
        }, TimeSpan.FromSeconds(10), "the raised alert on the dashboard");
        Assert.Equal("abandon_near_cap", alert.GetProperty("rule").GetString());
        Assert.Equal("critical", alert.GetProperty("severity").GetString());
        Assert.Equal(["pause_campaign", "notify"], alert.GetProperty("actions_taken").EnumerateArray().Select(a => a.GetString()));
        Assert.Contains("of the 3.00% cap", alert.GetProperty("message").GetString());
        var live = (await floor.Http.GetFromJsonAsync<JsonElement>("/stats/live")).GetProperty("campaigns").GetProperty("renewals");
        Assert.True(live.GetProperty("abandon_rate_today").GetDouble() >= 0.015, "raised only once the rate reached half the cap");

        await Floor.Until(() => Task.FromResult(listener.Got.Count >= 1), TimeSpan.FromSeconds(10), "the webhook notified");
        var (eventType, body, timestamp, signature) = listener.Got.First();
        Assert.Equal("alert", eventType);
        Assert.Equal("sha256=" + Webhooks.Sign("alert-secret-0123456789", timestamp!, body), signature);
        Assert.Equal("abandon_near_cap", JsonDocument.Parse(body).RootElement.GetProperty("rule").GetString());

        // Every phase of the calls was on the stream: placed, ringing, answered (human), bridged, safe harbor, ended.
        await Floor.Until(() => Task.FromResult(phases.Contains("ended/")), TimeSpan.FromSeconds(10), "a call ended on the stream");
        foreach (var phase in new[] { "placed/", "ringing/", "answered/human", "bridged/", "safe_harbor/", "ended/" })
            Assert.Contains(phase, phases);

        // The engine's decision time and its outbox are in /metrics.
        var metrics = await floor.Http.GetStringAsync("/metrics");
        (string, string) c0 = ("campaign", "renewals");
        Assert.True(Dialer.Tests.Exposition.Sum(metrics, "dialer_engine_step_seconds_count", c0, ("step", "tick")) > 0);
        Assert.True(Dialer.Tests.Exposition.Sum(metrics, "dialer_engine_step_seconds_count", c0, ("step", "event")) > 0);
        Assert.True(Dialer.Tests.Exposition.Sum(metrics, "dialer_outbox_depth", c0) >= 0);
        Assert.Equal(1, Dialer.Tests.Exposition.Sum(metrics, "dialer_webhook_deliveries_total", ("result", "delivered")));

        using var db = StoreDb.Open(floor.Db);
        using var c = db.Connect();
        var audit = c.Query<(string Action, string Entity, string Detail)>("SELECT action, entity, detail FROM audit_log WHERE actor = 'alerts'").ToList();
        Assert.Contains(audit, a => a.Action == "alert raised" && a.Entity == "campaign:renewals" && a.Detail.Contains("pause_campaign"));
        Assert.Equal(HttpStatusCode.OK, (await floor.Http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
    }

    [Fact]
    public async Task A_bad_alert_rule_is_refused_naming_the_field()
    {
        await using var floor = await Floor.StartAsync(agents: 1, leads: 1, new EmulatorScenario());
        var r = await floor.Http.PatchAsync("/campaigns/renewals/settings", JsonContent.Create(new { alerts = new[] { new { kind = "trunk_down", actions = new[] { "trunk_out" } } } }));
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        var errors = (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.True(errors.TryGetProperty("alerts[0].actions[0]", out _), errors.ToString());
        r = await floor.Http.PatchAsync("/campaigns/renewals/settings", JsonContent.Create(new { alerts = new[] { new { kind = "abandon_near_cap", threshold = 2.0 } } }));
        Assert.True((await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("alerts[0].threshold", out _));
    }
}
