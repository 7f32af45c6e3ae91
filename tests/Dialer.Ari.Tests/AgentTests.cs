using Dialer.Ari.Driver;
using Dialer.Emulator;
using Dialer.Core.Domain;

namespace Dialer.Ari.Tests;

/// <summary>Agent state from real signals: the phone in our app, the keys pressed on it, and hanging it up.</summary>
public class AgentTests
{
    private static Task<AgentState> State(Rig rig) => rig.Query(e => e.State.AgentStates[0]);

    // Bounds are generous: this checks what happens, in order, not how fast (the machine running it may be loaded).
    [Fact]
    public async Task An_agent_dials_in_takes_a_call_stays_in_wrap_up_until_a_key_says_ready_and_logs_out_by_hanging_up()
    {
        // +1001 answers and stays on the line until hung up; +2001 hangs up 6 s after answering (× 0.2: 1.2 s; at 0.05 its
        // 0.3 s was less than a loaded CI machine's answer-to-bridge, and the callee was gone before the agent got it).
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.2 }, ["+1001", "+2001"], agents: 1,
            new AriDriverOptions { CallAgents = false });
        Assert.Equal(AgentState.LoggedOut, await State(rig)); // nobody is called: the agent logs in from the phone
        Assert.Equal(0, rig.Engine.Stats.CallsPlaced);

        // At once: the phone may come up before the driver has made the agent's bridge (it is made off the event loop).
        var phone = rig.Emulator.PhoneDialsIn("agent1");
        await Rig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(10), "agent logged in from the phone");
        Assert.Equal([phone], rig.Emulator.ChannelsOf("agent1")); // nobody called the phone
        // The engine counts a connect when it decides it; the bridge follows when Asterisk has done the addChannel.
        await Rig.Until(() => rig.Engine.Stats.Connected == 1, TimeSpan.FromSeconds(10), "first callee put through");
        await Rig.Until(() => rig.Emulator.BridgeSize(ChannelOwner.Default.AgentBridge("agent1")) == 2, TimeSpan.FromSeconds(10), "callee in the agent's bridge");

        rig.Emulator.PressKey(phone, "#"); // the agent ends the conversation
        await Rig.Until(() => State(rig).Result == AgentState.WrapUp, TimeSpan.FromSeconds(10), "wrap-up after the call");
        await Task.Delay(200);
        Assert.Equal(AgentState.WrapUp, await State(rig)); // no timer makes the agent ready
        Assert.Equal(1, rig.Engine.Stats.CallsPlaced);

        rig.Emulator.PressKey(phone, "1");
        await Rig.Until(() => rig.Engine.Stats.CallsPlaced == 2, TimeSpan.FromSeconds(10), "ready: the next call goes out");
        await Rig.Until(() => State(rig).Result == AgentState.WrapUp && rig.Engine.LiveCalls.Count == 0, TimeSpan.FromSeconds(10), "second call over");
        rig.Emulator.PressKey(phone, "2");
        await Rig.Until(() => State(rig).Result == AgentState.Paused, TimeSpan.FromSeconds(10), "paused from the phone");

        rig.Emulator.FarEndHangsUp(phone);
        await Rig.Until(() => State(rig).Result == AgentState.LoggedOut, TimeSpan.FromSeconds(10), "hanging up logs out");
        Assert.Equal(0, rig.Driver.AgentsConnected);
        var outcomes = await rig.Query(e => e.Stats.Outcomes.ToArray());
        Assert.Equal(2, outcomes[(int)CallOutcome.Human]);
    }

    /// <summary>
    /// A phone that dialed 500 is the app's only while in Stasis: when it hangs up, Asterisk 22 sends StasisEnd and no
    /// ChannelDestroyed (lab capture i). The agent is logged out all the same, and no call is placed for them any more.
    /// </summary>
    [Fact]
    public async Task An_agent_who_dialed_in_is_logged_out_by_hanging_up_though_only_StasisEnd_says_so()
    {
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+2001", "+2002"], agents: 1,
            new AriDriverOptions { CallAgents = false });
        var phone = rig.Emulator.PhoneDialsIn("agent1");
        await Rig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(3), "agent logged in from the phone");
        rig.Emulator.FarEndHangsUp(phone);
        await Rig.Until(() => State(rig).Result == AgentState.LoggedOut, TimeSpan.FromSeconds(3), "hanging up logs out");
        Assert.Equal(0, rig.Driver.AgentsConnected);
    }

    /// <summary>
    /// A driver that dies (no hang-ups) leaves its agents' lines up in their bridges: the next one takes them back at once,
    /// without calling a phone again. A line that is up outside its bridge gets 409 on the login call and is put back in.
    /// </summary>
    [Fact]
    public async Task A_new_driver_takes_back_agent_lines_still_up_without_calling_the_phones_again()
    {
        await using var emulator = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        await using (var dead = await Rig.StartAsync(emulator.Scenario, [], agents: 3, new AriDriverOptions(), emulator: emulator))
        {
            await Rig.Until(() => dead.Driver.AgentsConnected == 3, TimeSpan.FromSeconds(5), "three agents logged in");
            await dead.DieAsync();
        }
        await using (var probe = new Client.AriClient(new Client.AriServerOptions { Id = "probe", BaseUri = emulator.BaseUri, User = "dialer", Password = "dialer" }))
            await probe.DeleteBridgeAsync(ChannelOwner.Default.AgentBridge("agent3")); // agent3's phone stays up, outside any bridge
        var phonesCalled = emulator.ChannelsCreated;

        await using var rig = await Rig.StartAsync(emulator.Scenario, [], agents: 3, new AriDriverOptions(), emulator: emulator);
        await Rig.Until(() => rig.Driver.AgentsConnected == 3, TimeSpan.FromSeconds(3), "every agent back");
        Assert.Equal(2, rig.Driver.Stats.AgentsTakenBack);         // agent1 and agent2 from their bridges
        Assert.Equal(3, await rig.Query(e => e.State.Count(AgentState.Ready)));
        Assert.Equal(phonesCalled, emulator.ChannelsCreated);      // agent3's came back through the 409: no phone rang again
        Assert.Equal(1, emulator.BridgeSize(ChannelOwner.Default.AgentBridge("agent3"))); // its phone is in its bridge again
    }

    /// <summary>The hang-up key and then ready at once: ready reaches the driver before the call's end comes back from Asterisk.</summary>
    [Fact]
    public async Task Ready_pressed_right_after_the_hang_up_key_counts_once_the_call_has_ended()
    {
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+1001", "+1002"], agents: 1, new AriDriverOptions());
        var line = ChannelOwner.Default.Agent("agent1");
        await Rig.Until(() => rig.Emulator.BridgeSize(ChannelOwner.Default.AgentBridge("agent1")) == 2, TimeSpan.FromSeconds(5), "first callee in the agent's bridge");
        rig.Emulator.PressKey(line, "#");
        rig.Emulator.PressKey(line, "1");
        await Rig.Until(() => rig.Engine.Stats.CallsPlaced == 2, TimeSpan.FromSeconds(3), "ready after the call: the next call goes out");
        Assert.Equal(1, (await rig.Query(e => e.Stats.Outcomes.ToArray()))[(int)CallOutcome.Human]); // the first call, closed as a conversation
    }

    /// <summary>
    /// The trunk is on pbx1, the only agent's phone on pbx2: each answered callee is bridged on pbx1 with a leg over the
    /// inter-server trunk, which lands in the agent's bridge on pbx2. Hang-ups on either side clean up both.
    /// </summary>
    [Fact]
    public async Task A_callee_on_one_server_reaches_an_agent_on_another_over_the_inter_server_trunk()
    {
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+1001", "+2001"], agents: 1,
            new AriDriverOptions { AgentServer = "pbx2", InterServerEndpoint = "PJSIP/{agent}@{server}", AutoReadyAfter = TimeSpan.FromMilliseconds(20) },
            pbx2: new EmulatorScenario { TimeScale = 0.05, AsteriskId = "02:fc:00:00:00:02" });
        var pbx2 = rig.Emulator2!;
        await Rig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(3), "agent on pbx2 logged in");
        await Rig.Until(() => pbx2.BridgeSize(ChannelOwner.Default.AgentBridge("agent1")) == 2, TimeSpan.FromSeconds(3), "the callee's leg joined the agent's bridge on pbx2");
        Assert.Equal(1, rig.Engine.Stats.Connected);
        Assert.Equal(2, rig.Emulator.ActiveChannels); // on pbx1: the callee and the leg to pbx2

        rig.Emulator.PressKey(rig.Emulator.ChannelsOf("carrier-a").Single(), "9"); // noise: callees' keys mean nothing
        pbx2.PressKey(ChannelOwner.Default.Agent("agent1"), "#");
        await rig.WaitDone(TimeSpan.FromSeconds(10));
        var outcomes = await rig.Query(e => e.Stats.Outcomes.ToArray());
        Assert.Equal(2, outcomes[(int)CallOutcome.Human]);
        Assert.Equal(0, outcomes[(int)CallOutcome.Abandoned]);
        Assert.Equal(2, rig.Engine.Stats.Connected);
        Assert.Equal(4, rig.Emulator.ChannelsCreated); // two callees, two inter-server legs
        Assert.Equal(3, pbx2.ChannelsCreated); // the agent's phone and the two legs arriving
        await Rig.Until(() => rig.Emulator.ActiveChannels == 0 && pbx2.ActiveChannels == 1, TimeSpan.FromSeconds(3), "legs cleaned up, the agent stays");
        Assert.Equal(1, pbx2.BridgeSize(ChannelOwner.Default.AgentBridge("agent1")));
    }

    [Fact]
    public void Agents_and_trunks_on_different_servers_need_the_inter_server_trunk()
    {
        var catalog = new SkillCatalog();
        var e = Assert.Throws<ArgumentException>(() => new AriDriver(new AriDriverOptions { AgentServer = "pbx2" },
            [new Client.AriClient(new Client.AriServerOptions { Id = "pbx1", BaseUri = new Uri("http://127.0.0.1:1/ari/"), User = "u", Password = "p" }),
             new Client.AriClient(new Client.AriServerOptions { Id = "pbx2", BaseUri = new Uri("http://127.0.0.1:2/ari/"), User = "u", Password = "p" })],
            [Rig.Trunk("carrier-a", 0.01)], [new Agent { Index = 0, Id = "agent1", Skills = SkillSet.From(catalog, []) }], _ => ValueTask.CompletedTask));
        Assert.Contains("ari.inter_server_endpoint", e.Message);
    }
}
