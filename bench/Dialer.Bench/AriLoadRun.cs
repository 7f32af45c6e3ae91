using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Emulator;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;

namespace Dialer.Bench;

/// <summary>
/// End-to-end load: the real-time engine and the ARI driver place calls at a fixed rate against the emulator
/// (same process, loopback HTTP + WebSocket) for <see cref="Seconds"/>. Reported on the console: calls placed,
/// originations/s, peak concurrent calls, process CPU (engine, driver and emulator together) and the
/// answer→bridge-command latency inside the engine. One iteration: it is a soak run, not a micro-benchmark.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*AriLoadRun*'
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 0, iterationCount: 1)]
public class AriLoadRun
{
    [Params(60)] public int Seconds { get; set; }
    [Params(550)] public int CallsPerSecond { get; set; }

    /// <summary>Most calls ring out (15 s), so concurrency builds to rate × ring time; a tenth are humans for the agents.</summary>
    internal static EmulatorScenario Traffic => new()
    {
        Mix = new CalleeMix { Human = 0.1, NoAnswer = 0.7, Busy = 0.1, Congestion = 0.1, Machine = 0, BadNumber = 0, RingMinSeconds = 2, RingMaxSeconds = 6, TalkMinSeconds = 3, TalkMaxSeconds = 8 },
    };

    [Benchmark]
    public async Task Soak()
    {
        await using var emulator = await AriEmulator.StartAsync(Traffic);
        var client = new AriClient(new AriServerOptions { Id = "pbx1", BaseUri = emulator.BaseUri, User = "dialer", Password = "dialer" });
        var campaign = new CampaignConfig { Name = "load", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, RingTimeoutSeconds = 15, RetryDelaySeconds = new Dictionary<CallOutcome, double>() };
        var catalog = new SkillCatalog();
        var agents = Enumerable.Range(0, 400).Select(i => new Agent { Index = i, Id = $"agent{i + 1}", Skills = SkillSet.From(catalog, []) }).ToList();
        var start = DateTime.UtcNow;
        var leads = Enumerable.Range(1, CallsPerSecond * (Seconds + 5)).Select(i => new Lead { Id = i, Phone = $"+1{i:0000000000}", Region = "load", TimeZone = TimeZoneInfo.Utc });
        var trunk = new TrunkConfig { Name = "carrier-a", Channels = 20_000, CallsPerSecond = CallsPerSecond * 1.2, RatePerMinute = new Dictionary<string, double> { [""] = 0.01 }, Endpoint = "PJSIP/{number}@carrier-a" };
        EngineHost? host = null;
        var driver = new AriDriver(new AriDriverOptions { AutoReadyAfter = TimeSpan.FromSeconds(1), RtcpPollEvery = TimeSpan.Zero }, [client], [trunk], agents,
            e => host!.PostAsync(e));
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = agents, Trunks = [trunk], Pacer = new FixedRatePacer(CallsPerSecond, seed: 1), Control = driver,
            Leads = new MemoryHopper(campaign, leads, start), Predictor = new Flat(),
        }, start);
        host = new EngineHost(engine, TimeProvider.System);
        await driver.StartAsync();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        using var cts = new CancellationTokenSource();
        var loop = Task.Run(() => host.RunAsync(cts.Token));
        var peak = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(Seconds))
        {
            await Task.Delay(500);
            peak = Math.Max(peak, driver.LiveCalls);
        }
        var placed = engine.Stats.CallsPlaced; // read racily for the report only
        var elapsed = clock.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        Console.WriteLine($"// ARI load: {placed} calls placed in {elapsed:0.0} s = {placed / elapsed:0} originations/s; peak {peak} concurrent calls; " +
                          $"driver placed {driver.Stats.Placed}, place failures {driver.Stats.PlaceFailures}, answered {driver.Stats.Answered}; " +
                          $"agents on line {driver.AgentsConnected}, connected to agents {engine.Stats.Connected}, abandoned {engine.Stats.Abandoned}; " +
                          $"events received {client.EventStats.Received}, dropped {client.EventStats.Dropped}; " +
                          $"process CPU {cpu:0.0} s = {cpu / elapsed * 100:0}% of one core (engine + driver + emulator); " +
                          $"answer→bridge command p50 {driver.Stats.AnswerToBridge.Percentile(0.5):0.00} ms p99 {driver.Stats.AnswerToBridge.Percentile(0.99):0.00} ms over {driver.Stats.AnswerToBridge.Count}");
        await cts.CancelAsync();
        try { await loop; }
        catch (OperationCanceledException) { }
        await driver.StopAsync();
        await driver.DisposeAsync();
    }

    /// <summary>Every lead the same live chance: the load runs measure the runtime, not the predictor.</summary>
    internal sealed class Flat : IAnswerPredictor
    {
        public float PredictLive(Lead lead, DateTime utcNow) => 0.1f;
        public void Observe(Lead lead, DateTime placedUtc, bool live) { }
    }
}
