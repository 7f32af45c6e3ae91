using System.Globalization;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Sim.Config;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary>
/// <c>dialer run</c>: an engine node in real time on one or more Asterisk servers and the store, with a live status line.
/// It paces each of its campaigns while it holds the campaign's ownership lease (<see cref="NodeHost"/>): other nodes with
/// the same campaigns stand by and take over a dead owner's.
/// </summary>
public static class AriRunner
{
    /// <summary>
    /// Runs until <paramref name="ct"/> (Ctrl+C, SIGTERM), then stops (draining for <see cref="NodeOptions.DrainTimeout"/>) and
    /// hands its campaigns over; returns Faulted if an engine faulted, else Stopped. All configs share the store and node name.
    /// </summary>
    public static async Task<EngineStatus> RunAsync(IReadOnlyList<RunConfig> configs, NodeOptions options, TextWriter output, TimeSpan statusEvery, CancellationToken ct)
    {
        var first = configs[0];
        if (configs.FirstOrDefault(c => c.Db != first.Db || c.Node != first.Node) is { } other)
            throw new ConfigException($"campaign '{other.Name}': every config of a node needs the same db: and node: (got '{other.Node}' beside '{first.Node}')");
        // Every connection is proven before anything is written: the store first, then each ARI server.
        using var db = StoreDb.Open(first.Db);
        foreach (var m in Migrator.Migrate(db)) output.WriteLine($"dialer run: store: applied {m.Name}");
        var pii = first.Pii();
        foreach (var c in configs) await CampaignEngine.CheckTelephonyAsync(c.Telephony, TimeSpan.FromSeconds(30), ct);
        void Say(string m) { lock (output) output.WriteLine(m); }
        // A config's leads CSV goes in first, on whichever node is started with it (an import changes nothing the second time).
        var campaigns = new Campaigns(db);
        foreach (var c in configs)
            if (c.LeadsFile is { } file)
                Import(db, pii, campaigns.Find(c.Name) ?? campaigns.Create(c.Name, new CampaignSettings { TimeZone = c.TimeZone.Id }, DateTime.UtcNow), file, Say);
        var node = new NodeHost(db, pii, first.Node, configs, options, Say);
        Say($"dialer run: node {first.Node}, campaigns {string.Join(", ", configs.Select(c => $"'{c.Name}'"))}, lease {options.Lease.TotalSeconds:0.#} s; " +
            $"ARI {string.Join(", ", configs.SelectMany(c => c.Telephony.Servers).DistinctBy(s => s.Id).Select(s => $"{s.Id}={s.BaseUri}"))}");
        node.Start();
        try
        {
            using var timer = new PeriodicTimer(statusEvery);
            while (await timer.WaitForNextTickAsync(ct))
                foreach (var (name, run) in node.Running)
                    try
                    {
                        var line = run.Host.Status == EngineStatus.Running
                            ? await run.Host.QueryAsync(e => StatusLine(e, run.Driver, run.Servers), ct)
                            : $"{DateTime.UtcNow:HH:mm:ss} engine FAULTED: {run.Host.Fault} | no new calls; Ctrl+C hangs up and stops";
                        Say(configs.Count == 1 ? line : $"{name}: {line}");
                    }
                    catch (EngineUnavailableException e) { Say($"dialer run: {name}: {e.Message}"); } // it faulted or stopped between two reads
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        Say($"dialer run: stopping: {(options.DrainTimeout > TimeSpan.Zero ? $"calls up finish (up to {options.DrainTimeout.TotalSeconds:0} s), then " : "")}" +
            $"hanging up {node.Running.Sum(r => r.Engine.Driver.LiveCalls)} calls and {node.Running.Sum(r => r.Engine.Driver.AgentsConnected)} agent lines; campaigns handed over");
        await node.DisposeAsync();
        return node.Faulted ? EngineStatus.Faulted : EngineStatus.Stopped;
    }

    /// <summary>The run config's leads CSV enters the campaign through the store's importer, like `dialer leads import`.</summary>
    private static void Import(StoreDb db, Pii pii, CampaignRecord campaign, string file, Action<string> output)
    {
        ImportReport report;
        using (var reader = File.OpenRead(file))
            try { report = new LeadImporter(db, pii).Import(campaign.Id, campaign.Name, reader, DateTime.UtcNow); }
            catch (LeadImportException e) { throw new ConfigException($"leads: {file}: {e.Message}"); }
        output($"dialer run: leads {file}: {report.Rows} rows, accepted {report.Accepted}, merged {report.Merged}, rejected {report.Rejected}");
        foreach (var e in report.Errors.Take(20)) output($"  {Path.GetFileName(file)}:{e.Row}: {e.Field}: {e.Reason}");
        if (report.Errors.Count > 20) output($"  … {report.Errors.Count - 20} more rejected rows");
    }

    /// <summary>One line of live status: dial level, calls in flight, agents by state, abandon rate, ARI health.</summary>
    public static string StatusLine(DialerEngine e, AriDriver driver, IReadOnlyList<AriClient> servers)
    {
        var s = e.State;
        var st = e.Stats;
        var ready = s.Count(AgentState.Ready);
        var trunks = string.Join(" ", Enumerable.Range(0, e.Trunks.Count).Select(t =>
            $"{e.Trunks[t].Name}:{e.Trunks.InUse(t)}{(e.Trunks.IsAvailable(t) ? "" : "(out)")}"));
        var ari = string.Join(" ", servers.Select(c => $"{c.ServerId}:{(c.IsConnected ? "up" : "DOWN")}"));
        return string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:HH:mm:ss} dial level {s.DialLevel:0.00} | in flight {s.InFlight} (ringing {s.Ringing}, waiting {s.Waiting}) | " +
            $"agents ready {ready} talking {s.Count(AgentState.Talking)} wrap {s.Count(AgentState.WrapUp)} paused {s.Count(AgentState.Paused)} " +
            $"out {s.Count(AgentState.LoggedOut)} | placed {st.CallsPlaced} live {st.LiveAnswers} abandoned {st.Abandoned} ({st.AbandonRate:P2}) | " +
            $"trunks {trunks} | ari {ari} | answer→bridge p99 {driver.Stats.AnswerToBridge.Percentile(0.99):0.00} ms");
    }
}
