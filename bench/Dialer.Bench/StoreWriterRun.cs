using Dialer.Core.Text;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Store;

namespace Dialer.Bench;

/// <summary>
/// The store writer of one campaign as `dialer run` drives it: the database hopper and attempt log behind a
/// <see cref="StoreOutbox"/>, calls placed at <see cref="CallsPerSecond"/> for <see cref="Seconds"/>, each ended
/// <see cref="CallSeconds"/> later (so its close comes apart from its placement, among later placements, as on a real
/// line), on SQLite or PostgreSQL. Telephony is left out. Printed: writes/s, transactions per call, the outbox worker
/// thread's CPU per write and per call (from /proc/self/task: the thread named store-outbox), the process's CPU per call,
/// and placement → row stored p50 / p99 (what the engine waits before it may originate).
/// PostgreSQL needs DIALER_BENCH_DB; SQLite uses a fresh file. One iteration, in process:
/// dotnet run -c Release --project bench/Dialer.Bench -- --filter '*StoreWriterRun*'
/// </summary>
[Config(typeof(OnceInProcess))]
public class StoreWriterRun
{
    [Params("sqlite", "postgres")] public string Store { get; set; } = "";
    [Params(0, 10, 100)] public int CallsPerSecond { get; set; }
    [Params(20)] public int Seconds { get; set; }
    private const double CallSeconds = 3;
    private static readonly byte[] Key = SHA256.HashData("dialer-bench-pii-key"u8);

    [Benchmark]
    public async Task Soak()
    {
        var sqlite = Path.Combine(Path.GetTempPath(), $"store-writer-{Guid.NewGuid():N}.db");
        using var db = Store == "sqlite" ? StoreDb.Open("sqlite:" + sqlite) : BenchStore.Open();
        Migrator.Migrate(db);
        var start = DateTime.UtcNow;
        var settings = new CampaignSettings { TimeZone = "UTC", WindowStart = "00:00", WindowEnd = "23:59", RetryDelaySeconds = new() };
        var campaigns = new Campaigns(db);
        var campaign = campaigns.Create($"writer-{Guid.NewGuid():N}", settings, start);
        var csv = new StringBuilder("phone,region,timezone\n");
        for (var i = 0; i < CallsPerSecond * (Seconds + 5); i++) csv.Append("+1212").Append(2_000_000 + i).Append(",US-NY,UTC\n");
        new LeadImporter(db, new Pii(Key)).Import(campaign.Id, "load", CsvReader.Text(csv.ToString()), start);
        campaigns.SetStatus(campaign.Id, CampaignStatus.Running, start);
        var config = settings.ToConfig(campaign.Name);
        var log = new DbAttemptLog(db, campaign.Id, "bench");
        var leads = new DbLeadSource(db, new Pii(Key), campaign.Id, config, "bench");
        var placedAt = new ConcurrentDictionary<long, long>();
        var storedUs = new ConcurrentBag<double>();
        var transactions = 0L;
        var outbox = new StoreOutbox(leads, log, e =>
        {
            if (e.Kind == EventKind.AttemptStored && placedAt.TryRemove(e.CallId, out var t)) storedUs.Add(Stopwatch.GetElapsedTime(t).TotalMicroseconds);
            return ValueTask.CompletedTask;
        }, TimeProvider.System)
        {
            IsOpen = leads.IsRunning, Due = leads.ClaimDue, OnStopped = leads.ReleaseAllLeases, // as CampaignEngine wires it
            Batch = work =>
            {
                Interlocked.Increment(ref transactions);
                db.Batch(work);
            },
        };
        outbox.Start();
        var next = log.ReserveCallIds();
        var ending = new Queue<(double At, Call Call)>();
        await Task.Delay(500); // the first prefetch
        var (worker0, self0, tx0, written0) = (WorkerCpu(), Process.GetCurrentProcess().TotalProcessorTime, Interlocked.Read(ref transactions), outbox.Written);
        var clock = Stopwatch.StartNew();
        long placed = 0, held = 0;
        while (clock.Elapsed.TotalSeconds < Seconds)
        {
            var now = clock.Elapsed.TotalSeconds;
            while (ending.TryPeek(out var e) && e.At <= now)
            {
                ending.Dequeue();
                var utc = DateTime.UtcNow;
                e.Call.EndedAt = utc;
                e.Call.Outcome = CallOutcome.NoAnswer;
                e.Call.Cause = 19;
                outbox.Finished(e.Call);
                outbox.Finished(e.Call.Lead, CallOutcome.NoAnswer, utc);
            }
            if (placed >= now * CallsPerSecond)
            {
                await Task.Delay(1);
                continue;
            }
            if (!outbox.Accepting || outbox.Next(DateTime.UtcNow) is not { } lead)
            {
                held++;
                await Task.Delay(1);
                continue;
            }
            lead.Attempts++;
            var call = new Call { Id = next++, Lead = lead, Attempt = lead.Attempts, Trunk = 0, PlacedAt = DateTime.UtcNow, PLive = 0.3f };
            placedAt[call.Id] = Stopwatch.GetTimestamp();
            outbox.Placed(call);
            ending.Enqueue((now + CallSeconds, call));
            placed++;
        }
        var elapsed = clock.Elapsed.TotalSeconds;
        var (worker1, self1, tx1, written1) = (WorkerCpu(), Process.GetCurrentProcess().TotalProcessorTime, Interlocked.Read(ref transactions), outbox.Written);
        var unwritten = await outbox.StopAsync(TimeSpan.FromSeconds(60));
        var writes = Math.Max(1, written1 - written0);
        placed = Math.Max(1, placed); // asked 0 (the idle worker's cost): per-call figures read per second
        var stored = storedUs.OrderBy(x => x).ToArray();
        double P(double q) => stored.Length == 0 ? double.NaN : stored[Math.Min(stored.Length - 1, (int)(q * stored.Length))] / 1000;
        Console.WriteLine($"// store writer, {Store}, asked {CallsPerSecond} calls/s: {placed} calls in {elapsed:0.0} s ({placed / elapsed:0.0}/s), " +
                          $"{writes} writes = {writes / elapsed:0} writes/s, {(tx1 - tx0) / (double)placed:0.00} transactions per call ({(double)writes / Math.Max(1, tx1 - tx0):0.0} writes each); " +
                          $"outbox worker CPU {(worker1 - worker0).TotalMilliseconds / writes * 1000:0} us per write, {(worker1 - worker0).TotalMilliseconds / placed:0.00} ms per call, " +
                          $"{(worker1 - worker0).TotalMilliseconds / elapsed:0.0} ms/s; process {(self1 - self0).TotalMilliseconds / placed:0.00} ms per call; " +
                          $"placed -> stored p50 {P(0.5):0.00} ms, p99 {P(0.99):0.00} ms; held {held}; unwritten at stop {unwritten}; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        if (Store == "sqlite")
            foreach (var f in new[] { sqlite, sqlite + "-wal", sqlite + "-shm" }) File.Delete(f);
    }

    /// <summary>User + system CPU of this process's thread named store-outbox (/proc/self/task/TID/stat, USER_HZ ticks).</summary>
    private static TimeSpan WorkerCpu()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            string text;
            try { text = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (IOException) { continue; }
            var open = text.IndexOf('(');
            var close = text.LastIndexOf(')');
            if (text[(open + 1)..close] != "store-outbox") continue;
            var f = text[(close + 2)..].Split(' '); // f[0] is field 3
            return TimeSpan.FromSeconds((long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture)) / 100.0);
        }
        return TimeSpan.Zero;
    }
}
