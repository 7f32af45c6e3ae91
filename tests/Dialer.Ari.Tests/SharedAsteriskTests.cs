using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;
using Dialer.Emulator;

namespace Dialer.Ari.Tests;

/// <summary>
/// Engines sharing an Asterisk (issue 10). Asterisk 22 gives a Stasis app one WebSocket: a second connection to an app
/// replaces the first, which hears ApplicationReplaced and nothing more (probed on the lab's cl2). So each campaign engine
/// has an app of its own, and the dialplan sends every call it runs (AMD, an agent's dial-in, an inter-server leg) back
/// to the app of the call's owner. The emulator routes events per app as Asterisk does, so these fail where one is missed.
/// </summary>
public class SharedAsteriskTests
{
    private static AriDriverOptions Options(string campaign, bool amd = false, bool callAgents = true) => new()
    {
        Owner = new ChannelOwner("node-a", campaign), SharedServers = true, Amd = amd, CallAgents = callAgents,
        AutoReadyAfter = TimeSpan.FromMilliseconds(20), RtcpPollEvery = TimeSpan.Zero,
    };

    [Fact]
    public async Task Two_campaign_engines_on_one_asterisk_each_hear_their_own_calls_to_the_end()
    {
        // +2…: answers and hangs up after 6 s (× 0.05); AMD reads the one of c2 as a person.
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var log = new List<string>();
        await using var c1 = await Rig.StartAsync(emu.Scenario, ["+2001", "+2002", "+2003"], agents: 1, Options("c1"), emulator: emu, app: "dialer-c1", log: l => { lock (log) log.Add(l); });
        // Through AMD: the callee leaves Stasis for [dialer-amd] and must come back into c2's app (DIALER_APP), not `dialer`.
        await using var c2 = await Rig.StartAsync(emu.Scenario, ["+2101", "+2102", "+2103"], agents: 1, Options("c2", amd: true), emulator: emu, app: "dialer-c2");
        Assert.Equal(["dialer-c1", "dialer-c2"], emu.ConnectedApps);

        await c1.WaitDone(TimeSpan.FromSeconds(20));
        await c2.WaitDone(TimeSpan.FromSeconds(20));
        foreach (var rig in new[] { c1, c2 })
        {
            var outcomes = await rig.Query(e => e.Stats.Outcomes.ToArray());
            Assert.True(outcomes[(int)CallOutcome.Human] == 3, string.Join(", ", outcomes.Select((n, i) => $"{(CallOutcome)i} {n}").Where(s => !s.EndsWith(" 0"))) + "\n" + string.Join("\n", log));
        }
        Assert.True(c1.Client.IsConnected && c2.Client.IsConnected && !c1.Client.Replaced && !c2.Client.Replaced);
        Assert.Equal(0, c1.Driver.Stats.ReconciledEnds + c2.Driver.Stats.ReconciledEnds); // every end heard, none found by a reconciliation
    }

    [Fact]
    public async Task A_second_connection_of_an_app_gets_the_first_ApplicationReplaced_and_the_first_stays_off_its_server()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var log = new List<string>();
        await using var rig = await Rig.StartAsync(emu.Scenario, [], agents: 1, Options("c1"), emulator: emu, app: "dialer-c1", log: l => { lock (log) log.Add(l); });
        Assert.True(rig.Driver.IsServerHealthy("pbx1"));

        // Another engine connects as the same app (a new owner of the campaign, while this one still runs).
        var other = new Sink();
        await using var second = new AriClient(new AriServerOptions { Id = "pbx1", BaseUri = emu.BaseUri, User = "dialer", Password = "dialer", App = "dialer-c1" });
        second.Start(other);
        await Rig.Until(() => rig.Client.Replaced, TimeSpan.FromSeconds(5), "ApplicationReplaced reached the first connection");
        await Rig.Until(() => !rig.Driver.IsServerHealthy("pbx1"), TimeSpan.FromSeconds(5), "the server counts as unheard for the first engine");
        Assert.False(rig.Client.IsConnected);

        // It stays off: no reconnect that would take the app back (its reconnect delay is 50–300 ms).
        await Task.Delay(1000);
        Assert.Equal(1, emu.ConnectedSockets);
        Assert.Equal(1, rig.Client.EventStats.Connects);
        Assert.True(rig.Client.Replaced && !rig.Driver.IsServerHealthy("pbx1"));
        lock (log) Assert.Contains(log, l => l.Contains("app 'dialer-c1' replaced by another connection", StringComparison.Ordinal));

        // Events of the app go to the newest connection only.
        var heardBefore = rig.Client.EventStats.Received;
        await second.OriginateAsync("dialer-node-z-c1-call-1-", "PJSIP/+7001@carrier-a", "callee", null, 30, null);
        await Rig.Until(() => other.Saw(AriEventType.StasisStart), TimeSpan.FromSeconds(5), "the new connection hears the call");
        Assert.Equal(heardBefore, rig.Client.EventStats.Received);
    }

    /// <summary>
    /// Agents on pbx2, the trunk on pbx1, agents dialing in (500): the phone's call and each callee's leg over the inter-server
    /// trunk enter Stasis from pbx2's dialplan, in the app the agent's engine named in DIALER_AGENT_APP_{agent}, not `dialer`.
    /// </summary>
    [Fact]
    public async Task An_agents_dial_in_and_the_inter_server_legs_to_them_enter_the_app_of_their_campaign()
    {
        var options = Options("c1", callAgents: false) with { AgentServer = "pbx2", InterServerEndpoint = "PJSIP/{agent}@{server}" };
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+2001", "+2002"], agents: 1, options,
            pbx2: new EmulatorScenario { TimeScale = 0.05, AsteriskId = "02:fc:00:00:00:02" }, app: "dialer-c1");
        var pbx2 = rig.Emulator2!;
        Assert.Equal("dialer-c1", pbx2.GlobalVariable("DIALER_AGENT_APP_agent1"));

        var phone = pbx2.PhoneDialsIn("agent1");
        Assert.Equal("dialer-c1", pbx2.AppOf(phone));
        await Rig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(10), "agent logged in from the phone");
        await rig.WaitDone(TimeSpan.FromSeconds(20));
        Assert.Equal(2, (await rig.Query(e => e.Stats.Outcomes.ToArray()))[(int)CallOutcome.Human]);
        Assert.Equal(2, rig.Engine.Stats.Connected);
    }

    /// <summary>
    /// One agent id in two campaigns on pbx2: c1 calls agent1's phone and brings its callees from pbx1 over the inter-server
    /// trunk; c2 (agents dial in; agent1 is not in it now) connected later, so the global DIALER_AGENT_APP_agent1 names
    /// dialer-c2. c1's legs name their app in the X-Dialer-App header and [dialer-interserver] enters that app, not the
    /// global's (asterisk-conf/extensions.conf): c1's callees reach c1's agent, and c2 never hears of them.
    /// </summary>
    [Fact]
    public async Task Inter_server_legs_enter_the_app_their_header_names_when_their_agent_is_in_two_campaigns_on_the_server()
    {
        using var c2Connected = new ManualResetEventSlim();
        var options = Options("c1") with { AgentServer = "pbx2", InterServerEndpoint = "PJSIP/{agent}@{server}" };
        var log = new List<string>();
        await using var c1 = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+2001", "+2002"], agents: 1, options,
            pbx2: new EmulatorScenario { TimeScale = 0.05, AsteriskId = "02:fc:00:00:00:02" }, app: "dialer-c1", pacer: new Gated(c2Connected),
            log: l => { lock (log) log.Add("c1: " + l); });
        var pbx2 = c1.Emulator2!;
        await using var c2 = await Rig.StartAsync(pbx2.Scenario, [], agents: 1, Options("c2", callAgents: false), emulator: pbx2, app: "dialer-c2",
            log: l => { lock (log) log.Add("c2: " + l); });
        Assert.Equal("dialer-c2", pbx2.GlobalVariable("DIALER_AGENT_APP_agent1"));
        await Rig.Until(() => c1.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(10), "c1's agent1 connected");
        c2Connected.Set();

        await c1.WaitDone(TimeSpan.FromSeconds(20));
        Assert.Equal(2, (await c1.Query(e => e.Stats.Outcomes.ToArray()))[(int)CallOutcome.Human]);
        Assert.Equal(2, c1.Engine.Stats.Connected);
        // In c2's app a leg is hung up (agent1 is not logged in there), and c1 loses the agent the callee was bridged to.
        lock (log) Assert.True(!log.Any(l => l.Contains("inter-server", StringComparison.Ordinal)), string.Join("\n", log));
    }

    /// <summary>
    /// node-b took c1 over from node-a, which was paused past its lease: a call node-a asked for before the pause reaches
    /// Asterisk after node-b's reconciliation (Asterisk cannot check a lease). Its first event in c1's app, node-b's now,
    /// hangs it up. A line of node-a's to an agent is not a call: agent lines are taken back, never hung up as late calls
    /// (session 15's first version hung up a taken-over agent line and the predictive ClusterTests lost agents).
    /// </summary>
    [Fact]
    public async Task A_taken_over_owners_call_that_reaches_asterisk_after_the_takeover_is_hung_up_at_its_first_event_and_its_agent_line_is_not()
    {
        var options = Options("c1") with { Owner = new ChannelOwner("node-b", "c1"), TakenOver = [new ChannelOwner("node-a", "c1")] };
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, [], agents: 1, options, app: "dialer-c1");
        await Rig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(10), "node-b's agent logged in");

        var fenced = new ChannelOwner("node-a", "c1");
        await using var nodeA = new AriClient(new AriServerOptions { Id = "pbx1", BaseUri = rig.Emulator.BaseUri, User = "dialer", Password = "dialer", App = "dialer-c1" });
        var line = fenced.Agent("agent9");
        await nodeA.CreateChannelAsync(line, "PJSIP/agent9", null, null);
        var late = fenced.Call(7);
        await nodeA.CreateChannelAsync(late, "PJSIP/+2001@carrier-a", "callee", null);
        // Its first event (the create) may already have hung it up: the dial then finds no channel.
        try { await nodeA.DialAsync(late, 30); } catch (Dialer.Ari.Client.AriNotFoundException) { }

        await Rig.Until(() => rig.Emulator.HangupRequests.Any(h => h.ChannelId == late), TimeSpan.FromSeconds(5), "node-b hung up node-a's late call");
        Assert.Equal(1, rig.Driver.Stats.LateCallsHungUp);
        // One server's events come in order: the line's StasisStart was handled before the call's.
        Assert.DoesNotContain(rig.Emulator.HangupRequests, h => h.ChannelId == line);
        Assert.NotNull(await nodeA.GetChannelAsync(line));
        Assert.Equal(1, rig.Driver.AgentsConnected);
    }

    /// <summary>Places nothing until the gate opens, then one call per ready agent.</summary>
    private sealed class Gated(ManualResetEventSlim gate) : IPacer
    {
        private readonly Rig.AgentsReadyPacer _open = new(0);
        public string Name => "gated";
        public bool ReactsToEvents => true;
        public PacingDecision Decide(DialerState s) => gate.IsSet ? _open.Decide(s) : new(0, s.Now + 0.05);
    }

    private sealed class Sink : IAriEventSink
    {
        private readonly List<AriEventType> _seen = [];

        public bool Saw(AriEventType type)
        {
            lock (_seen) return _seen.Contains(type);
        }

        public ValueTask OnEventAsync(AriClient server, AriEvent e, CancellationToken ct)
        {
            lock (_seen) _seen.Add(e.Type);
            return ValueTask.CompletedTask;
        }

        public ValueTask ReconcileAsync(AriClient server, ReconcileReason reason, CancellationToken ct) => ValueTask.CompletedTask;
    }
}
