using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Hosting;
using Dialer.Store;

namespace Dialer.Api.Tests;

/// <summary>The supply and floor rules (hopper_low, agents_idle, safe_harbor_late) on engine samples, without an engine.</summary>
public sealed class AlertRuleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-alert-rules-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static EngineSnapshot Sample(double[] readySeconds, double lateMs) => new("vicidial-tapered", 0, 0, 0, 0, 0, 0, [], new int[5],
        [.. readySeconds.Select((s, i) => new AgentSnapshot($"a{i}", AgentState.Ready, s, null))], 0, 0, 0.03, 1, [])
    { SafeHarborLateP99Ms = lateMs };

    [Fact]
    public void Low_supply_idle_agents_and_late_safe_harbor_raise_alerts_that_clear_and_are_audited()
    {
        using var db = StoreDb.Open($"sqlite:{Path.Combine(_dir, "alerts.db")}");
        Migrator.Migrate(db);
        var campaigns = new Campaigns(db);
        campaigns.Create("renewals", new CampaignSettings
        {
            Alerts =
            [
                new() { Kind = "hopper_low", Threshold = 5, Actions = ["notify"] },
                new() { Kind = "agents_idle", Threshold = 30 },
                new() { Kind = "safe_harbor_late", Threshold = 500 },
            ],
        }, DateTime.UtcNow);
        var hub = new EventHub(DialerApi.Json);
        var alerts = new System.Collections.Concurrent.ConcurrentQueue<(string Kind, string Payload)>();
        hub.Published += (type, _, payload, _, kind) => { if (type == "alert") alerts.Enqueue((kind!, payload)); };
        var dialable = 3L;
        var rules = new Alerts(new EngineRegistry(), campaigns, new AuditLog(db), hub, _ => { }, _ => dialable);

        rules.Evaluate("renewals", Sample([40, 50], lateMs: 800), EngineStatus.Running);
        Assert.Equal(3, alerts.Count(a => a.Kind == "raised"));
        Assert.Contains(alerts, a => a.Payload.Contains("3 leads due to dial"));
        Assert.Contains(alerts, a => a.Payload.Contains("waited 45 s on average"));
        Assert.Contains(alerts, a => a.Payload.Contains("800 ms past"));

        rules.Evaluate("renewals", Sample([40, 50], lateMs: 800), EngineStatus.Running);
        Assert.Equal(3, alerts.Count); // raised once while the condition holds
        rules.Evaluate("renewals", Sample([5, 50], lateMs: 100), EngineStatus.Running); // 27.5 s on average now; the lead count is re-read only after 10 s
        Assert.Equal(2, alerts.Count(a => a.Kind == "cleared"));

        using var c = db.Connect();
        Assert.Equal(5, c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE actor = 'alerts'"));
        var bad = new AlertRule { Kind = "hopper_low", Threshold = 0, Actions = ["trunk_share"] };
        var errors = new Dictionary<string, string>();
        bad.Validate("alerts[0]", errors);
        Assert.Equal(["alerts[0].threshold", "alerts[0].actions[0]"], errors.Keys);
    }
}
