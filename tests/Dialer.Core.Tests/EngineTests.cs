using Dialer.Core.Pacing;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Tests;

public class EngineTests
{
    private static readonly DateTime T0 = Make.T0;

    [Fact]
    public void Live_answer_goes_to_the_longest_idle_agent_at_once()
    {
        var (engine, control, pacer, _) = Make.Engine(2, [Make.Lead(1)]);
        engine.Handle(EngineEvent.Login(1), T0);
        engine.Handle(EngineEvent.Login(0), T0.AddSeconds(5));
        pacer.Next = 1;
        engine.Tick(T0.AddSeconds(6));
        var call = Assert.Single(control.Originated);
        engine.Handle(EngineEvent.Answered(call.Id, human: true), T0.AddSeconds(10));
        Assert.Contains($"connect {call.Id} to a1", control.Log); // a1 has waited longest
        Assert.Equal(CallPhase.Connected, call.Phase);
        Assert.Equal(1, engine.Stats.Connected);
        Assert.Equal(0, engine.Stats.AnswerToAgentPercentile(0.95));
    }

    [Fact]
    public void Live_callee_nobody_takes_within_2_s_gets_safe_harbor_and_counts_abandoned()
    {
        var (engine, control, pacer, _) = Make.Engine(1, [Make.Lead(1), Make.Lead(2)]);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 2;
        engine.Tick(T0);
        var (c1, c2) = (control.Originated[0], control.Originated[1]);
        pacer.Interval = 3600;
        engine.Handle(EngineEvent.Answered(c1.Id, true), T0.AddSeconds(8));
        engine.Handle(EngineEvent.Answered(c2.Id, true), T0.AddSeconds(9));
        Assert.Equal(CallPhase.Waiting, c2.Phase);
        Assert.Equal(T0.AddSeconds(11).AddTicks(1), engine.NextWakeAt);
        engine.Tick(T0.AddSeconds(10.9));
        Assert.DoesNotContain($"safe-harbor {c2.Id}", control.Log);
        engine.Tick(engine.NextWakeAt);
        Assert.Contains($"safe-harbor {c2.Id}", control.Log);
        Assert.Equal(1, engine.Stats.Abandoned);
        Assert.Equal(2, engine.Stats.LiveAnswers);
        Assert.Equal(0.5, engine.Stats.AbandonRate, 12);
        engine.Handle(EngineEvent.Ended(c2.Id), T0.AddSeconds(20));
        Assert.Equal(CallOutcome.Abandoned, c2.Outcome);
    }

    [Fact]
    public void Agent_freed_within_the_grace_takes_the_waiting_callee()
    {
        var (engine, control, pacer, _) = Make.Engine(1, [Make.Lead(1), Make.Lead(2)]);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 2;
        engine.Tick(T0);
        var (c1, c2) = (control.Originated[0], control.Originated[1]);
        engine.Handle(EngineEvent.Answered(c1.Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Answered(c2.Id, true), T0.AddSeconds(6));
        engine.Handle(EngineEvent.Ended(c1.Id), T0.AddSeconds(6.5));
        Assert.Equal(AgentState.WrapUp, engine.State.AgentStates[0]);
        engine.Handle(EngineEvent.Ready(0), T0.AddSeconds(7.5));
        Assert.Contains($"connect {c2.Id} to a0", control.Log);
        Assert.Equal(0, engine.Stats.Abandoned);
        Assert.Equal(1500, engine.Stats.AnswerToAgentPercentile(0.95));
    }

    [Fact]
    public void Callee_hanging_up_while_waiting_is_abandoned_and_machines_are_hung_up()
    {
        var (engine, control, pacer, _) = Make.Engine(0, [Make.Lead(1), Make.Lead(2)]);
        pacer.Next = 2;
        engine.Tick(T0);
        var (c1, c2) = (control.Originated[0], control.Originated[1]);
        engine.Handle(EngineEvent.Answered(c1.Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Ended(c1.Id), T0.AddSeconds(6));
        Assert.Equal(CallOutcome.Abandoned, c1.Outcome);
        Assert.Equal(1, engine.Stats.Abandoned);
        engine.Handle(EngineEvent.Answered(c2.Id, false), T0.AddSeconds(7));
        Assert.Contains($"hangup {c2.Id}", control.Log);
        engine.Handle(EngineEvent.Ended(c2.Id), T0.AddSeconds(7));
        Assert.Equal(CallOutcome.Machine, c2.Outcome);
        Assert.Equal(1, engine.Stats.MachineAnswers);
    }

    [Theory]
    [InlineData(CallOutcome.None, 17, CallOutcome.Busy)]
    [InlineData(CallOutcome.None, 19, CallOutcome.NoAnswer)]
    [InlineData(CallOutcome.None, 1, CallOutcome.BadNumber)]
    [InlineData(CallOutcome.None, 21, CallOutcome.Rejected)]
    [InlineData(CallOutcome.None, 34, CallOutcome.Congestion)]
    [InlineData(CallOutcome.Busy, 16, CallOutcome.Busy)]
    public void Unanswered_calls_are_classified_by_cause(CallOutcome reported, int cause, CallOutcome expected)
    {
        var (engine, control, pacer, _) = Make.Engine(0, [Make.Lead(1)]);
        pacer.Next = 1;
        engine.Tick(T0);
        var call = control.Originated[0];
        engine.Handle(EngineEvent.Ended(call.Id, reported, cause), T0.AddSeconds(3));
        Assert.Equal(expected, call.Outcome);
        Assert.Equal(0, engine.State.Ringing);
        Assert.Equal(1, engine.Stats.Outcomes[(int)expected]);
    }

    [Fact]
    public void Logout_during_a_call_takes_effect_when_it_ends_and_agent_time_is_accounted()
    {
        var (engine, control, pacer, _) = Make.Engine(1, [Make.Lead(1)]);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 1;
        engine.Tick(T0);
        var call = control.Originated[0];
        engine.Handle(EngineEvent.Answered(call.Id, true), T0.AddSeconds(10));
        engine.Handle(EngineEvent.Logout(0), T0.AddSeconds(20));
        Assert.Equal(AgentState.Talking, engine.State.AgentStates[0]);
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(70));
        Assert.Equal(AgentState.LoggedOut, engine.State.AgentStates[0]);
        engine.Close(T0.AddSeconds(100));
        Assert.Equal(10, engine.Stats.AgentSeconds[(int)AgentState.Ready], 6);
        Assert.Equal(60, engine.Stats.AgentSeconds[(int)AgentState.Talking], 6);
        Assert.Equal(70, engine.Stats.AgentLoggedInSeconds[0], 6);
    }

    [Fact]
    public void When_the_last_agent_leaves_ringing_calls_are_hung_up_and_retried_later()
    {
        var (engine, control, pacer, hopper) = Make.Engine(2, [Make.Lead(1), Make.Lead(2), Make.Lead(3)]);
        engine.Handle(EngineEvent.Login(0), T0);
        engine.Handle(EngineEvent.Login(1), T0);
        pacer.Next = 3;
        engine.Tick(T0);
        engine.Handle(EngineEvent.Answered(control.Originated[0].Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Logout(1), T0.AddSeconds(6));
        Assert.DoesNotContain(control.Log, l => l.StartsWith("hangup")); // agent 0 is still here
        engine.Handle(EngineEvent.Logout(0), T0.AddSeconds(7)); // talking: leaves after the call
        Assert.Contains($"hangup {control.Originated[1].Id}", control.Log);
        Assert.Contains($"hangup {control.Originated[2].Id}", control.Log);
        Assert.DoesNotContain($"hangup {control.Originated[0].Id}", control.Log);
        engine.Handle(EngineEvent.Ended(control.Originated[1].Id), T0.AddSeconds(7));
        Assert.Equal(CallOutcome.NoAnswer, control.Originated[1].Outcome);
        Assert.Equal(1, hopper.Pending); // lead 2 is back in the hopper, waiting for its retry
    }

    [Fact]
    public void Pause_asked_during_a_call_starts_when_wrap_up_ends_and_the_agent_stops_counting_as_supply()
    {
        var (engine, control, pacer, _) = Make.Engine(1, [Make.Lead(1)]);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 1;
        engine.Tick(T0);
        var call = control.Originated[0];
        engine.Handle(EngineEvent.Answered(call.Id, true), T0.AddSeconds(5));
        engine.Handle(EngineEvent.Pause(0, "lunch"), T0.AddSeconds(6));
        Assert.Equal(AgentState.Talking, engine.State.AgentStates[0]);
        Assert.True(engine.State.Leaving[0]);
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(30));
        Assert.Equal(AgentState.WrapUp, engine.State.AgentStates[0]);
        Assert.Equal(0, new PredictivePacer(new PredictiveOptions()).Decide(engine.State).CallsToPlace);
        engine.Handle(EngineEvent.Ready(0), T0.AddSeconds(45));
        Assert.Equal(AgentState.Paused, engine.State.AgentStates[0]);
        Assert.Equal("lunch", engine.State.Agents[0].PauseReason);
        Assert.False(engine.State.Leaving[0]);
        engine.Handle(EngineEvent.Ready(0), T0.AddSeconds(600));
        Assert.Equal(AgentState.Ready, engine.State.AgentStates[0]);
    }

    [Fact]
    public void A_clock_stepped_back_holds_engine_time_instead_of_throwing()
    {
        var (engine, control, pacer, _) = Make.Engine(1, [Make.Lead(1)]);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 1;
        engine.Tick(T0.AddSeconds(10));
        var call = control.Originated[0];
        engine.Handle(EngineEvent.Answered(call.Id, human: true), T0.AddSeconds(9)); // the wall clock stepped back 1 s
        Assert.Equal(10, engine.State.Now);
        Assert.Equal(T0.AddSeconds(10), call.AnsweredAt);
        engine.Tick(T0);
        Assert.Equal(10, engine.State.Now);
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(70));
        Assert.Equal(60, call.TalkSeconds, 6);
    }

    [Fact]
    public void Skill_bound_leads_wait_while_no_able_agent_is_free_and_others_go_first()
    {
        var catalog = new SkillCatalog();
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, Routing = [new RoutingRule(null, "gd", new Dictionary<string, byte> { ["lang:cantonese"] = 1 })] };
        var gd = Make.Lead(1, priority: 5, region: "gd");
        var bj = Make.Lead(2, region: "bj");
        new Routing.RoutingRules(campaign, catalog, new RequirementTable()).Apply(gd);
        var (engine, control, pacer, _) = Make.Engine(1, [gd, bj], campaign, [new SkillSet()]);
        engine.Handle(EngineEvent.Login(0), T0);
        pacer.Next = 1;
        engine.Tick(T0);
        // The only agent speaks no Cantonese: the higher-priority Guangdong lead waits, Beijing goes.
        Assert.Equal(2, Assert.Single(control.Originated).Lead.Id);
    }

    [Fact]
    public void A_pool_that_takes_anyone_is_not_counted_whole_for_its_own_callees_while_others_are_expected()
    {
        var catalog = new SkillCatalog();
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, Routing = [new RoutingRule(null, "vip", new Dictionary<string, byte> { ["seniority"] = 2 })] };
        // 24 ordinary leads first, then a high-value one (seniors only), then ordinary ones again.
        var leads = Enumerable.Range(1, 24).Select(i => Make.Lead(i, priority: 9)).Append(Make.Lead(25, priority: 5, region: "vip"))
            .Concat(Enumerable.Range(26, 10).Select(i => Make.Lead(i))).ToList();
        new Routing.RoutingRules(campaign, catalog, new RequirementTable()).Apply(leads[24]);
        var senior = SkillSet.From(catalog, [new("seniority", 2)]);
        // Four generalists and four seniors, all ready; seniors can take anyone.
        var (engine, control, pacer, _) = Make.Engine(8, leads, campaign, [new(), new(), new(), new(), senior, senior, senior, senior]);
        for (var a = 0; a < 8; a++) engine.Handle(EngineEvent.Login(a), T0);
        pacer.Next = 24;
        engine.Tick(T0);
        Assert.Equal(24, control.Originated.Count);
        // 24 ordinary calls ringing promise 7.2 live answers for 8 agents: the seniors will mostly be taken by them, so
        // the high-value lead (whose callee only a senior may take) waits and an ordinary one goes.
        pacer.Next = 1;
        engine.Tick(T0.AddSeconds(0.5));
        Assert.Equal(26, control.Originated[^1].Lead.Id);
    }
}
