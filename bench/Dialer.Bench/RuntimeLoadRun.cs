using Dialer.Core.Text;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;
using Dialer.Emulator;
using Dialer.Store;

namespace Dialer.Bench;

/// <summary>
/// Issue 9's runtime figures: the production composition (the engine loop in <see cref="EngineHost"/>, the ARI driver
/// against the emulator on loopback, leads claimed from and every attempt written to PostgreSQL through the
/// <see cref="StoreOutbox"/>) placing <see cref="CallsPerSecond"/> calls a second for <see cref="Seconds"/>. With
/// <see cref="SlowStoreMs"/> &gt; 0 every store transaction is held that much longer (a slow database: the outbox holds
/// placements while its writes lag, answers still have to reach agents). Printed on the console: the loop's own time per
/// event and per tick (p50 / p99 / max, exact), answer → bridge command (p50 / p99, 10 µs bins), calls placed, placements
/// held for the store, attempts written, and the load average (the machine is shared: a loaded machine gives upper bounds).
/// Goals: loop time per event p99 &lt; 50 µs with the store writing at 500 calls/s; answer → bridge p99 ≤ 1 ms with the
/// store slow. Needs DIALER_BENCH_DB, a scratch PostgreSQL database (migrated and filled with a campaign per run).
/// Run: DIALER_BENCH_DB=... dotnet run -c Release --project bench/Dialer.Bench -- --filter '*RuntimeLoadRun*'
/// </summary>
[Config(typeof(OnceInProcess))]
public class RuntimeLoadRun
{
    [Params(30)] public int Seconds { get; set; }
    [Params(500)] public int CallsPerSecond { get; set; }
    [Params(0, 400)] public int SlowStoreMs { get; set; }

    private static readonly byte[] BenchKey = SHA256.HashData("dialer-bench-pii-key"u8);

    /// <summary>
    /// The ARI load run's callees without its 10% congestion (those calls are busy here): the run measures the loop, and a
    /// run of congestion with the answers a loaded machine is slow to bring opened the trunk's circuit breaker (~22 s in),
    /// after which nothing was placed for its 30 s cool-down. Breaker trips are still printed: any other is the rig's trouble.
    /// </summary>
    private static EmulatorScenario Traffic
    {
        get
        {
            var mix = AriLoadRun.Traffic.Mix!;
            mix.Busy += mix.Congestion;
            mix.Congestion = 0;
            return new EmulatorScenario { Mix = mix };
        }
    }

    // One slot per event or tick the loop handles: written by the loop thread only, read after it stopped.
    private readonly long[] _eventTicks = new long[4_000_000], _tickTicks = new long[4_000_000];
    // Per event: its kind, and whether a garbage collection paused the process since the previous event ended (it may have
    // fallen inside this one): where the loop's time goes, the engine's own work or the process's collections.
    private readonly byte[] _eventKind = new byte[4_000_000];
    private readonly bool[] _eventGc = new bool[4_000_000];
    // Per event: the loop thread's CPU time since the previous event or tick was handled (its step, and the dequeue before
    // it): wall time less what the thread spent preempted, on 2 cores shared with PostgreSQL, the emulator and the pool.
    private readonly long[] _eventCpuTicks = new long[4_000_000];
    private long _lastCpuNs;
    private TimeSpan _gcPauses;
    private int _events, _ticks;

    [Benchmark]
    public async Task Soak()
    {
        var conn = Environment.GetEnvironmentVariable("DIALER_BENCH_DB")
            ?? throw new InvalidOperationException("DIALER_BENCH_DB: set it to a scratch PostgreSQL connection string");
        var db = StoreDb.Open(conn);
        Migrator.Migrate(db);
        var pii = new Pii(BenchKey); // one key for every run: the store keeps the key ring of the first
        var start = DateTime.UtcNow;
        // Open all day in UTC, no retries: every lead is dialed once.
        var settings = new CampaignSettings { WindowStart = "00:00", WindowEnd = "23:59", RingTimeoutSeconds = 15, RetryDelaySeconds = new() };
        var campaigns = new Campaigns(db);
        var campaign = campaigns.Create($"load-{Guid.NewGuid():N}", settings, start);
        var csv = new StringBuilder("phone,region,timezone\n");
        for (var i = 0; i < CallsPerSecond * (Seconds + 5); i++) csv.Append("+1212").Append(2_000_000 + i).Append(",US-NY,Etc/UTC\n");
        new LeadImporter(db, pii).Import(campaign.Id, "load", CsvReader.Text(csv.ToString()), start);
        campaigns.SetStatus(campaign.Id, CampaignStatus.Running, start);
        var config = settings.ToConfig(campaign.Name);

        await using var emulator = await AriEmulator.StartAsync(Traffic);
        var client = new AriClient(new AriServerOptions { Id = "pbx1", BaseUri = emulator.BaseUri, User = "dialer", Password = "dialer" });
        var catalog = new SkillCatalog();
        var agents = Enumerable.Range(0, 600).Select(i => new Agent { Index = i, Id = $"agent{i + 1}", Skills = SkillSet.From(catalog, []) }).ToList();
        var trunk = new TrunkConfig { Name = "carrier-a", Channels = 20_000, CallsPerSecond = CallsPerSecond * 1.2, RatePerMinute = new Dictionary<string, double> { [""] = 0.01 }, Endpoint = "PJSIP/{number}@carrier-a" };
        const string node = "bench";
        var owner = new ChannelOwner(node, campaign.Name);
        var attempts = new DbAttemptLog(db, campaign.Id, node);
        var leads = new DbLeadSource(db, pii, campaign.Id, config, node);
        var slow = SlowStoreMs;
        var clock = Stopwatch.StartNew();
        EngineHost? host = null;
        var outbox = new StoreOutbox(leads, attempts, e => host!.PostAsync(e), TimeProvider.System)
        {
            IsOpen = leads.IsRunning, Due = leads.ClaimDue, OnStopped = leads.ReleaseAllLeases, // as CampaignEngine wires it
            // A slow database: each transaction is held open this much longer before it commits.
            Batch = slow > 0 ? work => db.Batch(() => { Thread.Sleep(slow); work(); }) : db.Batch,
        };
        var driver = new AriDriver(new AriDriverOptions { AutoReadyAfter = TimeSpan.FromSeconds(1), RtcpPollEvery = TimeSpan.Zero, Owner = owner }, [client], [trunk], agents,
            e => host!.PostAsync(e))
        {
            // A server or trunk taken out (REST slow on a loaded rig) stops placements, then ramps them up over 30 s: say when.
            Log = line => { if (line.StartsWith("ARI ", StringComparison.Ordinal) || line.StartsWith("trunk ", StringComparison.Ordinal)) Console.WriteLine($"// {clock.Elapsed.TotalSeconds:0.0} s: {line}"); },
        };
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = config, Agents = agents, Trunks = [trunk], Pacer = new FixedRatePacer(CallsPerSecond, seed: 1), Control = driver,
            Leads = outbox, Log = outbox, Predictor = new LoadRig.Flat(), FirstCallId = attempts.ReserveCallIds(), Owner = owner,
        }, start);
        _events = _ticks = 0;
        _lastCpuNs = 0; // a new loop thread: its CPU clock starts afresh
        _gcPauses = GC.GetTotalPauseDuration();
        host = new EngineHost(engine, TimeProvider.System) { Handled = Record };
        await driver.StartAsync();
        outbox.Start();
        using var cts = new CancellationTokenSource();
        var loop = Task.Run(() => host.RunAsync(cts.Token));
        clock.Restart();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var gc0 = GC.CollectionCount(0);
        var load0 = LoadAverage();
        // Calls placed each second: how long the lead supply (prefetch and claim sizes grow with what was placed) takes to ramp up.
        var perSecond = new List<long>(Seconds);
        for (var s = 0; s < Seconds; s++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            perSecond.Add(await host.QueryAsync(e => e.Stats.CallsPlaced));
        }
        var load = LoadAverage();
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        var gcs = GC.CollectionCount(0) - gc0;
        await cts.CancelAsync();
        await loop;
        var elapsed = clock.Elapsed.TotalSeconds;
        var stats = engine.Stats;
        Console.WriteLine($"// runtime load, store {(slow > 0 ? $"slow (+{slow} ms a transaction)" : "PostgreSQL")}: {stats.CallsPlaced} calls placed in {elapsed:0.0} s = {stats.CallsPlaced / elapsed:0}/s " +
                          $"(asked {CallsPerSecond}/s); placements held for the store {stats.PlacementsHeldForStore}; attempts written {outbox.Written}, write failures {outbox.WriteFailures}, backlog {outbox.Backlog}; " +
                          $"connected to agents {stats.Connected}, abandoned {stats.Abandoned}");
        var untouched = Enumerable.Range(0, _events).Where(i => !_eventGc[i]).Select(i => _eventTicks[i]).ToArray();
        var byKind = Enumerable.Range(0, _events).GroupBy(i => (EventKind)_eventKind[i])
            .Select(g => $"{g.Key} {Summary(g.Select(i => _eventTicks[i]).ToArray(), g.Count())}; thread CPU {Summary(g.Select(i => _eventCpuTicks[i]).ToArray(), g.Count())}")
            .ToList(); // before the sorts below
        Console.WriteLine($"// placed per second: {string.Join(' ', perSecond.Select((n, i) => n - (i == 0 ? 0 : perSecond[i - 1])))}");
        Console.WriteLine($"// process CPU {cpu / elapsed:0.00} cores of 2, {cpu * 1e6 / Math.Max(1, stats.CallsPlaced):0} µs a call placed (engine, driver, outbox and " +
                          $"emulator; PostgreSQL's own apart); {gcs} gen0 collections ({gcs / elapsed:0}/s), pauses {_gcPauses.TotalMilliseconds:0} ms; " +
                          $"breaker trips {driver.Stats.BreakerTrips}, place failures {driver.Stats.PlaceFailures}");
        Console.WriteLine($"// loop time per event: {Summary(_eventTicks, _events)}; per tick: {Summary(_tickTicks, _ticks)}");
        Console.WriteLine($"// loop thread CPU per event (since the last step: wall time less preemption): {Summary(_eventCpuTicks, _events)}");
        Console.WriteLine($"// per event with no collection since the last: {Summary(untouched, untouched.Length)}");
        foreach (var k in byKind) Console.WriteLine($"//   {k}");
        Console.WriteLine($"// answer→bridge command p50 {driver.Stats.AnswerToBridge.Percentile(0.5):0.00} ms p99 {driver.Stats.AnswerToBridge.Percentile(0.99):0.00} ms over {driver.Stats.AnswerToBridge.Count}; " +
                          $"load average {load0} at start, {load} at end (2 cores)");
        await driver.StopAsync();
        await outbox.StopAsync(TimeSpan.FromSeconds(10));
        await driver.DisposeAsync();
    }

    private void Record(EventKind? kind, TimeSpan took)
    {
        var cpuNs = ThreadCpuNs();
        var cpuTicks = _lastCpuNs == 0 ? 0 : (cpuNs - _lastCpuNs) / 100;
        _lastCpuNs = cpuNs;
        var pauses = GC.GetTotalPauseDuration();
        var collected = pauses != _gcPauses;
        _gcPauses = pauses;
        if (kind is null) { if (_ticks < _tickTicks.Length) _tickTicks[_ticks++] = took.Ticks; }
        else if (_events < _eventTicks.Length)
        {
            _eventKind[_events] = (byte)kind.Value;
            _eventGc[_events] = collected;
            _eventCpuTicks[_events] = cpuTicks;
            _eventTicks[_events++] = took.Ticks;
        }
    }

    private static long ThreadCpuNs() => ClockGetTime(ThreadCpuTimeClock, out var t) == 0 ? t.Seconds * 1_000_000_000 + t.Nanoseconds : 0;

    private const int ThreadCpuTimeClock = 3; // CLOCK_THREAD_CPUTIME_ID (Linux)

    private readonly struct TimeSpec
    {
        public readonly long Seconds, Nanoseconds;
    }

    // DllImport: blittable arguments need no marshalling code (LibraryImport would need unsafe code for nothing).
    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);

    private static string Summary(long[] ticks, int n)
    {
        if (n == 0) return "none";
        Array.Sort(ticks, 0, n);
        double Us(double q) => ticks[Math.Min(n - 1, (int)(q * n))] / 10.0;
        return $"p50 {Us(0.5):0.0} µs p99 {Us(0.99):0.0} µs p99.9 {Us(0.999):0.0} µs max {ticks[n - 1] / 10.0:0} µs over {n}";
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
