using Dialer.Core.Domain;
using System.Security.Cryptography;
using Dialer.Store;

namespace Dialer.Runtime.Tests;

/// <summary>A `dialer run` config file and its leads CSV in a test's folder: one ARI server, one trunk, agents agent1…agentN.</summary>
internal static class RunFiles
{
    /// <summary>
    /// Writes leads.csv (each lead in UTC) and run.yaml beside it; returns the config's path. With <paramref name="agentsAri"/>
    /// the agents' phones are on a second server, pbx2, reached from pbx1's callees over the inter-server trunk.
    /// </summary>
    public static string Write(string dir, Uri ari, string db, string name, string node, string pacer, int agents, int channels,
        IEnumerable<(string Phone, string Region)> leads, double? autoReadySeconds = null, bool amd = false, Uri? agentsAri = null)
    {
        var servers = agentsAri is null ? $"[{{id: pbx1, url: \"{ari}\", user: dialer, password: dialer}}]"
            : $"[{{id: pbx1, url: \"{ari}\", user: dialer, password: dialer}}, {{id: pbx2, url: \"{agentsAri}\", user: dialer, password: dialer}}]";
        File.WriteAllLines(Path.Combine(dir, "leads.csv"), ["phone,region,timezone", .. leads.Select(l => $"{l.Phone},{l.Region},UTC")]);
        var agentList = string.Join("\n", Enumerable.Range(1, agents).Select(i => $"  - {{id: agent{i}}}"));
        var file = Path.Combine(dir, "run.yaml");
        File.WriteAllText(file, $$"""
            name: {{name}}
            timezone: UTC
            campaign: {pacer: "{{pacer}}", window_start: "00:00", window_end: "24:00", ring_timeout_seconds: 120}
            trunks:
              - {name: carrier-a, channels: {{channels}}, calls_per_second: {{channels / 2}}, rates: {"+": 0.01}, endpoint: "PJSIP/{number}@carrier-a"}
            agents:
            {{agentList}}
            db: "{{db}}"
            pii_key: "{{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}}"
            node: {{node}}
            leads: leads.csv
            ari:
              servers: {{servers}}
            {{(agentsAri is null ? "" : "  agent_server: pbx2\n  inter_server_endpoint: \"PJSIP/{agent}@{server}\"")}}
            {{(autoReadySeconds is { } r ? $"  auto_ready_seconds: {r}" : "")}}
            {{(amd ? "  amd: true" : "")}}
            """);
        return file;
    }

    /// <summary>The store migrated, the campaign made and running, leads.csv imported: what `dialer run` does before it starts the engine.</summary>
    public static (StoreDb Db, Pii Pii, CampaignRecord Campaign) Prepare(RunConfig config, string dir)
    {
        var db = StoreDb.Open(config.Db);
        Migrator.Migrate(db);
        var pii = config.Pii();
        var campaigns = new Campaigns(db);
        var record = campaigns.Create(config.Name, new CampaignSettings { TimeZone = "UTC" }, DateTime.UtcNow);
        using (var csv = File.OpenRead(Path.Combine(dir, "leads.csv"))) new LeadImporter(db, pii).Import(record.Id, record.Name, csv, DateTime.UtcNow);
        campaigns.SetStatus(record.Id, CampaignStatus.Running, DateTime.UtcNow);
        return (db, pii, record);
    }

    /// <summary>Polls until <paramref name="done"/>; on time-out fails with <paramref name="what"/> and the run's log.</summary>
    public static async Task Until(Func<Task<bool>> done, TimeSpan timeout, string what, TextWriter log)
    {
        var until = DateTime.UtcNow + timeout;
        while (!await done())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"timed out: {what}\n{log}");
            await Task.Delay(20);
        }
    }
}

/// <summary>A run's log, written from many threads; <see cref="ToString"/> is what was written (a failure message shows it).</summary>
internal sealed class RunLog : StringWriter
{
    private readonly object _gate = new();

    public override void Write(char value) { lock (_gate) base.Write(value); }
    public override void Write(string? value) { lock (_gate) base.Write(value); }
    public override void WriteLine(string? value) { lock (_gate) base.WriteLine(value); }
    public override string ToString() { lock (_gate) return base.ToString(); }
}
