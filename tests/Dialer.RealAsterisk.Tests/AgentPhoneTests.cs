using Dialer.Ari.Driver;
using Dialer.Core.Domain;

namespace Dialer.RealAsterisk.Tests;

/// <summary>Issue 11: the agent's own phone (a sipp the suite runs) logs in by dialing 500 and works the keys 1, 2 and #.</summary>
public class AgentPhoneTests
{
    // agent5 has no contact in the lab (it dials in, nobody calls it); nobody calls the phones here (call_agents: false).
    private static readonly AriDriverOptions DialIn = new() { CallAgents = false };

    /// <summary>Dialing 500 logs the agent in (and makes them ready: a call reaches them); hanging up the phone logs them out.</summary>
    [RealAsteriskFact]
    public async Task An_agent_logs_in_by_dialing_500_and_out_by_hanging_up()
    {
        await using var rig = await LiveRig.StartAsync(["2501"], agents: 1, DialIn, agentIds: ["agent5"]);
        Assert.Equal(0, rig.Driver.AgentsConnected);
        using var phone = SippPhone.DialIn("agent5", [], holdAfterMs: 3000);
        await LiveRig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(10), "agent5 logged in by dialing 500");
        await LiveRig.Until(() => rig.Engine.Stats.Connected == 1, TimeSpan.FromSeconds(10), "the agent who dialed in given a call", rig);
        Assert.True(await phone.WaitExit(TimeSpan.FromSeconds(20)), "the phone hung up after 3 s");
        await LiveRig.Until(async () => await rig.Query(e => e.State.AgentStates[0]) == AgentState.LoggedOut, TimeSpan.FromSeconds(5), "agent5 logged out by hanging up");
        Assert.Equal(0, rig.Driver.AgentsConnected);
        Assert.True(phone.ExitCode == 0, $"the phone's scenario failed (exit {phone.ExitCode}):\n{phone.Messages()}");
        Assert.Contains("INVITE sip:500@", phone.Messages(), StringComparison.Ordinal);
    }

    /// <summary>
    /// On the phone while logged in: # hangs up the customer the agent talks to (wrap-up follows, no call is placed),
    /// 2 pauses, 1 makes the agent ready (the next customer arrives). The customers' lines never hang up by themselves.
    /// </summary>
    [RealAsteriskFact]
    public async Task The_agents_keys_hang_up_pause_and_make_ready()
    {
        await using var rig = await LiveRig.StartAsync(["1511", "1512", "1513"], agents: 1, DialIn, agentIds: ["agent5"]);
        using var phone = SippPhone.DialIn("agent5", [(3000, "#"), (2500, "2"), (2500, "1"), (3500, "#")], holdAfterMs: 2000);
        var seen = new List<AgentState>();
        var end = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < end)
        {
            var st = await rig.Query(e => e.State.AgentStates[0]);
            if (st != AgentState.Ready && (seen.Count == 0 || seen[^1] != st)) seen.Add(st);
            if (phone.Exited && st == AgentState.LoggedOut) break;
            await Task.Delay(20);
        }
        var path = string.Join(" → ", seen);
        Assert.True(phone.Exited && phone.ExitCode == 0, $"the phone's scenario failed:\n{phone.Messages()}");
        Assert.True(path == "LoggedOut → Talking → WrapUp → Paused → Talking → WrapUp → LoggedOut", $"agent states {path}; driver said:\n{rig.Said()}");
        var calls = rig.Attempts.AllFinished;
        Assert.Equal(2, calls.Count); // the third customer was never called: the agent was in wrap-up when they left
        Assert.All(calls, c => Assert.Equal(CallOutcome.Human, c.Outcome));
        // Each talk ended by its # (the customer's line never hangs up by itself), before the next key was due.
        Assert.All(calls, c => Assert.InRange(c.TalkSeconds, 0.1, 4.5));
    }
}
