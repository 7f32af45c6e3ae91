using System.Globalization;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Sim.Config;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary><c>dialer run</c>: the campaign's engine in real time on one or more Asterisk servers and the store, with a live status line.</summary>
public static class AriRunner
{
    /// <summary>Runs until <paramref name="ct"/> (Ctrl+C, SIGTERM), then stops cleanly; returns how the engine ended (faulted or stopped).</summary>
    public static async Task<EngineStatus> RunAsync(RunConfig config, TextWriter output, TimeSpan statusEvery, CancellationToken ct)
    {
        // Every connection is proven before anything is written: the store first, then each ARI server.
        using var db = StoreDb.Open(config.Db);
        foreach (var m in Migrator.Migrate(db)) output.WriteLine($"dialer run: store: applied {m.Name}");
        var pii = config.Pii();
        await CampaignEngine.CheckTelephonyAsync(config.Telephony, TimeSpan.FromSeconds(30), ct);
        var campaigns = new Campaigns(db);
        var record = campaigns.Find(config.Name) ?? campaigns.Create(config.Name, new CampaignSettings { TimeZone = config.TimeZone.Id }, DateTime.UtcNow);
        if (config.LeadsFile is { } file) Import(db, pii, record, file, output);
        var campaign = config.Campaign ?? record.Settings.ToConfig(record.Name);
        var pacer = config.Pacer ?? record.Settings.CreatePacer(1);
        var t = config.Telephony;
        output.WriteLine($"dialer run: campaign '{record.Name}' ({campaigns.Counts(record.Id).Pending} leads pending), pacer {pacer.Name}, {t.Agents.Count} agents, " +
                         $"{t.Trunks.Count} trunks; connecting to ARI {string.Join(", ", t.Servers.Select(s => $"{s.Id}={s.BaseUri}"))}");
        // The database hopper hands out leads only while the campaign is running.
        campaigns.SetStatus(record.Id, CampaignStatus.Running, DateTime.UtcNow);
        try
        {
            await using var run = await CampaignEngine.StartAsync(t, db, pii, record, campaign, pacer, config.Node, m => output.WriteLine(m), TimeSpan.FromSeconds(30), ct);
            var r = run.Reconciled;
            output.WriteLine($"dialer run: recovery: calls adopted (still bridged to an agent) {r.Adopted}, agent lines taken back {run.Driver.Stats.AgentsTakenBack}, " +
                             $"channels hung up (nobody could own them) {r.HungUp}; open attempts closed {r.Attempts.Closed} ({r.Attempts.Abandoned} as abandoned), " +
                             $"leases released {r.Attempts.LeasesReleased}");
            try
            {
                using var timer = new PeriodicTimer(statusEvery);
                while (await timer.WaitForNextTickAsync(ct))
                    output.WriteLine(run.Host.Status == EngineStatus.Running
                        ? await run.Host.QueryAsync(e => StatusLine(e, run.Driver, run.Servers), ct)
                        : $"{DateTime.UtcNow:HH:mm:ss} engine FAULTED: {run.Host.Fault} | no new calls; Ctrl+C hangs up and stops");
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (EngineUnavailableException e) { output.WriteLine($"dialer run: {e.Message}"); } // it faulted between two reads
            output.WriteLine($"dialer run: stopping: hanging up {run.Driver.LiveCalls} calls and {run.Driver.AgentsConnected} agent lines");
            await run.DisposeAsync(); // before the last line: the engine loop has stopped, its state is ours to read
            output.WriteLine(StatusLine(run.Engine, run.Driver, run.Servers));
            output.WriteLine($"dialer run: stopped: {run.Engine.LiveCalls.Count} calls open, {run.Unwritten} attempt writes unwritten, " +
                             $"{run.Host.Failures} loop failures{(run.Host.Status == EngineStatus.Faulted ? $", FAULTED: {run.Host.Fault}" : "")}");
            return run.Host.Status;
        }
        finally
        {
            campaigns.SetStatus(record.Id, CampaignStatus.Stopped, DateTime.UtcNow);
        }
    }

    /// <summary>The run config's leads CSV enters the campaign through the store's importer, like `dialer leads import`.</summary>
    private static void Import(StoreDb db, Pii pii, CampaignRecord campaign, string file, TextWriter output)
    {
        ImportReport report;
        using (var reader = new StreamReader(file))
            try { report = new LeadImporter(db, pii).Import(campaign.Id, campaign.Name, reader, DateTime.UtcNow); }
            catch (LeadImportException e) { throw new ConfigException($"leads: {file}: {e.Message}"); }
        output.WriteLine($"dialer run: leads {file}: {report.Rows} rows, accepted {report.Accepted}, merged {report.Merged}, rejected {report.Rejected}");
        foreach (var e in report.Errors.Take(20)) output.WriteLine($"  {Path.GetFileName(file)}:{e.Row}: {e.Field}: {e.Reason}");
        if (report.Errors.Count > 20) output.WriteLine($"  … {report.Errors.Count - 20} more rejected rows");
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
