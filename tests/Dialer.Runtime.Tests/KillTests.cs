using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Dapper;
using Dialer.Ari.Client;
using Dialer.Core.Domain;
using Dialer.Emulator;
using Dialer.Store;
using Dialer.Store.Tests;
using Xunit.Abstractions;

namespace Dialer.Runtime.Tests;

/// <summary>
/// The `dialer` program itself: `dialer run` as a child process, killed with SIGKILL while 10 agents are on calls, then
/// started again on the same store and the same (emulated) Asterisk. What the restart must find and do: every conversation
/// still bridged goes on and closes as one, every agent is back at once, the callees nobody had reached are hung up and
/// counted abandoned, and at its clean stop nothing is left open.
/// </summary>
public sealed class KillTests(ITestOutputHelper output) : IDisposable
{
    private const int Agents = 10;
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-kill-").FullName;
    private readonly ConcurrentQueue<(string Name, string Line)> _lines = new();
    private readonly List<Process> _processes = [];

    [Fact]
    public Task Kill_9_of_dialer_run_with_10_agents_on_calls_then_restart_on_sqlite() => KillAndRestart($"sqlite:{Path.Combine(_dir, "run.db")}", "sqlite");

    [PostgresFact]
    public async Task Kill_9_of_dialer_run_with_10_agents_on_calls_then_restart_on_postgres()
    {
        using var pg = new PostgresServer();
        await KillAndRestart(pg.NewDatabase(), "postgres");
    }

    private async Task KillAndRestart(string db, string dialect)
    {
        // Safe-harbor messages last long enough that the callees in them are still up (live, unreached) at the kill.
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { PlaybackSeconds = 60 });
        // +7…: answers and talks until hung up (10 reach an agent, 4 go to safe harbor); +1802…: rings until the time-out.
        var file = RunFiles.Write(_dir, emu.BaseUri, db, "kill", "node-a", "ratio:3", Agents, channels: 100,
            [.. Enumerable.Range(0, 14).Select(i => ($"+7916555{i:D4}", "RU")), .. Enumerable.Range(0, 16).Select(i => ($"+1802555{i:D4}", "US"))]);
        var config = RunConfig.Load(file);
        var (store, _, _) = RunFiles.Prepare(config, _dir);
        using var _store = store;
        var owner = new ChannelOwner("node-a", config.Name);
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(8));

        await using var ari = new AriClient(new AriServerOptions { Id = "probe", BaseUri = emu.BaseUri, User = "dialer", Password = "dialer" });
        async Task<HashSet<string>> Bridged() => [.. (await ari.ListBridgesAsync()).Where(b => owner.Owns(b.Id) && b.Channels.Length == 2).SelectMany(b => b.Channels).Where(IsCall)];

        var first = Run("first");
        // A process start on a loaded CI box can take a minute by itself: the start has its own bound, the calls theirs.
        await Until(() => Task.FromResult(Said("first", "dialer run: node", 0)), TimeSpan.FromSeconds(150), "the first node up");
        await Until(async () => (await Bridged()).Count == Agents && Said("first", "abandoned 4 (", 0), TimeSpan.FromSeconds(150), "10 agents talking, 4 in safe harbor");
        var talking = await Bridged();
        first.Kill(); // SIGKILL: no hang-up, no write, no release
        await first.WaitForExitAsync(limit.Token);

        var restart = Stopwatch.StartNew();
        var second = Run("second");
        await Until(() => Task.FromResult(Said("second", "dialer run: node", 0)), TimeSpan.FromSeconds(150), "the restarted node up");
        var up = restart.Elapsed; // the program started, the store and Asterisk proven, the leads imported
        await Until(() => Task.FromResult(Said("second", $"talking {Agents} ", 0)), TimeSpan.FromSeconds(120), "agents back on their calls after the restart");
        var agentsBack = restart.Elapsed - up;
        var kept = talking.Intersect(await Bridged()).Count();
        var takenBack = _lines.Count(l => l.Name == "second" && l.Line.Contains("line still up in bridge", StringComparison.Ordinal));

        // The conversations end; the agents say ready from the phones taken back; the node stops cleanly.
        var mark = _lines.Count;
        foreach (var id in talking) emu.FarEndHangsUp(id);
        foreach (var i in Enumerable.Range(1, Agents)) emu.PressKey(owner.Agent($"agent{i}"), "1");
        await Until(() => Task.FromResult(Said("second", "talking 0 wrap 0 ", mark)), TimeSpan.FromSeconds(20), "agents ready again");
        using (var term = Process.Start("kill", ["-TERM", second.Id.ToString(CultureInfo.InvariantCulture)])) await term.WaitForExitAsync(limit.Token);
        await second.WaitForExitAsync(limit.Token);

        using var c = store.Connect();
        var rows = c.Query<(string Channel, string? Outcome, long Reconciled, string? Agent)>("SELECT channel_id, outcome, reconciled, agent FROM attempts").ToList();
        var conversations = rows.Count(r => talking.Contains(r.Channel) && r.Outcome == "human" && r.Reconciled == 0 && r.Agent is not null);
        var abandoned = rows.Count(r => r.Outcome == "abandoned");
        var figures = $"{dialect}: dialer run killed (SIGKILL) with {Agents} agents on calls, restarted: node up {up.TotalSeconds:0.0} s after, " +
                      $"agents back on their calls {agentsBack.TotalSeconds:0.0} s later, conversations kept {kept}/{talking.Count} and closed as conversations {conversations}; " +
                      $"agent lines taken back {takenBack}; abandoned {abandoned}; exit {second.ExitCode}";
        output.WriteLine(figures);
        Assert.Equal(0, second.ExitCode);
        Assert.Equal(Agents, kept);
        Assert.Equal(Agents, takenBack); // no agent's phone called again: each line still in its bridge was taken back
        Assert.Equal(Agents, conversations);
        Assert.True(abandoned >= 4, figures); // the callees in safe harbor at the kill, closed as abandoned by the recovery
        // Closed, every one: the calls ringing at the kill by the recovery (reconciled, outcome unknown: network trouble).
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL OR (outcome IS NULL AND reconciled = 0)"));
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 1 OR lease_owner IS NOT NULL"));
        Assert.Equal(0, emu.ActiveChannels); // the clean stop hung up every call and agent line
    }

    private Process Run(string name)
    {
        var p = ChildProcess.Dotnet(name, [ChildProcess.DialerDll, "run", "--config", Path.Combine(_dir, "run.yaml"), "--status-seconds", "0.2"], _lines);
        _processes.Add(p);
        return p;
    }

    /// <summary>Whether the named run printed <paramref name="text"/> in a line after the first <paramref name="skip"/> lines of all.</summary>
    private bool Said(string name, string text, int skip) => _lines.Skip(skip).Any(l => l.Name == name && l.Line.Contains(text, StringComparison.Ordinal));

    private static bool IsCall(string id) => ChannelIds.TryParse(id, out var p) && p.Kind == ChannelKind.Call;

    private async Task Until(Func<Task<bool>> done, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (!await done())
        {
            if (DateTime.UtcNow > until) Assert.Fail($"timed out: {what}\n{string.Join("\n", _lines.TakeLast(60).Select(l => $"{l.Name}: {l.Line}"))}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.Dispose();
        }
        Directory.Delete(_dir, recursive: true);
    }
}
