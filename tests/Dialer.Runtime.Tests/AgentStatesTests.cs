using Dapper;
using Dialer.Emulator;
using Dialer.Runtime;
using Dialer.Store;

namespace Dialer.Runtime.Tests;

/// <summary>`dialer run` alone (no API) on the ARI emulator and SQLite: the agent state changes reach agent_states.</summary>
public sealed class AgentStatesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-agent-states-").FullName;
    private string Db => $"sqlite:{Path.Combine(_dir, "run.db")}";

    [Fact]
    public async Task Run_without_the_api_stores_every_agent_state_change_from_login_to_logout()
    {
        // 2…: answers and hangs up 6 s later (0.6 s at this scale); agents are ready again 0.3 s after each call.
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.1 });
        var config = RunConfig.Load(RunFiles.Write(_dir, emu.BaseUri, Db, "states", "states-node", "ratio:1", agents: 3, channels: 20,
            Enumerable.Range(0, 40).Select(i => ($"+2025550{i:D3}", "US")), autoReadySeconds: 0.3));
        var output = new RunLog();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = AriRunner.RunAsync([config], new NodeOptions(), output, TimeSpan.FromSeconds(1), cts.Token);
        using (var watch = StoreDb.Open(Db))
            await RunFiles.Until(() =>
            {
                using var c = watch.Connect();
                return Task.FromResult(c.ExecuteScalar<long>("SELECT COUNT(DISTINCT agent) FROM agent_states WHERE state = 'wrap_up'") == 3 || run.IsCompleted);
            }, TimeSpan.FromSeconds(40), "every agent through a call and its wrap-up", output);
        await cts.CancelAsync();
        Assert.Equal(Dialer.Core.Hosting.EngineStatus.Stopped, await run.WaitAsync(CampaignEngine.StopTimeout));

        using var db = StoreDb.Open(Db);
        var campaign = new Campaigns(db).Find("states")!;
        var rows = new AgentStates(db).Read(campaign.Id, 0, long.MaxValue);
        using var conn = db.Connect();
        foreach (var agent in new[] { "agent1", "agent2", "agent3" })
        {
            var states = rows.Where(r => r.Agent == agent).ToList();
            Assert.Equal("ready", states[0].State); // the login, made before the loop's first event is stored too
            Assert.Equal("logged_out", states[^1].State); // the stop's logout, stored after the engine stopped
            Assert.True(states.Zip(states.Skip(1)).All(p => p.First.At <= p.Second.At), $"{agent}: out of order");
            // Each call bridged to the agent is one talking spell, and one wrap-up unless the stop hung it up.
            var calls = conn.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE agent = @agent", new { agent });
            Assert.True(calls > 0, $"{agent}: no call");
            Assert.Equal(calls, states.Count(s => s.State == "talking"));
            Assert.InRange(states.Count(s => s.State == "wrap_up"), calls - 1, calls);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
