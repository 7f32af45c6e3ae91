using Dialer.Core.Text;
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
/// attempt log behind a <see cref="StoreOutbox"/>, the same write path, back-pressure and ownership fence), placing calls
/// at <see cref="CallsPerSecond"/> for the whole cluster (0: as fast as the store takes them) for <see cref="Seconds"/> on
/// one PostgreSQL. Telephony is left out (a call ends as soon as it is placed), so the highest rate kept is the store's
/// ceiling for the whole cluster. Reported on the console: calls/s sustained against the rate asked (the outbox holds
/// placements once a write waits over 250 ms), transactions and row writes per call placed (from pg_stat_database and
/// pg_stat_user_tables), and the statements per call the code sent (counted from Npgsql's command activities).
/// Needs DIALER_BENCH_DB (a scratch PostgreSQL database: it is migrated and filled).
/// One iteration, in process (it is a soak run, not a micro-benchmark, and needs no separate build):
/// dotnet run -c Release --project bench/Dialer.Bench -- --filter '*ClusterStoreLoadRun*' --inProcess --strategy Monitoring --launchCount 1 --warmupCount 0 --iterationCount 1
/// </summary>
public class ClusterStoreLoadRun
{
    [Params(3)] public int Campaigns { get; set; }
    [Params(15)] public int Seconds { get; set; }
    [Params(50, 100, 200, 400, 0)] public int CallsPerSecond { get; set; }
    private const int LeadsPerCampaign = 10_000;
    private StoreDb _db = null!;
    private Pii _pii = null!;
    private readonly List<long> _campaigns = [];
    // One key for every rate of the run: the store keeps the check of the first key that set it up.
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);

    [GlobalSetup]
    public void Setup()
    {
        _db = BenchStore.Open();
        _pii = new Pii(Key);
        var campaigns = new Store.Campaigns(_db);
        for (var k = 0; k < Campaigns; k++)
        {
            var id = campaigns.Create($"load-{Guid.NewGuid():N}", new CampaignSettings { TimeZone = "UTC" }, DateTime.UtcNow).Id;
            campaigns.SetStatus(id, CampaignStatus.Running, DateTime.UtcNow);
            var csv = new StringBuilder("phone,region,timezone\n");
            for (var i = 0; i < LeadsPerCampaign; i++) csv.Append("+86139").Append(k).Append(i.ToString("D7")).Append(",CN,UTC\n");
            new LeadImporter(_db, _pii).Import(id, "load", CsvReader.Text(csv.ToString()), DateTime.UtcNow);
            _campaigns.Add(id);
            new CampaignOwnership(_db, $"node-{k}").TryAcquire(id, TimeSpan.FromHours(1), DateTime.UtcNow);
        }
    }

    [Benchmark]
    public async Task Soak()
    {
        var config = new CampaignSettings { TimeZone = "UTC", WindowStart = "00:00", WindowEnd = "23:59" }.ToConfig("load");
        var (tx0, rows0) = Stats();
        var (pg0, self0) = (PostgresCpu(), Process.GetCurrentProcess().TotalProcessorTime);
        long statements = 0;
        using var counter = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.PropagationData,
            ActivityStarted = _ => Interlocked.Increment(ref statements),
        };
        ActivitySource.AddActivityListener(counter);
        var placed = 0L;
        var held = 0L;
        var unwritten = 0L;
        var clock = Stopwatch.StartNew();
        var runs = _campaigns.Select((id, k) => Task.Run(async () =>
        {
            // Each campaign under its owner's fence, as NodeHost runs it: one share-locked check per transaction.
            var fence = new CampaignFence(id, 1);
            var log = new DbAttemptLog(_db, id, $"node-{k}") { Fence = fence };
            var leads = new DbLeadSource(_db, _pii, id, config, $"node-{k}") { Fence = fence };
            var outbox = new StoreOutbox(leads, log, _ => ValueTask.CompletedTask, TimeProvider.System)
            {
                IsOpen = leads.IsRunning, Due = leads.ClaimDue, Batch = _db.Batch, OnStopped = leads.ReleaseLeases,
            };
            outbox.Start();
            var next = log.ReserveCallIds();
            var mine = 0L;
            var perSecond = CallsPerSecond / (double)Campaigns;
            while (clock.Elapsed < TimeSpan.FromSeconds(Seconds))
            {
                if (perSecond > 0 && mine >= clock.Elapsed.TotalSeconds * perSecond)
                {
                    await Task.Delay(1); // ahead of the rate asked
                    continue;
                }
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
                mine++;
            }
            try { Interlocked.Add(ref unwritten, await outbox.StopAsync(TimeSpan.FromSeconds(120))); }
            catch (TimeoutException) { Interlocked.Add(ref unwritten, outbox.Backlog); } // reported, not thrown: the figure is the rate
        })).ToArray();
        await Task.WhenAll(runs);
        var elapsed = clock.Elapsed.TotalSeconds;
        var sent = Interlocked.Read(ref statements);
        var (pg1, self1) = (PostgresCpu(), Process.GetCurrentProcess().TotalProcessorTime);
        await Task.Delay(TimeSpan.FromSeconds(2)); // PostgreSQL flushes its statistics within a second of a backend going idle
        var (tx1, rows1) = Stats();
        Console.WriteLine($"// cluster store load: {Campaigns} campaigns on one PostgreSQL, asked {(CallsPerSecond == 0 ? "as fast as it goes" : $"{CallsPerSecond} calls/s")}: " +
                          $"{placed} calls in {elapsed:0.0} s = {placed / elapsed:0} calls/s sustained; {sent / (double)placed:0.00} statements, " +
                          $"{(tx1 - tx0) / (double)placed:0.000} transactions and {(rows1 - rows0) / (double)placed:0.00} row writes per call; " +
                          $"CPU per call: PostgreSQL {(pg1 - pg0).TotalMilliseconds / placed:0.00} ms, the nodes' store path {(self1 - self0).TotalMilliseconds / placed:0.00} ms; " +
                          $"placements held {held} times (store behind or prefetch empty); {unwritten} writes not flushed at the end; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
    }

    /// <summary>
    /// CPU time of the PostgreSQL server the bench writes to, when it runs on this machine: its postmaster's children (the
    /// backends, WAL writer, checkpointer) from /proc, so the figure holds whatever else loads the cores. Zero if not local.
    /// </summary>
    private TimeSpan PostgresCpu()
    {
        using var c = _db.Connect();
        var backend = c.ExecuteScalar<int>("SELECT pg_backend_pid()");
        if (!File.Exists($"/proc/{backend}/stat")) return TimeSpan.Zero;
        var postmaster = Stat(backend).Parent;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Stat(pid) is { Parent: var parent, Ticks: var t } && parent == postmaster) ticks += t;
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ
    }

    /// <summary>A process's parent and its user + system CPU ticks (/proc/PID/stat fields 4, 14, 15); zeros if it is gone.</summary>
    private static (int Parent, long Ticks) Stat(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return (0, 0); }
        var f = text[(text.LastIndexOf(')') + 2)..].Split(' '); // after "pid (comm) ": f[0] is field 3
        return (int.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture),
                long.Parse(f[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(f[12], System.Globalization.CultureInfo.InvariantCulture));
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
