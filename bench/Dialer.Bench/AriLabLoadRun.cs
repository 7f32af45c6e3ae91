using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.NoEmit;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;

namespace Dialer.Bench;

/// <summary>
/// Load on a real, already running Asterisk (issue 11): the engine and the ARI driver place calls with AMD at each rate of
/// DIALER_LOAD_RATES for DIALER_LOAD_SECONDS through carrier-a/carrier-b, whose far ends must be sipp running
/// tests/Dialer.RealAsterisk.Tests/sipp/carrier-uas.xml (the number's prefix says what the callee does). It never starts or
/// builds Asterisk: without DIALER_ARI_URL it says so and returns. One line per rate (and a Markdown table at the end):
/// calls placed and lost, peak channels on Asterisk (GET /channels), CPU per call of this process (engine + driver) and of
/// Asterisk (utime + stime of DIALER_ASTERISK_PID or the pid in DIALER_ASTERISK_PID_FILE, from /proc/PID/stat) and their
/// ratio, events per call, originate → first channel event and verdict → bridge p50/p95 on Asterisk's own timestamps.
/// Lost = a call placed but never followed to its end (refused originate, failed command, ended only by reconciliation,
/// events dropped); calls still up 30 s after the last placement (every lab callee ends within that) and our channels still on Asterisk
/// once the stop returned are shown beside it. Agents' phones: DIALER_LOAD_AGENT_PHONES (default PJSIP/agent1..3, each answers many calls).
/// With DIALER_AST_CLI (a command that runs one Asterisk CLI command given as its last argument) also Asterisk's tasks per
/// call on the app's event queue (taskprocessor stasis/m:ari:application/&lt;app&gt;: what backs up into late events).
/// A rate of 0 places no call: the engine's fixed cost with its agents connected (the "ms CPU/s" columns).
/// DIALER_LOAD_LOG=1 prints the driver's diagnostics (trunks in and out, failed commands) as they happen.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*AriLabLoadRun*' (it runs in-process, once)
/// </summary>
[Config(typeof(OneShotInProcess))]
public class AriLabLoadRun
{
    /// <summary>One run, in this process (no separate build: the run needs the lab's environment and takes minutes).</summary>
    private sealed class OneShotInProcess : ManualConfig
    {
        public OneShotInProcess() => AddJob(Job.Dry.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(0).WithIterationCount(1)
            .WithToolchain(InProcessNoEmitToolchain.Instance));
    }

    [Benchmark]
    public async Task RealAsterisk()
    {
        if (Environment.GetEnvironmentVariable("DIALER_ARI_URL") is not { Length: > 0 } url)
        {
            Console.WriteLine("// ARI lab load: skipped: set DIALER_ARI_URL (and DIALER_ASTERISK_PID or DIALER_ASTERISK_PID_FILE) to a running Asterisk");
            return;
        }
        var rates = (Environment.GetEnvironmentVariable("DIALER_LOAD_RATES") ?? "5,10,20").Split(',').Select(r => double.Parse(r, CultureInfo.InvariantCulture)).ToList();
        var seconds = int.Parse(Environment.GetEnvironmentVariable("DIALER_LOAD_SECONDS") ?? "40", CultureInfo.InvariantCulture);
        var agents = int.Parse(Environment.GetEnvironmentVariable("DIALER_LOAD_AGENTS") ?? "60", CultureInfo.InvariantCulture);
        var phones = (Environment.GetEnvironmentVariable("DIALER_LOAD_AGENT_PHONES") ?? "PJSIP/agent1,PJSIP/agent2,PJSIP/agent3").Split(',');
        var rows = new List<string>();
        foreach (var rate in rates) rows.Add(await RunAt(new Uri(url.EndsWith('/') ? url : url + "/"), rate, seconds, agents, phones));
        Console.WriteLine("// | calls/s asked | placed | lost | up 30 s after / after stop | abandoned | peak channels | engine ms CPU/s | Asterisk ms CPU/s | engine ms CPU/call | Asterisk ms CPU/call | engine/Asterisk | events/call | app-queue tasks/call | originate→channel p50/p95 ms | verdict→bridge p50/p95 ms |");
        Console.WriteLine("// |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var row in rows) Console.WriteLine("// " + row);
    }

    private static async Task<string> RunAt(Uri ari, double rate, int seconds, int agents, string[] agentPhones)
    {
        var client = new AriClient(new AriServerOptions
        {
            Id = "pbx1", BaseUri = ari, User = Environment.GetEnvironmentVariable("DIALER_ARI_USER") ?? "dialer",
            Password = Environment.GetEnvironmentVariable("DIALER_ARI_PASSWORD") ?? "dialer", App = Environment.GetEnvironmentVariable("DIALER_ARI_APP") ?? "dialer",
        });
        await using var probe = new AriClient(client.Options with { Id = "probe" });
        var trunks = new[] { "carrier-a", "carrier-b" }.Select((t, i) => new TrunkConfig
        {
            Name = t, Channels = 2_000, CallsPerSecond = Math.Max(rate * 1.5, 1), RatePerMinute = new Dictionary<string, double> { [""] = 0.01 * (i + 1) }, Endpoint = $"PJSIP/{{number}}@{t}",
        }).ToList();
        var options = new AriDriverOptions
        {
            Amd = true, AutoReadyAfter = TimeSpan.FromSeconds(1),
            AgentEndpoints = Enumerable.Range(1, agents).ToDictionary(i => $"agent{i}", i => agentPhones[(i - 1) % agentPhones.Length]),
        };
        var owner = new ChannelOwner($"load{Environment.ProcessId}r{rate:0}", "load");
        await using var rig = await LoadRig.StartAsync(client, options, trunks, agents, rate, Numbers((int)(rate * (seconds + 20))), owner);
        if (Environment.GetEnvironmentVariable("DIALER_LOAD_LOG") == "1") rig.Driver.Log = m => Console.WriteLine($"// driver {DateTime.UtcNow:HH:mm:ss.fff} {m}");
        await WaitUntil(() => rig.Driver.AgentsConnected == agents, TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(10)); // warm-up: the first calls of a process pay for JIT, which is no per-call cost

        var asterisk = AsteriskPid();
        var engineCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var asteriskCpu0 = CpuSeconds(asterisk);
        var events0 = client.EventStats.Received;
        var tasks0 = await AppQueueTasks(client.Options.App);
        var placed0 = rig.Engine.Stats.CallsPlaced; // read racily: for the report only
        var ticks0 = rig.Host.StepMicros[0].Sum();
        var steps0 = rig.Host.StepMicros[1].Sum();
        var clock = Stopwatch.StartNew();
        var peak = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            await Task.Delay(2000);
            try { peak = Math.Max(peak, (await probe.ListChannelsAsync()).Length); }
            catch (AriException) { } // a missed sample only
        }
        var placed = rig.Engine.Stats.CallsPlaced - placed0;
        var ticks = rig.Host.StepMicros[0].Sum() - ticks0;
        var steps = rig.Host.StepMicros[1].Sum() - steps0;
        var elapsed = clock.Elapsed.TotalSeconds;
        var engineCpu = (Process.GetCurrentProcess().TotalProcessorTime - engineCpu0).TotalSeconds;
        var asteriskCpu = CpuSeconds(asterisk) - asteriskCpu0;
        var events = client.EventStats.Received - events0;
        var tasks = await AppQueueTasks(client.Options.App) - tasks0;
        // No new call; what is still up ends by itself (15 s ring, 6 s talk) before the stop, so that every end is Asterisk's.
        rig.StopDialing();
        var draining = Stopwatch.StartNew();
        while (rig.Driver.LiveCalls > 0 && draining.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(200);
        var s = rig.Driver.Stats;
        var lost = s.PlaceFailures + s.CommandFailures + s.ReconciledEnds + client.EventStats.Dropped;
        var leftUp = rig.Driver.LiveCalls; // should be 0: every call ends by itself within 30 s (hung up and closed at stop otherwise)
        await rig.DisposeAsync(); // the stop, now: what it leaves behind is counted
        var leftAfterStop = -1; // our channels (calls and agent lines) Asterisk still has once the stop returned: should be 0
        try { leftAfterStop = (await probe.ListChannelsAsync()).Count(c => owner.Owns(c.Id)); }
        catch (AriException) { } // not known: shown as -1
        var engineMs = placed > 0 ? engineCpu * 1000 / placed : 0;
        var asteriskMs = placed > 0 && asterisk > 0 ? asteriskCpu * 1000 / placed : double.NaN;
        Console.WriteLine($"// ARI lab load at {rate} calls/s asked: {placed} placed in {elapsed:0} s = {placed / elapsed:0.0}/s, lost {lost} (refused {s.PlaceFailures}, " +
                          $"failed commands {s.CommandFailures}, ended by reconciliation {s.ReconciledEnds}, events dropped {client.EventStats.Dropped}), still up 30 s after the last placement {leftUp}, ours on Asterisk after the stop {leftAfterStop}; " +
                          $"answered {s.Answered}, to agents {rig.Engine.Stats.Connected}, abandoned {rig.Engine.Stats.Abandoned}; peak {peak} channels on Asterisk; " +
                          $"engine ticks {ticks / seconds:0.0}/s, events {steps / seconds:0.0}/s; CPU engine {engineCpu:0.00} s = {engineCpu * 1000 / elapsed:0.0} ms/s = {engineMs:0.00} ms/call, Asterisk {asteriskCpu:0.00} s = {asteriskCpu * 1000 / elapsed:0.0} ms/s = {asteriskMs:0.00} ms/call, ratio {engineMs / asteriskMs:0.00}; " +
                          $"{(double)events / Math.Max(1, placed):0.0} events/call, {tasks / Math.Max(1, placed):0.0} app-queue tasks/call; originate→channel p50 {s.OriginateToChannel.Percentile(0.5):0} p95 {s.OriginateToChannel.Percentile(0.95):0} ms; " +
                          $"verdict→bridge p50 {s.VerdictToBridge.Percentile(0.5):0} p95 {s.VerdictToBridge.Percentile(0.95):0} ms over {s.VerdictToBridge.Count}");
        return $"| {rate:0.#} | {placed} ({placed / elapsed:0.0}/s) | {lost} | {leftUp} / {leftAfterStop} | {rig.Engine.Stats.Abandoned} | {peak} | {engineCpu * 1000 / elapsed:0.0} | {asteriskCpu * 1000 / elapsed:0.0} | {engineMs:0.00} | {asteriskMs:0.00} | {engineMs / asteriskMs:0.00} | " +
               $"{(double)events / Math.Max(1, placed):0.0} | {tasks / Math.Max(1, placed):0.0} | {s.OriginateToChannel.Percentile(0.5):0} / {s.OriginateToChannel.Percentile(0.95):0} | {s.VerdictToBridge.Percentile(0.5):0} / {s.VerdictToBridge.Percentile(0.95):0} |";
    }

    /// <summary>The lab carriers' behaviours by prefix, mixed: 30 % hello (AMD human, talks 6 s), 20 % long greeting (machine), 25 % busy, 10 % 503, 15 % ring out.</summary>
    private static IEnumerable<string> Numbers(int count)
    {
        string[] prefixes = ["6", "6", "6", "8", "8", "486", "486", "503", "180", "486", "6", "8", "486", "180", "503", "6", "180", "486", "8", "6"];
        for (var i = 0; i < count; i++) yield return prefixes[i % prefixes.Length] + i.ToString("000000", CultureInfo.InvariantCulture);
    }

    private static async Task WaitUntil(Func<bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!done() && clock.Elapsed < timeout) await Task.Delay(100);
    }

    /// <summary>
    /// Tasks Asterisk's app event queue has processed so far ("Processed" of `core show taskprocessors like`; the queue
    /// outlives the app's connections, its name carries a serial number), through
    /// DIALER_AST_CLI; NaN without it or when the CLI fails (the column then reads NaN).
    /// </summary>
    private static async Task<double> AppQueueTasks(string app)
    {
        if (Environment.GetEnvironmentVariable("DIALER_AST_CLI") is not { Length: > 0 } cli) return double.NaN;
        var name = $"stasis/m:ari:application/{app}";
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", $"{cli} 'core show taskprocessors like {name}'"]) { RedirectStandardOutput = true })!;
            var text = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            var row = text.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).FirstOrDefault(f => f.Length > 1 && (f[0] == name || f[0].StartsWith(name + "-", StringComparison.Ordinal))); // "…/dialer-00000052"
            return row is not null && double.TryParse(row[1], CultureInfo.InvariantCulture, out var n) ? n : double.NaN;
        }
        catch (System.ComponentModel.Win32Exception) { return double.NaN; }
    }

    private static int AsteriskPid()
    {
        var text = Environment.GetEnvironmentVariable("DIALER_ASTERISK_PID")
                   ?? (Environment.GetEnvironmentVariable("DIALER_ASTERISK_PID_FILE") is { } f && File.Exists(f) ? File.ReadAllText(f).Trim() : null);
        return int.TryParse(text, CultureInfo.InvariantCulture, out var pid) ? pid : 0;
    }

    /// <summary>utime + stime of a process from /proc/PID/stat, in seconds (clock ticks of 1/100 s); 0 when it cannot be read.</summary>
    private static double CpuSeconds(int pid)
    {
        if (pid <= 0) return 0;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // the command name may hold spaces: fields start after it
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException) { return 0; }
    }
}
