using System.Net.WebSockets;
using Dialer.Ari.Driver;
using Dialer.Emulator;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Ari.Tests;

public class FaultTests
{
    /// <summary>
    /// The events socket dies mid-call and stays down while calls end (their ChannelDestroyed is lost). After
    /// it comes back the client reconnects within a second, reconciles with GET /channels, and the engine hears
    /// of every ended call: nothing stuck, nobody dialed twice.
    /// </summary>
    [Fact]
    public async Task Socket_dropped_mid_call_reconnects_reconciles_and_leaves_nothing_stuck()
    {
        string[] phones = [.. Enumerable.Range(1, 6).Select(i => $"+200{i}")]; // answer, hang up 6 s (× 0.05) later
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, phones, agents: 3,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(20) });
        await Rig.Until(() => rig.Engine.Stats.Connected >= 2, TimeSpan.FromSeconds(5), "calls connected");

        rig.Emulator.RefuseEvents = true;
        rig.Emulator.DropEventSockets();
        await Rig.Until(() => !rig.Client.IsConnected, TimeSpan.FromSeconds(1), "client saw the drop");
        await Task.Delay(1000); // the connected calls hang up meanwhile (300 ms of talk): those events are lost
        rig.Emulator.RefuseEvents = false;
        var back = DateTime.UtcNow;
        await Rig.Until(() => rig.Client.IsConnected, TimeSpan.FromSeconds(1), "reconnected within 1 s");
        Assert.True(DateTime.UtcNow - back < TimeSpan.FromSeconds(1));

        await rig.WaitDone(TimeSpan.FromSeconds(15));
        Assert.True(rig.Driver.Stats.ReconciledEnds >= 1, "calls that ended during the outage are found by reconciliation");
        Assert.All(rig.Leads, l => Assert.Equal(1, l.Attempts));
        Assert.Equal(phones.Length + 3, rig.Emulator.ChannelsCreated); // every lead once, plus the 3 agent phones
        Assert.Equal(phones.Length, rig.Engine.Stats.Outcomes.Sum());
        Assert.Equal(0, rig.Driver.LiveCalls);
    }

    [Fact]
    public async Task Rest_failures_while_placing_are_retried_or_end_the_attempt_cleanly()
    {
        var gate = new GatedPacer(new Rig.AgentsReadyPacer(0));
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+2001", "+2002"], agents: 1,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(20) }, pacer: gate);
        await Rig.Until(() => rig.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(5), "agent logged in");
        // Logging in took the first requests; the next call meets two 503s (retried) — or, with more, fails and is given up.
        // Nothing is placed until the failures are armed (a loaded machine may otherwise place both calls first).
        Assert.Equal(0, rig.Driver.Stats.Placed);
        rig.Emulator.FailNextRequests(8);
        gate.Open = true;
        await rig.WaitDone(TimeSpan.FromSeconds(15));
        Assert.True(rig.Driver.Stats.PlaceFailures >= 1);
        var outcomes = rig.Engine.Stats.Outcomes;
        Assert.Equal(2, outcomes.Sum());
        Assert.True(outcomes[(int)CallOutcome.Congestion] >= 1, "a call Asterisk never accepted ends as congestion (retried later by policy)");
        Assert.Equal(0, rig.Driver.LiveCalls);
        Assert.Equal(1, rig.Emulator.ActiveChannels); // only the agent's phone: no half-made call left behind
    }

    /// <summary>The cheap carrier fails every call (503 → cause 34): after a few calls its circuit opens and traffic moves to the other trunk.</summary>
    [Fact]
    public async Task A_trunk_failing_every_call_loses_its_traffic_within_a_few_calls()
    {
        string[] phones = [.. Enumerable.Range(1, 16).Select(i => $"+2{i:000}")];
        var scenario = new EmulatorScenario { TimeScale = 0.02, TrunkFailureRate = { ["carrier-a"] = 1.0 } };
        await using var rig = await Rig.StartAsync(scenario, phones, agents: 2,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(10), BreakerFailures = 3, BreakerCooldown = TimeSpan.FromMinutes(5) },
            trunks: [Rig.Trunk("carrier-a", 0.005), Rig.Trunk("carrier-b", 0.02)]);
        await rig.WaitDone(TimeSpan.FromSeconds(20));
        var perTrunk = rig.Engine.Stats.TrunkCalls;
        Assert.InRange(perTrunk[0], 3, 5); // the breaker's 3 failures, plus any already dialing when it opened
        Assert.Equal(phones.Length - perTrunk[0], perTrunk[1]);
        Assert.Equal(BreakerState.Open, rig.Driver.Health.State(0));
        Assert.False(await rig.Query(e => e.Trunks.IsAvailable(0)));
    }

    /// <summary>
    /// Sockets whose clients go away while the emulator drops every socket (a test's client disposed just before its emulator):
    /// a request that has just ended is not aborted through its disposed context. Before, one of these rounds failed with
    /// "ObjectDisposedException: IFeatureCollection has been disposed" (the ContractTests and FaultTests flake).
    /// </summary>
    [Fact]
    public async Task Sockets_closing_while_the_emulator_drops_them_are_not_aborted_after_their_request_ended()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        var events = new Uri($"ws://{emu.BaseUri.Authority}/ari/events?app=dialer&api_key=dialer:dialer");
        for (var round = 0; round < 40; round++)
        {
            var clients = Enumerable.Range(0, 8).Select(_ => new ClientWebSocket()).ToList();
            await Task.WhenAll(clients.Select(c => c.ConnectAsync(events, CancellationToken.None)));
            await Rig.Until(() => emu.ConnectedSockets == clients.Count, TimeSpan.FromSeconds(5), "every socket registered");
            var closing = Task.Run(() => clients.ForEach(c => c.Dispose()));
            while (emu.ConnectedSockets > 0) emu.DropEventSockets();
            await closing;
        }
    }
}

public class TrunkQualityTests
{
    /// <summary>The RTCP summaries real Asterisk gave in capture f: CHANNEL(rtcp,all) while up, RTPAUDIOQOS as the call ended.</summary>
    [Fact]
    public void Rtcp_summaries_are_read_from_asterisks_own_format()
    {
        var records = Fixtures.Load("f_vars_rtcp_endpoints_recording.jsonl");
        var polled = records.Single(r => r.GetProperty("kind").GetString() == "rest" && r.GetProperty("query").TryGetProperty("variable", out var v)
                                         && v.GetString() == "CHANNEL(rtcp,all)").GetProperty("response").GetProperty("body").GetProperty("value").GetString();
        var atEnd = records.Single(r => r.GetProperty("kind").GetString() == "event" && r.GetProperty("event").GetProperty("type").GetString() == "ChannelVarset"
                                        && r.GetProperty("event").GetProperty("variable").GetString() == "RTPAUDIOQOS").GetProperty("event").GetProperty("value").GetString();
        foreach (var text in new[] { polled, atEnd })
        {
            var m = RtcpSummary.Parse(text);
            Assert.NotNull(m);
            Assert.Equal(0, m.Value.RttMs); // the lab's peer echoed RTP: no round trip, no loss
            Assert.Equal(0, m.Value.Loss);
        }
        Assert.Equal(new RtcpSummary(12.5, 0.1, 1, 90, 10), RtcpSummary.Parse("ssrc=1;themssrc=2;lp=10;rxjitter=0.001000;rxcount=90;txjitter=0.0;txcount=100;rlp=0;rtt=0.012500;rxmes=0;txmes=0"));
        Assert.Null(RtcpSummary.Parse("garbage"));
        Assert.Null(RtcpSummary.Parse("ssrc=1;lp=0;rxcount=0;rtt=0.0")); // no packets yet: nothing to judge
    }

    /// <summary>
    /// Lab capture j: a callee bridged to an agent phone, both far ends echoing, loops every packet; Asterisk then counts a
    /// 65,536-packet cycle at each backward sequence jump, and the call's RTPAUDIOQOS read as 99.9 % loss (the false trip of
    /// carrier-a at 15 calls/s). More packets than one stream carries in the time is no reading; real loss still is one.
    /// </summary>
    [Fact]
    public void Rtcp_counts_no_stream_can_carry_are_no_reading()
    {
        var records = Fixtures.Load("lab/j_rtcp_sequence_jumps_rtp_loop.jsonl");
        var events = records.Where(r => r.GetProperty("kind").GetString() == "event").Select(r => r.GetProperty("event")).ToList();
        var atEnd = events.First(e => e.GetProperty("type").GetString() == "ChannelVarset" && e.GetProperty("variable").GetString() == "RTPAUDIOQOS"
                                      && e.GetProperty("channel").GetProperty("id").GetString() == "dialer-j1-x").GetProperty("value").GetString();
        var looped = RtcpSummary.Parse(atEnd)!.Value;
        Assert.True(looped.Loss > 0.99, $"Asterisk's figures read as {looped.Loss:P1} loss");
        Assert.Null(looped.Since(null, TimeSpan.FromSeconds(9))); // the call was up 9 s: 85,544 received and 641,974,037 "lost"
        var polls = records.Where(r => r.GetProperty("kind").GetString() == "rest" && r.GetProperty("path").GetString() == "/ari/channels/dialer-j1-x/variable"
                                       && r.GetProperty("response").GetProperty("status").GetInt32() == 200).ToList();
        RtcpSummary Reading(int i) => RtcpSummary.Parse(polls[i].GetProperty("response").GetProperty("body").GetProperty("value").GetString())!.Value;
        var gap = TimeSpan.FromMilliseconds(polls[1].GetProperty("t_ms").GetDouble() - polls[0].GetProperty("t_ms").GetDouble());
        Assert.Equal(0, Reading(1).Since(Reading(0), gap)!.Value.Loss); // before the bridge: 50 packets a second, none lost
        var lossy = RtcpSummary.Parse("ssrc=1;themssrc=2;lp=10;rxjitter=0.001000;rxcount=90;txjitter=0.0;txcount=100;rlp=0;rtt=0.012500;rxmes=0;txmes=0")!.Value;
        Assert.Equal(0.1, lossy.Since(null, TimeSpan.FromSeconds(2))!.Value.Loss, 3);
        Assert.Null(lossy.Since(lossy, TimeSpan.FromSeconds(2))); // frozen: nothing arrived since
    }

    /// <summary>Lab capture j on the emulator: calls whose far end jumps its sequence numbers keep their trunk in service.</summary>
    [Fact]
    public async Task A_trunk_whose_calls_jump_their_rtp_sequence_stays_in_service()
    {
        string[] phones = [.. Enumerable.Range(1, 8).Select(i => $"+2{i:000}")];
        var scenario = new EmulatorScenario { TimeScale = 0.02, TrunkSequenceJumps = ["carrier-a"] };
        await using var rig = await Rig.StartAsync(scenario, phones, agents: 2,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(10), BreakerCooldown = TimeSpan.FromMinutes(5), RtcpPollEvery = TimeSpan.FromMilliseconds(100), EveryCallQuality = true },
            trunks: [Rig.Trunk("carrier-a", 0.005), Rig.Trunk("carrier-b", 0.02)]);
        await rig.WaitDone(TimeSpan.FromSeconds(20));
        Assert.Equal(BreakerState.Closed, rig.Driver.Health.State(0));
        Assert.Equal(0, rig.Driver.Stats.BreakerTrips);
        Assert.Equal(phones.Length, rig.Engine.Stats.TrunkCalls[0]); // the cheaper trunk kept every call
    }

    /// <summary>
    /// A callee who hangs up while alone in the app (waiting for an agent, here: four lines for one agent) ends with cause 0
    /// on a real Asterisk (lab README), which blames nobody: before, three of those in a row opened the trunk's breaker
    /// (the load run at 30 calls/s took carrier-a out so) and the next calls went to the dearer trunk.
    /// </summary>
    [Fact]
    public async Task Callees_hanging_up_while_waiting_leave_their_trunk_in_service()
    {
        string[] phones = [.. Enumerable.Range(1, 12).Select(i => $"+2{i:000}")]; // 2…: answers at once, hangs up 6 s (scaled) later
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.02 }, phones, agents: 1,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(10), BreakerFailures = 3, BreakerCooldown = TimeSpan.FromMinutes(5) },
            trunks: [Rig.Trunk("carrier-a", 0.005), Rig.Trunk("carrier-b", 0.02)], overdial: 4);
        await rig.WaitDone(TimeSpan.FromSeconds(30));
        Assert.True(rig.Engine.Stats.Connected < phones.Length, "some callees hung up before reaching the agent (the case under test)");
        Assert.Equal(0, rig.Driver.Stats.BreakerTrips);
        Assert.Equal(phones.Length, rig.Engine.Stats.TrunkCalls[0]);
    }

    /// <summary>
    /// A carrier losing a fifth of its packets: every answered call's RTPAUDIOQOS (set by Asterisk as the call ends) reports it,
    /// the trunk goes out, and the next calls take the other trunk. A trunk whose endpoint Asterisk lacks is out from the start.
    /// </summary>
    [Fact]
    public async Task A_lossy_trunk_is_taken_out_by_its_calls_rtcp_and_a_missing_endpoint_from_the_start()
    {
        string[] phones = [.. Enumerable.Range(1, 8).Select(i => $"+2{i:000}")];
        var scenario = new EmulatorScenario { TimeScale = 0.02, TrunkLoss = { ["carrier-a"] = 0.2 } };
        await using var rig = await Rig.StartAsync(scenario, phones, agents: 2,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(10), BreakerCooldown = TimeSpan.FromMinutes(5), RtcpPollEvery = TimeSpan.Zero, EveryCallQuality = true },
            trunks: [Rig.Trunk("carrier-a", 0.005), Rig.Trunk("carrier-b", 0.02), Rig.Trunk("carrier-z", 0.001)]);
        Assert.False(rig.Driver.IsAvailable(2)); // no PJSIP endpoint 'carrier-z' on this Asterisk
        Assert.Equal(BreakerState.Closed, rig.Driver.Health.State(2)); // out by its endpoint, not by a breaker that would hold it out for a cool-down
        await rig.WaitDone(TimeSpan.FromSeconds(20));
        Assert.Equal(BreakerState.Open, rig.Driver.Health.State(0));
        Assert.InRange(rig.Driver.Health.Loss(0), 0.19, 0.21);
        var perTrunk = rig.Engine.Stats.TrunkCalls;
        Assert.Equal(0, perTrunk[2]);
        Assert.InRange(perTrunk[0], 1, 3); // the calls up (two agents) when the first summary arrived
        Assert.Equal(phones.Length - perTrunk[0], perTrunk[1]);
    }

    /// <summary>
    /// A carrier whose calls' RTCP round trip is far over the limit is taken out (the driver no longer hears qualify round
    /// trips: it polls endpoint states instead of subscribing to them); after the cool-down a probe call that ends well
    /// brings it back.
    /// </summary>
    [Fact]
    public async Task A_slow_trunk_is_taken_out_by_its_calls_round_trip_and_probed_back()
    {
        string[] phones = [.. Enumerable.Range(1, 12).Select(i => $"+2{i:000}")];
        var scenario = new EmulatorScenario { TimeScale = 0.02, TrunkRttMs = { ["carrier-a"] = 900, ["carrier-b"] = 20 } };
        await using var rig = await Rig.StartAsync(scenario, phones, agents: 1,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(10), MaxRttMs = 500, BreakerCooldown = TimeSpan.FromMilliseconds(500), RtcpPollEvery = TimeSpan.Zero, EveryCallQuality = true },
            trunks: [Rig.Trunk("carrier-a", 0.005), Rig.Trunk("carrier-b", 0.02)]);
        await Rig.Until(() => rig.Driver.Health.State(0) != BreakerState.Closed, TimeSpan.FromSeconds(10), "carrier-a out by its first call's round trip");
        scenario.TrunkRttMs["carrier-a"] = 30;
        await Rig.Until(() => rig.Driver.Health.State(0) == BreakerState.Closed, TimeSpan.FromSeconds(10), "carrier-a back after a probe call");
        await rig.WaitDone(TimeSpan.FromSeconds(30));
        Assert.Equal(BreakerState.Closed, rig.Driver.Health.State(1));
        Assert.True(rig.Engine.Stats.TrunkCalls[1] > 0, "calls went to carrier-b while carrier-a was out");
        Assert.True(rig.Engine.Stats.TrunkCalls[0] >= 2, "the call that tripped carrier-a and the probe that brought it back");
    }
}

/// <summary>Places nothing until <see cref="Open"/>, then what the inner pacer says; asks again every 50 ms meanwhile.</summary>
internal sealed class GatedPacer(IPacer inner) : IPacer
{
    public volatile bool Open;
    public string Name => inner.Name;
    public bool ReactsToEvents => inner.ReactsToEvents;
    public PacingDecision Decide(DialerState state) => Open ? inner.Decide(state) : new(0, state.Now + 0.05);
}
