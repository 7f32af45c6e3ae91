using Dapper;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;
using Dialer.Sim;

namespace Dialer.Store.Tests;

/// <summary>
/// A campaign run in its own process for the crash test: the simulator as the telephony world (callees, agents,
/// carriers in virtual time) on the database hopper and attempt log. Virtual time goes a minute per slice with
/// a real pause between slices, so the test can kill it mid-campaign; it prints "placed CHANNEL" as each
/// attempt row is written. On start it reconciles what an earlier run of the node left open and resumes a minute
/// after the last thing that run wrote (time moves on while a node is down).
/// Usage: crash-worker DB CAMPAIGN_ID NODE SCENARIO_FILE REAL_MS_PER_MINUTE  (DIALER_PII_KEY set)
/// </summary>
public static class CrashWorker
{
    public static int Main(string[] args)
    {
        if (args.Length != 6 || args[0] != "crash-worker") { Console.Error.WriteLine("usage: crash-worker DB CAMPAIGN NODE SCENARIO MS_PER_MINUTE"); return 2; }
        using var db = StoreDb.Open(args[1]);
        var campaignId = long.Parse(args[2]);
        var node = args[3];
        var scenario = Scenario.Load(args[4]);
        var sleep = int.Parse(args[5]);
        var pii = Pii.FromConfig(null);

        var log = new DbAttemptLog(db, campaignId, node);
        DateTime? resumeAt;
        using (var c = db.Connect())
            resumeAt = c.ExecuteScalar<long?>("SELECT MAX(COALESCE(ended_at, placed_at)) FROM attempts WHERE campaign_id = @campaignId", new { campaignId })
                is { } last ? DateTimeOffset.FromUnixTimeMilliseconds(last).UtcDateTime.AddMinutes(1) : null;
        if (resumeAt is { } at)
        {
            // No call outlives the simulator's process: every channel the dead run left open is gone.
            var r = log.Reconcile(new HashSet<string>(), scenario.Campaign, at);
            Console.WriteLine($"reconciled closed={r.Closed} live={r.StillLive.Count} released={r.LeasesReleased}");
        }
        log.Written += (call, ended) => { if (!ended) Console.WriteLine($"placed {call.ChannelId}"); };
        const ulong seed = 1;
        var world = new SimWorld(scenario, seed, Pacers.Create("predictive", scenario.Vicidial, scenario.Predictive, seed), new RateTable(perRegionHour: true), log,
            leadSource: (_, _) => new DbLeadSource(db, pii, campaignId, scenario.Campaign, node), firstCallId: log.ReserveCallIds(), resumeAt: resumeAt);
        for (var t = world.Start; t < world.End; t = t.AddMinutes(1))
        {
            world.RunUntil(t);
            if (sleep > 0) Thread.Sleep(sleep);
        }
        world.Finish();
        Console.WriteLine("done");
        return 0;
    }
}
