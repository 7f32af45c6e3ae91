using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Hosting;
using Dialer.Store;

namespace Dialer.Bench;

/// <summary>
/// The cluster's database load: <see cref="Campaigns"/> campaigns, each as its owning node runs it (the database hopper and
/// attempt log behind a <see cref="StoreOutbox"/>, the same write path and back-pressure), placing calls as fast as the
/// store takes them for <see cref="Seconds"/> on one PostgreSQL. Telephony is left out (a call ends as soon as it is
/// placed), so the rate is the store's ceiling for the whole cluster. Reported on the console: calls/s sustained (the
/// outbox holds placements once a write waits over 250 ms), transactions and row writes per call placed (from
/// pg_stat_database and pg_stat_user_tables) and the statements per call the code issues.
/// Needs DIALER_BENCH_DB (a scratch PostgreSQL database: it is migrated and filled).
/// One iteration, in process (it is a soak run, not a micro-benchmark, and needs no separate build):
/// dotnet run -c Release --project bench/Dialer.Bench -- --filter '*ClusterStoreLoadRun*' --inProcess --strategy Monitoring --launchCount 1 --warmupCount 0 --iterationCount 1
/// </summary>
public class ClusterStoreLoadRun
{
    [Params(3)] public int Campaigns { get; set; }
    [Params(15)] public int Seconds { get; set; }
    private const int LeadsPerCampaign = 40_000;
    private StoreDb _db = null!;
    private Pii _pii = null!;
    private readonly List<long> _campaigns = [];

    [GlobalSetup]
    public void Setup()
    {
        _db = BenchStore.Open();
        _pii = new Pii(RandomNumberGenerator.GetBytes(32));
        var campaigns = new Store.Campaigns(_db);
        for (var k = 0; k < Campaigns; k++)
        {
            var id = campaigns.Create($"load-{Guid.NewGuid():N}", new CampaignSettings { TimeZone = "UTC" }, DateTime.UtcNow).Id;
            campaigns.SetStatus(id, CampaignStatus.Running, DateTime.UtcNow);
            var csv = new StringBuilder("phone,region,timezone\n");
            for (var i = 0; i < LeadsPerCampaign; i++) csv.Append("+86139").Append(k).Append(i.ToString("D7")).Append(",CN,UTC\n");
            new LeadImporter(_db, _pii).Import(id, "load", new StringReader(csv.ToString()), DateTime.UtcNow);
            _campaigns.Add(id);
        }
    }

    [Benchmark]
    public async Task Soak()
    {
        var config = new CampaignSettings { TimeZone = "UTC", WindowStart = "00:00", WindowEnd = "23:59" }.ToConfig("load");
        var (tx0, rows0) = Stats();
        var placed = 0L;
        var held = 0L;
        var unwritten = 0L;
        var clock = Stopwatch.StartNew();
        var runs = _campaigns.Select((id, k) => Task.Run(async () =>
        {
            var log = new DbAttemptLog(_db, id, $"node-{k}");
            var leads = new DbLeadSource(_db, _pii, id, config, $"node-{k}");
            var outbox = new StoreOutbox(leads, log, _ => ValueTask.CompletedTask, TimeProvider.System)
            {
                IsOpen = leads.IsRunning, Due = leads.ClaimDue, Batch = _db.Batch, OnStopped = leads.ReleaseLeases,
            };
            outbox.Start();
            var next = log.ReserveCallIds();
            while (clock.Elapsed < TimeSpan.FromSeconds(Seconds))
            {
                var now = DateTime.UtcNow;
                if (!outbox.Accepting || outbox.Next(now) is not { } lead)
                {
                    Interlocked.Increment(ref held);
                    await Task.Delay(1);
                    continue;
                }
                lead.Attempts++;
                var call = new Call { Id = next++, Lead = lead, Attempt = lead.Attempts, Trunk = 0, PlacedAt = now, PLive = 0.3f };
                outbox.Placed(call);
                call.EndedAt = now;
                call.Outcome = CallOutcome.NoAnswer;
                outbox.Finished(call);
                outbox.Finished(lead, CallOutcome.NoAnswer, now);
                Interlocked.Increment(ref placed);
            }
            try { Interlocked.Add(ref unwritten, await outbox.StopAsync(TimeSpan.FromSeconds(120))); }
            catch (TimeoutException) { Interlocked.Add(ref unwritten, outbox.Backlog); } // reported, not thrown: the figure is the rate
        })).ToArray();
        await Task.WhenAll(runs);
        var elapsed = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(2)); // PostgreSQL flushes its statistics within a second of a backend going idle
        var (tx1, rows1) = Stats();
        Console.WriteLine($"// cluster store load: {Campaigns} campaigns on one PostgreSQL, {placed} calls in {elapsed:0.0} s = {placed / elapsed:0} calls/s sustained; " +
                          $"{(tx1 - tx0) / (double)placed:0.000} transactions and {(rows1 - rows0) / (double)placed:0.00} row writes per call; " +
                          $"placements held {held} times (store behind or prefetch empty); {unwritten} writes not flushed at the end");
    }

    private (long Transactions, long RowWrites) Stats()
    {
        using var c = _db.Connect();
        return (c.ExecuteScalar<long>("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"),
                c.ExecuteScalar<long>("SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"));
    }

    [GlobalCleanup]
    public void Cleanup() => _db.Dispose();
}
