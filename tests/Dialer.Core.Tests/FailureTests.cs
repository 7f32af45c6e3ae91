using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Tests;

/// <summary>What the engine does when the world fails it: late events, failed commands, a store that is behind, trunks out.</summary>
public class FailureTests
{
    private static readonly DateTime T0 = Make.T0;

    /// <summary>Logs in <paramref name="agents"/> agents, places <paramref name="calls"/> calls and returns them.</summary>
    private static (DialerEngine Engine, RecordingControl Control, ScriptedPacer Pacer, List<Call> Calls) Placed(int agents, int calls, IAttemptLog? log = null)
    {
        var (engine, control, pacer, _) = Make.Engine(agents, Enumerable.Range(1, calls).Select(i => Make.Lead(i)), log: log);
        for (var a = 0; a < agents; a++) engine.Handle(EngineEvent.Login(a), T0);
        pacer.Next = calls;
        pacer.Interval = 3600;
        engine.Tick(T0);
        return (engine, control, pacer, control.Originated.ToList());
    }

    [Fact]
    public void The_2_s_run_from_the_answer_not_from_when_the_event_is_handled_and_lateness_is_measured()
    {
        var (engine, control, _, calls) = Placed(agents: 1, calls: 2);
        engine.Handle(EngineEvent.Answered(calls[0].Id, true), T0.AddSeconds(5));
        // Answered at 6.0, handled at 7.5 (a busy loop): the deadline is 8.0, not 9.5.
        engine.Handle(EngineEvent.Answered(calls[1].Id, true, at: T0.AddSeconds(6)), T0.AddSeconds(7.5));
        Assert.Equal(T0.AddSeconds(6), calls[1].AnsweredAt);
        Assert.Equal(T0.AddSeconds(8).AddTicks(1), engine.NextWakeAt);
        engine.Tick(T0.AddSeconds(8.25));
        Assert.Contains($"safe-harbor {calls[1].Id}", control.Log);
        Assert.Equal(1, engine.Stats.SafeHarborLateness.Count);
        Assert.Equal(250, engine.Stats.SafeHarborLateness.Percentile(0.99));
    }

    /// <summary>
    /// The safe-harbor message must start within the 2 s, so it leaves as early as the telephony needs to start it: on a
    /// real Asterisk it began 21 ms after a command sent at exactly 2.00 s (issue 11's lab), i.e. too late.
    /// </summary>
    [Fact]
    public void The_safe_harbor_command_leaves_the_drivers_command_lead_before_the_2_s_are_up()
    {
        var (engine, control, pacer, _) = Make.Engine(1, Enumerable.Range(1, 2).Select(i => Make.Lead(i)), commandLead: TimeSpan.FromMilliseconds(250));
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 2;
        pacer.Interval = 3600;
        engine.Tick(T0);
        var calls = control.Originated.ToList();
        engine.Handle(EngineEvent.Answered(calls[0].Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Answered(calls[1].Id, true), T0.AddSeconds(6));
        Assert.Equal(T0.AddSeconds(7.75).AddTicks(1), engine.NextWakeAt);
        engine.Tick(T0.AddSeconds(7.75).AddTicks(1));
        Assert.Contains($"safe-harbor {calls[1].Id}", control.Log);
        Assert.Equal(0, engine.Stats.SafeHarborLateness.Percentile(1)); // on time: lateness counts from the send-by moment
    }

    [Fact]
    public void Deadlines_are_checked_between_events_not_only_on_ticks()
    {
        var (engine, control, _, calls) = Placed(agents: 1, calls: 2);
        engine.Handle(EngineEvent.Answered(calls[0].Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Answered(calls[1].Id, true), T0.AddSeconds(6));
        engine.Handle(EngineEvent.Pause(0, "x"), T0.AddSeconds(8.5)); // any event past the deadline
        Assert.Equal(CallPhase.SafeHarbor, calls[1].Phase);
        Assert.Equal(500, engine.Stats.SafeHarborLateness.Percentile(1));
    }

    [Fact]
    public void A_failed_bridge_goes_to_another_agent_within_the_2_s_and_the_agent_is_ready_again()
    {
        var (engine, control, _, calls) = Placed(agents: 2, calls: 1);
        var call = calls[0];
        engine.Handle(EngineEvent.Answered(call.Id, true), T0.AddSeconds(5));
        var first = call.Agent!;
        engine.Handle(EngineEvent.Failed(call.Id, CallCommand.Connect, "addChannel: 500", first.Index), T0.AddSeconds(5.1));
        var second = call.Agent!;
        Assert.NotEqual(first.Index, second.Index);
        Assert.Contains($"connect {call.Id} to {second.Id}", control.Log);
        Assert.Equal(AgentState.Ready, engine.State.AgentStates[first.Index]);
        Assert.Equal(AgentState.Talking, engine.State.AgentStates[second.Index]);
        Assert.Equal(1, engine.Stats.Connected);
        Assert.Equal(1, engine.Stats.CommandFailures[(int)CallCommand.Connect]);
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(60));
        Assert.Equal(CallOutcome.Human, call.Outcome);
    }

    [Fact]
    public void A_failed_bridge_with_nobody_else_free_is_tried_again_with_the_same_agent_then_waits_then_gets_safe_harbor()
    {
        var (engine, control, _, calls) = Placed(agents: 1, calls: 1);
        var call = calls[0];
        engine.Handle(EngineEvent.Answered(call.Id, true), T0.AddSeconds(5));
        for (var i = 1; i <= DialerEngine.MaxBridgeRetries; i++)
        {
            engine.Handle(EngineEvent.Failed(call.Id, CallCommand.Connect, "addChannel: 503", 0), T0.AddSeconds(5 + 0.1 * i));
            Assert.Equal(CallPhase.Connected, call.Phase); // Asterisk's passing trouble: the same agent again, within the 2 s
            Assert.Equal(1 + i, control.Log.Count(l => l == $"connect {call.Id} to a0"));
        }
        engine.Handle(EngineEvent.Failed(call.Id, CallCommand.Connect, "bridge gone", 0), T0.AddSeconds(5.5));
        Assert.Equal(CallPhase.Waiting, call.Phase);
        Assert.Equal(AgentState.Ready, engine.State.AgentStates[0]);
        Assert.Equal(0, engine.Stats.Connected);
        engine.Tick(T0.AddSeconds(7));
        Assert.Contains($"safe-harbor {call.Id}", control.Log);
        Assert.Equal(1, engine.Stats.Abandoned);
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(12));
        Assert.Equal(CallOutcome.Abandoned, call.Outcome);
    }

    [Fact]
    public void A_matched_callee_the_driver_saw_go_without_reaching_the_agent_closes_abandoned_and_counts()
    {
        var (engine, _, _, calls) = Placed(agents: 1, calls: 1);
        var call = calls[0];
        engine.Handle(EngineEvent.Answered(call.Id, true), T0.AddSeconds(5));
        Assert.Equal(CallPhase.Connected, call.Phase);
        engine.Handle(EngineEvent.Ended(call.Id, CallOutcome.Abandoned), T0.AddSeconds(9)); // the bridge never made it (slow Asterisk)
        Assert.Equal(CallOutcome.Abandoned, call.Outcome);
        Assert.Equal(1, engine.Stats.Abandoned);
        Assert.Equal(1, engine.State.Ledger.AbandonedToday);
        Assert.Equal(AgentState.WrapUp, engine.State.AgentStates[0]); // the agent was held for them all the same
    }

    /// <summary>
    /// A callee up in AMD, before any verdict reached the engine, whose call ends (hung up at a stop, or while the last agent
    /// left and the ringing calls were called off): the driver says answered and heard nobody. The answer is Asterisk's fact,
    /// so the call is a live answer abandoned, never "no answer" (RestFaultTests, a CI run before this: closed as no_answer).
    /// </summary>
    [Fact]
    public void A_callee_the_driver_saw_answer_before_any_verdict_closes_abandoned_even_when_called_off()
    {
        var (engine, control, _, calls) = Placed(agents: 1, calls: 2);
        engine.Handle(EngineEvent.Logout(0), T0.AddSeconds(3)); // the last agent goes: both ringing calls are called off
        Assert.Contains($"hangup {calls[0].Id}", control.Log);
        engine.Handle(EngineEvent.Ended(calls[0].Id, CallOutcome.Abandoned, cause: 16), T0.AddSeconds(3.2));
        engine.Handle(EngineEvent.Ended(calls[1].Id, CallOutcome.None, cause: 16), T0.AddSeconds(3.2));
        Assert.Equal(CallOutcome.Abandoned, calls[0].Outcome);
        Assert.Equal(T0.AddSeconds(3.2), calls[0].AnsweredAt);
        Assert.Equal(CallOutcome.NoAnswer, calls[1].Outcome); // never answered: called off
        Assert.Equal(1, engine.Stats.LiveAnswers);
        Assert.Equal(1, engine.Stats.Abandoned);
        Assert.Equal(1, engine.State.Ledger.LiveToday);
        Assert.Equal(1, engine.State.Ledger.AbandonedToday);
    }

    [Fact]
    public void A_failed_AMD_continue_is_treated_as_a_live_callee()
    {
        var (engine, control, _, calls) = Placed(agents: 1, calls: 1);
        var call = calls[0];
        engine.Handle(EngineEvent.Failed(call.Id, CallCommand.Continue, "continue: 404", at: T0.AddSeconds(4)), T0.AddSeconds(4.1));
        Assert.Equal(CallPhase.Connected, call.Phase);
        Assert.Equal(T0.AddSeconds(4), call.AnsweredAt);
        Assert.Contains($"connect {call.Id} to a0", control.Log);
        Assert.Equal(1, engine.Stats.LiveAnswers);
    }

    [Fact]
    public void A_failed_safe_harbor_hangs_up_and_stays_abandoned_and_a_failed_hangup_is_retried_then_left_to_reconciliation()
    {
        var (engine, control, _, calls) = Placed(agents: 0, calls: 1);
        var call = calls[0];
        engine.Handle(EngineEvent.Answered(call.Id, true), T0.AddSeconds(5));
        engine.Tick(T0.AddSeconds(7));
        Assert.Equal(CallPhase.SafeHarbor, call.Phase);
        engine.Handle(EngineEvent.Failed(call.Id, CallCommand.SafeHarbor, "play: 500"), T0.AddSeconds(7.1));
        Assert.Contains($"hangup {call.Id}", control.Log);
        for (var i = 0; i < DialerEngine.MaxHangups; i++)
            engine.Handle(EngineEvent.Failed(call.Id, CallCommand.Hangup, "hangup: 500"), T0.AddSeconds(8 + i));
        Assert.Equal(DialerEngine.MaxHangups, control.Log.Count(l => l == $"hangup {call.Id}"));
        Assert.Equal(1, engine.Stats.HangupsGivenUp);
        Assert.Equal(1, engine.Stats.Abandoned);
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(20));
        Assert.Equal(CallOutcome.Abandoned, call.Outcome);
    }

    [Fact]
    public void A_failed_originate_ends_as_network_trouble_and_the_lead_keeps_its_attempt()
    {
        var (engine, _, _, calls) = Placed(agents: 1, calls: 1);
        var call = calls[0];
        Assert.Equal(1, call.Lead.Attempts);
        engine.Handle(EngineEvent.Failed(call.Id, CallCommand.Originate, "ARI: connection refused"), T0.AddSeconds(0.2));
        Assert.Equal(CallOutcome.Congestion, call.Outcome);
        Assert.True(call.NeverPlaced);
        Assert.Equal(0, call.Lead.Attempts);
        Assert.Empty(engine.LiveCalls);
        Assert.Equal(0, engine.State.Ringing);
    }

    [Fact]
    public void Halt_sends_waiting_callees_to_safe_harbor_hangs_up_ringing_calls_and_places_no_more()
    {
        var (engine, control, pacer, calls) = Placed(agents: 1, calls: 3);
        engine.Handle(EngineEvent.Answered(calls[0].Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Answered(calls[1].Id, true), T0.AddSeconds(5.5));
        engine.Halt(T0.AddSeconds(6));
        Assert.Contains($"safe-harbor {calls[1].Id}", control.Log);
        Assert.Contains($"hangup {calls[2].Id}", control.Log);
        Assert.Equal(CallPhase.Connected, calls[0].Phase); // the conversation goes on
        pacer.Next = 5;
        engine.Tick(T0.AddSeconds(7));
        Assert.Equal(3, control.Originated.Count);
        // A live answer that comes in anyway is never left in silence.
        engine.Handle(EngineEvent.Answered(calls[2].Id, true), T0.AddSeconds(7.5));
        Assert.Contains($"safe-harbor {calls[2].Id}", control.Log);
    }

    [Fact]
    public void With_an_outbox_the_call_leaves_only_once_its_row_is_stored_and_nothing_is_placed_while_the_store_is_behind()
    {
        var log = new OutboxLog();
        var (engine, control, pacer, _) = Make.Engine(2, Enumerable.Range(1, 5).Select(i => Make.Lead(i)), log: log);
        engine.Handle(EngineEvent.Login(0), T0);
        engine.Handle(EngineEvent.Login(1), T0);
        pacer.Next = 2;
        engine.Tick(T0);
        Assert.Equal(2, log.Placed.Count);
        Assert.Empty(control.Originated);
        Assert.Equal(2, engine.State.Ringing); // counted as in flight: the pacer does not place them twice
        engine.Handle(EngineEvent.Stored(log.Placed[0].Id), T0.AddSeconds(0.01));
        Assert.Equal([log.Placed[0]], control.Originated);

        log.Accepting = false;
        pacer.Next = 2;
        engine.Tick(T0.AddSeconds(1));
        Assert.Equal(2, log.Placed.Count);
        Assert.True(engine.Stats.PlacementsHeldForStore > 0);
        log.Accepting = true;
        pacer.Next = 1;
        engine.Tick(T0.AddSeconds(2));
        Assert.Equal(3, log.Placed.Count);

        // The last agent leaves before the second row is stored: that call never leaves, and its lead keeps the attempt.
        var held = log.Placed[1];
        engine.Handle(EngineEvent.Logout(0), T0.AddSeconds(3));
        engine.Handle(EngineEvent.Logout(1), T0.AddSeconds(3));
        Assert.DoesNotContain($"hangup {held.Id}", control.Log);
        engine.Handle(EngineEvent.Stored(held.Id), T0.AddSeconds(3.1));
        Assert.DoesNotContain(held, control.Originated);
        Assert.True(held.NeverPlaced);
        Assert.Equal(0, held.Lead.Attempts);
        Assert.Contains(held, log.Finished);
    }

    [Fact]
    public void No_call_goes_out_on_a_trunk_taken_out_and_after_it_comes_back_placements_ramp_up()
    {
        var (engine, control, pacer, _) = Make.Engine(2, Enumerable.Range(1, 40).Select(i => Make.Lead(i)));
        engine.Handle(EngineEvent.Login(0), T0);
        engine.Handle(EngineEvent.Login(1), T0);
        engine.Handle(EngineEvent.TrunkAvailability(0, false, "ARI down"), T0);
        pacer.Next = 10;
        engine.Tick(T0.AddSeconds(1));
        Assert.Empty(control.Originated);
        engine.Handle(EngineEvent.TrunkAvailability(0, true, "ARI back"), T0.AddSeconds(30));
        pacer.Next = 10;
        engine.Tick(T0.AddSeconds(31));
        Assert.Equal(2, control.Originated.Count); // one per ready agent at first, not the pacer's 10
        pacer.Next = 10;
        engine.Tick(T0.AddSeconds(30 + engine.RecoveryRampSeconds));
        Assert.Equal(12, control.Originated.Count);
    }

    [Fact]
    public void Leads_whose_only_trunk_is_out_wait_while_the_leads_behind_them_go_out_at_the_other_trunks_rate()
    {
        // The "dead" trunk's leads come first in the order; its breaker is open. "live" takes 4 calls a second.
        var dead = Enumerable.Range(1, 3).Select(i => Make.Lead(i, phone: $"+861380000000{i}", priority: 1)).ToList();
        var rest = Enumerable.Range(10, 20).Select(i => Make.Lead(i, phone: $"+86150000000{i}"));
        var trunks = new[] { Make.Trunk("dead", rates: [("+86138", 0.01)]), Make.Trunk("live", cps: 4, rates: [("+86150", 0.02)]) };
        var (engine, control, pacer, hopper) = Make.Engine(20, dead.Concat(rest), trunks: trunks);
        for (var a = 0; a < 20; a++) engine.Handle(EngineEvent.Login(a), T0);
        engine.Handle(EngineEvent.TrunkAvailability(0, false, "breaker open"), T0);
        pacer.Interval = 10;
        pacer.Next = 10;
        engine.Tick(T0);
        Assert.Equal(4, control.Originated.Count); // the live trunk's burst, not nothing
        // The round ended on the live trunk's CPS: the engine wakes for its next token (0.25 s), not a millisecond later.
        Assert.Equal(T0.AddSeconds(0.25), engine.NextWakeAt.AddTicks(-1));
        for (var t = 0.25; t <= 1; t += 0.25)
        {
            pacer.Next = 10;
            engine.Handle(EngineEvent.Ready(0), T0.AddSeconds(t)); // an event (a stale one here): the pacer decides on events
        }
        Assert.Equal(8, control.Originated.Count); // 4 a second, the live trunk's rate
        Assert.All(control.Originated, c => Assert.Equal("live", c.TrunkName));
        Assert.Equal(23 - 8, hopper.Pending); // the dead trunk's leads were held back, undialed
        Assert.All(dead, l => Assert.Equal(0, l.Attempts));
        Assert.Equal(3, engine.Stats.LeadsHeldForTrunk); // once each: held out of the order, they are not looked at every round
        Assert.Equal(double.NegativeInfinity, engine.State.LeadsRanOutAt);

        // Back in service: once their hold is over they go first again, in their order.
        foreach (var c in control.Originated.ToList()) engine.Handle(EngineEvent.Ended(c.Id, CallOutcome.NoAnswer, 19), T0.AddSeconds(2));
        engine.Handle(EngineEvent.TrunkAvailability(0, true, "probe answered"), T0.AddSeconds(2));
        pacer.Next = 3;
        engine.Handle(EngineEvent.Ready(0), T0.AddSeconds(DialerEngine.TrunkOutHoldSeconds));
        Assert.Equal([1L, 2L, 3L], control.Originated.Skip(8).Select(c => c.Lead.Id));
        Assert.All(control.Originated.Skip(8), c => Assert.Equal("dead", c.TrunkName));
    }

    [Fact]
    public void A_block_of_leads_for_a_trunk_that_is_out_is_held_back_a_round_at_a_time_until_the_leads_behind_it_go()
    {
        var dead = Enumerable.Range(1, 100).Select(i => Make.Lead(i, phone: $"+86138{i:D8}", priority: 1));
        var rest = Enumerable.Range(1000, 5).Select(i => Make.Lead(i, phone: $"+86150{i:D8}"));
        var trunks = new[] { Make.Trunk("dead", rates: [("+86138", 0.01)]), Make.Trunk("live", rates: [("+86150", 0.02)]) };
        var (engine, control, pacer, _) = Make.Engine(5, dead.Concat(rest), trunks: trunks);
        for (var a = 0; a < 5; a++) engine.Handle(EngineEvent.Login(a), T0);
        engine.Handle(EngineEvent.TrunkAvailability(0, false, "breaker open"), T0);
        pacer.Next = 5;
        engine.Tick(T0);
        Assert.Empty(control.Originated); // a round holds 64 back at most (each is a store write), then waits a second
        Assert.Equal(64, engine.Stats.LeadsHeldForTrunk);
        pacer.Next = 5;
        engine.Tick(T0.AddSeconds(1));
        Assert.Equal(5, control.Originated.Count);
        Assert.All(control.Originated, c => Assert.Equal("live", c.TrunkName));
        Assert.Equal(100, engine.Stats.LeadsHeldForTrunk);
    }

    [Fact]
    public void A_lead_whose_trunk_is_full_ends_the_round_until_a_channel_frees_without_retrying_every_millisecond()
    {
        var leads = new[] { Make.Lead(1, phone: "+8613800000001", priority: 1), Make.Lead(2, phone: "+8613800000002", priority: 1), Make.Lead(3, phone: "+8615000000003") };
        var trunks = new[] { Make.Trunk("one-line", channels: 1, rates: [("+86138", 0.01)]), Make.Trunk("other", rates: [("+86150", 0.02)]) };
        var (engine, control, pacer, _) = Make.Engine(3, leads, trunks: trunks);
        for (var a = 0; a < 3; a++) engine.Handle(EngineEvent.Login(a), T0);
        pacer.Interval = 10;
        pacer.Next = 3;
        engine.Tick(T0);
        Assert.Equal([1L], control.Originated.Select(c => c.Lead.Id)); // lead 2 waits for the one line, and the order keeps lead 3 behind it
        Assert.Equal(T0.AddSeconds(10), engine.NextWakeAt.AddTicks(-1)); // the pacer's next decision: no wake-up for a channel
        pacer.Next = 2;
        engine.Handle(EngineEvent.Ended(control.Originated[0].Id, CallOutcome.NoAnswer, 19), T0.AddSeconds(1));
        Assert.Equal([1L, 2L, 3L], control.Originated.Select(c => c.Lead.Id));
    }

    [Fact]
    public void EndAll_closes_every_open_attempt_at_stop()
    {
        var log = new OutboxLog();
        var (engine, control, pacer, _) = Make.Engine(1, Enumerable.Range(1, 3).Select(i => Make.Lead(i)), log: log);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 3;
        engine.Tick(T0);
        engine.Handle(EngineEvent.Stored(log.Placed[0].Id), T0);
        engine.Handle(EngineEvent.Stored(log.Placed[1].Id), T0);
        engine.Handle(EngineEvent.Answered(log.Placed[0].Id, true), T0.AddSeconds(3));
        engine.Halt(T0.AddSeconds(4));
        engine.EndAll(T0.AddSeconds(5));
        Assert.Empty(engine.LiveCalls);
        Assert.Equal(3, log.Finished.Count);
        Assert.Equal([CallOutcome.Human, CallOutcome.NoAnswer, CallOutcome.Congestion], log.Placed.Select(c => c.Outcome));
        Assert.Equal(AgentState.WrapUp, engine.State.AgentStates[0]);
    }

    [Fact]
    public void A_call_adopted_after_a_restart_goes_on_with_its_agent_and_closes_normally()
    {
        var log = new OutboxLog();
        var (engine, control, _, _) = Make.Engine(2, [], log: log);
        var lead = Make.Lead(7);
        lead.Attempts = 2;
        var freeBefore = engine.State.FreeChannels;
        var dead = new ChannelOwner("node-dead", "renewals"); // taken over from a dead node: its channel id keeps that owner
        var call = engine.AdoptCall(5000, dead, lead, attempt: 2, trunk: 0, placedAt: T0.AddSeconds(-60), answeredAt: T0.AddSeconds(-50), agent: 1, T0);
        engine.Handle(EngineEvent.Login(0), T0); // the other agent's line, still in its bridge: logged in again at once
        Assert.Equal(dead.Call(5000), call.ChannelId);
        Assert.Equal(AgentState.Talking, engine.State.AgentStates[1]);
        Assert.Equal(AgentState.Ready, engine.State.AgentStates[0]);
        Assert.Equal(freeBefore - 1, engine.State.FreeChannels);
        Assert.Equal(0, engine.Stats.CallsPlaced); // counted by the engine that placed it
        engine.Handle(EngineEvent.Ended(5000), T0.AddSeconds(30));
        Assert.Equal(CallOutcome.Human, call.Outcome);
        Assert.Equal(80, call.TalkSeconds, 6);
        Assert.Equal([call], log.Finished);
        Assert.Equal(AgentState.WrapUp, engine.State.AgentStates[1]);
        Assert.Equal(freeBefore, engine.State.FreeChannels);
        Assert.Empty(control.Log);
    }

    /// <summary>An attempt log that queues like the store outbox: the test says when rows are stored and whether it accepts more.</summary>
    private sealed class OutboxLog : IAttemptLog
    {
        public List<Call> Placed { get; } = [];
        public List<Call> Finished { get; } = [];
        public bool Deferred => true;
        public bool Accepting { get; set; } = true;
        void IAttemptLog.Placed(Call call) => Placed.Add(call);
        void IAttemptLog.Finished(Call call) => Finished.Add(call);
    }
}
