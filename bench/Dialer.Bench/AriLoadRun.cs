using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Emulator;
using Dialer.Core.Domain;

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
        var trunk = new TrunkConfig { Name = "carrier-a", Channels = 20_000, CallsPerSecond = CallsPerSecond * 1.2, RatePerMinute = new Dictionary<string, double> { [""] = 0.01 }, Endpoint = "PJSIP/{number}@carrier-a" };
        var phones = Enumerable.Range(1, CallsPerSecond * (Seconds + 5)).Select(i => $"+1{i:0000000000}");
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        await using var rig = await LoadRig.StartAsync(client, new AriDriverOptions { AutoReadyAfter = TimeSpan.FromSeconds(1), RtcpPollEvery = TimeSpan.Zero },
            [trunk], agents: 400, CallsPerSecond, phones, ChannelOwner.Default);
        var (driver, engine) = (rig.Driver, rig.Engine);
        var peak = 0;
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
    }
}
