using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Dapper;
using Dialer.Emulator;
using Dialer.Runtime;
using Dialer.Store;

namespace Dialer.Runtime.Tests;

/// <summary>`dialer run` on the ARI emulator and SQLite: what a stop leaves behind.</summary>
public sealed partial class StopTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-runtime-").FullName;
    private string Db => $"sqlite:{Path.Combine(_dir, "run.db")}";

    /// <summary>
    /// 10 agents, a 15:1 ratio: ~10 customers talking (+7…: human, talks until hung up) and 100+ calls ringing (+1802…:
    /// rings until the time-out) when the stop comes.
    /// </summary>
    private string Config(Uri ari) => RunFiles.Write(_dir, ari, Db, "stop", "stop-node", "ratio:15", agents: 10, channels: 400,
        [.. Enumerable.Range(0, 20).Select(i => ($"+7916555{i:D4}", "RU")), .. Enumerable.Range(0, 300).Select(i => ($"+1802555{i:D4}", "US"))]);

    [Fact]
    public async Task Stop_with_100_plus_calls_up_hangs_up_everything_and_closes_every_attempt_and_lease()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        var config = RunConfig.Load(Config(emu.BaseUri));
        var output = new RunLog();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = AriRunner.RunAsync([config], new NodeOptions(), output, TimeSpan.FromSeconds(1), cts.Token);
        var until = DateTime.UtcNow.AddSeconds(40);
        while (!Ready(emu, output.ToString()) && !run.IsCompleted && DateTime.UtcNow < until) await Task.Delay(50);
        Assert.True(Ready(emu, output.ToString()), $"only {emu.ActiveChannels} channels up: {output}");
        await cts.CancelAsync();
        await run.WaitAsync(CampaignEngine.StopTimeout);

        AssertNothingLeft(emu, minAttempts: 110);
    }

    /// <summary>
    /// `dialer run … &` from a script: the shell starts the job with SIGINT ignored, and .NET leaves an inherited "ignore" in
    /// place. `kill -INT` did nothing: the node went on dialing (new calls as the ringing ones timed out) until SIGKILL.
    /// It must stop as Ctrl+C does: at once, everything hung up, every attempt closed, every lead released.
    /// </summary>
    [Fact]
    public async Task Sigint_stops_dialer_run_started_as_a_background_job()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        var lines = new ConcurrentQueue<(string Name, string Line)>();
        using var run = ChildProcess.Dotnet("run", [ChildProcess.DialerDll, "run", "--config", Config(emu.BaseUri), "--status-seconds", "0.5"], lines, sigintIgnored: true);
        string Log() => string.Join("\n", lines.Select(l => l.Line));
        try
        {
            // A process start on a loaded box can take a minute by itself.
            var until = DateTime.UtcNow.AddSeconds(150);
            while (!Ready(emu, Log()) && !run.HasExited && DateTime.UtcNow < until) await Task.Delay(50);
            Assert.True(Ready(emu, Log()), $"only {emu.ActiveChannels} channels up: {Log()}");
            using (var kill = Process.Start("kill", ["-INT", run.Id.ToString(CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            using var limit = new CancellationTokenSource(CampaignEngine.StopTimeout + TimeSpan.FromSeconds(10));
            try { await run.WaitForExitAsync(limit.Token); }
            catch (OperationCanceledException) { Assert.Fail($"still running after SIGINT, {emu.ChannelsCreated} channels created: {string.Join("\n", lines.TakeLast(5).Select(l => l.Line))}"); }
            Assert.Equal(0, run.ExitCode);
            AssertNothingLeft(emu, minAttempts: 110);
        }
        finally
        {
            if (!run.HasExited) run.Kill(entireProcessTree: true);
        }
    }

    /// <summary>
    /// The stop comes once 120+ channels are up and the status line counts 5+ live answers: channels alone can reach 120
    /// within AMD's 1.8 s on a fast ramp, before any customer is talking (CI saw 0 humans that way).
    /// </summary>
    private static bool Ready(AriEmulator emu, string log) =>
        emu.ActiveChannels >= 120 && LiveAnswers().Matches(log) is { Count: > 0 } m && int.Parse(m[^1].Groups[1].ValueSpan, CultureInfo.InvariantCulture) >= 5;

    [System.Text.RegularExpressions.GeneratedRegex(@" live (\d+) ")]
    private static partial System.Text.RegularExpressions.Regex LiveAnswers();

    /// <summary>Every call and agent line hung up, every attempt closed with an outcome, no lead left leased.</summary>
    private void AssertNothingLeft(AriEmulator emu, int minAttempts)
    {
        Assert.Equal(0, emu.ActiveChannels);
        using var db = StoreDb.Open(Db);
        using var c = db.Connect();
        var (attempts, open, noOutcome) = c.QuerySingle<(long, long, long)>(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN outcome IS NULL THEN 1 ELSE 0 END), 0) FROM attempts");
        Assert.True(attempts >= minAttempts, $"{attempts} attempts");
        Assert.Equal(0, open);
        Assert.Equal(0, noOutcome);
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 1 OR lease_owner IS NOT NULL"));
        Assert.True(c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE outcome = 'human'") >= 5);
        // From the callee's side: nobody left in silence up to the stop, and each closed with what they lived (one the stop
        // hung up before an agent reached them is abandoned, never a conversation).
        var callees = Callees.Judge(emu, db);
        Assert.Empty(callees.Silent);
        Assert.True(callees.Wrong.Count == 0, string.Join("\n", callees.Wrong));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
