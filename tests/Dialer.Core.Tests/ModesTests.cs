using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;
using Dialer.Core.Pacing;

namespace Dialer.Core.Tests;

public class PreviewTests
{
    private static readonly DateTime T0 = Make.T0;

    private static (DialerEngine Engine, RecordingControl Control, ScriptedPacer Pacer, RecordingDesk Desk) Preview(int agents, IEnumerable<Lead> leads, string? tag = null)
    {
        var desk = new RecordingDesk();
        var campaign = new CampaignConfig
        {
            TimeZone = Make.Shanghai, Mode = tag is null ? DialingMode.Preview : DialingMode.Predictive, PreviewTag = tag, PreviewTimeoutSeconds = 20,
        };
        var (engine, control, pacer, _) = Make.Engine(agents, leads, campaign, desk: desk);
        return (engine, control, pacer, desk);
    }

    [Fact]
    public void An_agent_logging_in_gets_an_offer_at_once_under_a_pacer_that_decides_on_ticks()
    {
        var desk = new RecordingDesk();
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, Mode = DialingMode.Preview };
        var (engine, _, _, _) = Make.Engine(1, [Make.Lead(1)], campaign, desk: desk, pacer: Pacers.Create("vicidial-tapered", new VicidialOptions(), new PredictiveOptions(), 0));
        engine.Handle(EngineEvent.Login(0), T0);
        Assert.Equal(1L, Assert.Single(desk.Offered).Lead.Id);
    }

    [Fact]
    public void Accepted_lead_is_dialed_for_that_agent_and_its_answer_skips_the_ledger()
    {
        var (engine, control, _, desk) = Preview(2, [Make.Lead(1, priority: 5), Make.Lead(2)]);
        engine.Handle(EngineEvent.Login(1), T0);
        engine.Handle(EngineEvent.Login(0), T0.AddSeconds(1));
        Assert.Equal(2, desk.Offered.Count);
        var first = desk.Offered[0];
        Assert.Equal(("a1", 1L), (first.Agent.Id, first.Lead.Id)); // the longest idle gets the best lead
        Assert.Empty(control.Originated); // nothing dialed before a yes
        Assert.Equal(2, engine.State.Count(AgentState.Previewing));

        engine.Handle(EngineEvent.Preview(1, first.Id, PreviewChoice.Accept), T0.AddSeconds(5));
        var call = Assert.Single(control.Originated);
        Assert.Same(first.Agent, call.ReservedFor);
        Assert.Equal(0, engine.State.Ringing); // not the pacer's to forecast
        engine.Handle(EngineEvent.Answered(call.Id, human: true), T0.AddSeconds(12));
        Assert.Contains($"connect {call.Id} to a1", control.Log);
        Assert.Equal((1L, 0, 0), (engine.Stats.LiveAnswers, engine.State.Ledger.LiveToday, engine.State.Ledger.AbandonedToday));
        engine.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(100));
        Assert.Equal(CallOutcome.Human, call.Outcome);
        Assert.Equal(AgentState.WrapUp, engine.State.AgentStates[1]);
        Assert.Equal(1, engine.Stats.PreviewsAccepted);
    }

    [Fact]
    public void Skip_callback_and_time_out_each_return_the_lead_their_way()
    {
        var (engine, control, _, desk) = Preview(2, [Make.Lead(1, priority: 3), Make.Lead(2, priority: 2), Make.Lead(3, priority: 1)]);
        engine.Handle(EngineEvent.Login(0), T0);
        var o1 = desk.Offered[^1];
        engine.Handle(EngineEvent.Preview(0, o1.Id, PreviewChoice.Skip, "customer in hospital"), T0.AddSeconds(3));
        var o2 = desk.Offered[^1];
        Assert.Equal(2, o2.Lead.Id); // the skipped lead waits out the skip delay
        engine.Handle(EngineEvent.Preview(0, o2.Id, PreviewChoice.Callback, callbackAt: T0.AddMinutes(10)), T0.AddSeconds(6));
        var o3 = desk.Offered[^1];
        Assert.Equal(3, o3.Lead.Id);
        // Nobody decides: after 20 s the lead goes back and the agent is paused.
        engine.Tick(T0.AddSeconds(27));
        Assert.Equal(AgentState.Paused, engine.State.AgentStates[0]);
        Assert.Contains(desk.Withdrawn, w => w.Offer == o3 && w.Reason == "timed out");
        engine.Handle(EngineEvent.Login(1), T0.AddSeconds(30));
        Assert.Equal(3, desk.Offered[^1].Lead.Id); // the timed-out lead is first again, for the other agent
        // A late answer to the old offer is ignored.
        engine.Handle(EngineEvent.Preview(0, o3.Id, PreviewChoice.Accept), T0.AddSeconds(31));
        Assert.Empty(control.Originated);
        Assert.Equal(1, engine.Stats.PreviewDecisionsStale);
        engine.Handle(EngineEvent.Preview(1, desk.Offered[^1].Id, PreviewChoice.Accept), T0.AddSeconds(32));
        var call = Assert.Single(control.Originated);
        Assert.Equal(3, call.Lead.Id);
        // Unanswered: the agent is free again; nothing is due until the callback.
        engine.Handle(EngineEvent.Ended(call.Id, cause: 19), T0.AddSeconds(60));
        Assert.Equal(CallOutcome.NoAnswer, call.Outcome);
        Assert.Equal(AgentState.Ready, engine.State.AgentStates[1]);
        Assert.Equal(4, desk.Offered.Count);
        engine.Tick(T0.AddMinutes(9));
        Assert.Equal(4, desk.Offered.Count);
        engine.Tick(T0.AddMinutes(10).AddSeconds(1));
        Assert.Equal((2L, "a1"), (desk.Offered[^1].Lead.Id, desk.Offered[^1].Agent.Id));
        Assert.Equal((1, 1, 1, 1), ((int)engine.Stats.PreviewsSkipped, (int)engine.Stats.PreviewCallbacks, (int)engine.Stats.PreviewsTimedOut, (int)engine.Stats.PreviewsAccepted));
    }

    [Fact]
    public void A_mixed_campaign_previews_tagged_leads_and_paces_the_rest()
    {
        var vip = new Lead { Id = 1, Phone = "+8613800000001", Region = "bj", TimeZone = Make.Shanghai, Priority = 9, Tags = ["high-value"] };
        var (engine, control, pacer, desk) = Preview(2, [vip, Make.Lead(2), Make.Lead(3)], tag: "high-value");
        engine.Handle(EngineEvent.Login(0), T0);
        Assert.Equal(1, Assert.Single(desk.Offered).Lead.Id); // the tagged lead goes to an agent's screen first
        engine.Handle(EngineEvent.Login(1), T0.AddSeconds(1));
        pacer.Next = 2;
        engine.Tick(T0.AddSeconds(2));
        Assert.Equal([2L, 3L], control.Originated.Select(c => c.Lead.Id)); // the pacer never dials the tagged lead
        Assert.All(control.Originated, c => Assert.Null(c.ReservedFor));
        // a0 is previewing, so only a1 takes a predictive answer.
        engine.Handle(EngineEvent.Answered(control.Originated[0].Id, true), T0.AddSeconds(8));
        engine.Handle(EngineEvent.Answered(control.Originated[1].Id, true), T0.AddSeconds(9));
        Assert.Contains($"connect {control.Originated[0].Id} to a1", control.Log);
        engine.Tick(T0.AddSeconds(11.5));
        Assert.Contains($"safe-harbor {control.Originated[1].Id}", control.Log);
        Assert.Equal((2, 1), (engine.State.Ledger.LiveToday, engine.State.Ledger.AbandonedToday));
    }

    [Fact]
    public void A_lead_needing_a_skill_is_offered_only_to_an_agent_who_has_it()
    {
        var catalog = new SkillCatalog();
        var campaign = new CampaignConfig
        {
            TimeZone = Make.Shanghai, Mode = DialingMode.Preview,
            Routing = [new RoutingRule(null, "vip", new Dictionary<string, byte> { ["seniority"] = 3 })],
        };
        var vip = Make.Lead(1, priority: 9, region: "vip"); // first in the order, for seniors only
        new Routing.RoutingRules(campaign, catalog, new RequirementTable()).Apply(vip);
        var desk = new RecordingDesk();
        var (engine, _, _, _) = Make.Engine(2, [vip, Make.Lead(2)], campaign, [new(), SkillSet.From(catalog, [new("seniority", 3)])], desk: desk);
        engine.Handle(EngineEvent.Login(0), T0); // the junior, longest idle
        Assert.Equal(("a0", 2L), (desk.Offered[^1].Agent.Id, desk.Offered[^1].Lead.Id));
        engine.Handle(EngineEvent.Login(1), T0.AddSeconds(1));
        Assert.Equal(("a1", 1L), (desk.Offered[^1].Agent.Id, desk.Offered[^1].Lead.Id));
    }

    [Fact]
    public void An_accept_after_the_calling_window_closed_dials_nothing_and_the_lead_waits_for_the_window()
    {
        var desk = new RecordingDesk();
        // The window closes 30 s after the offer; the agent says yes after 40 s.
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, Mode = DialingMode.Preview, PreviewTimeoutSeconds = 60, WindowEnd = new TimeOnly(10, 0, 30) };
        var (engine, control, _, _) = Make.Engine(1, [Make.Lead(1)], campaign, desk: desk);
        engine.Handle(EngineEvent.Login(0), T0);
        var offer = Assert.Single(desk.Offered);
        engine.Handle(EngineEvent.Preview(0, offer.Id, PreviewChoice.Accept), T0.AddSeconds(40));
        Assert.Empty(control.Originated);
        var (withdrawn, reason) = Assert.Single(desk.Withdrawn);
        Assert.Same(offer, withdrawn);
        Assert.StartsWith("calling_hours: ", reason);
        Assert.Equal((0L, 1L, 0L), (engine.Stats.PreviewsAccepted, engine.Stats.PreviewsUnplaced, engine.Stats.CallsPlaced));
        Assert.Equal(AgentState.Ready, engine.State.AgentStates[0]);
        engine.Tick(T0.AddSeconds(45));
        Assert.Single(desk.Offered); // held until the window opens again, not offered round and round

        // Inside the window the same yes dials; the lead's claim (its third call today, the cap) does not count twice.
        var third = Make.Lead(2);
        (third.Attempts, third.AttemptsToday, third.AttemptsDay) = (2, 2, new DateOnly(2026, 11, 23));
        var (engine2, control2, _, desk2) = Preview(1, [third]);
        engine2.Handle(EngineEvent.Login(0), T0);
        engine2.Handle(EngineEvent.Preview(0, Assert.Single(desk2.Offered).Id, PreviewChoice.Accept), T0.AddSeconds(10));
        Assert.Equal(2L, Assert.Single(control2.Originated).Lead.Id);
    }

    [Fact]
    public void Logout_while_previewing_takes_the_offer_back()
    {
        var (engine, _, _, desk) = Preview(1, [Make.Lead(1)]);
        engine.Handle(EngineEvent.Login(0), T0);
        engine.Handle(EngineEvent.Logout(0), T0.AddSeconds(2));
        Assert.Equal("agent logged out", Assert.Single(desk.Withdrawn).Reason);
        Assert.Equal(AgentState.LoggedOut, engine.State.AgentStates[0]);
        engine.Handle(EngineEvent.Login(0), T0.AddSeconds(3));
        Assert.Equal(2, desk.Offered.Count);
        Assert.Equal(1, desk.Offered[1].Lead.Id);
    }
}

public class AgentlessTests
{
    private static readonly DateTime T0 = Make.T0;

    internal static CallScript Survey(MachineAction machine = MachineAction.HangUp) => new()
    {
        Name = "claim-follow-up",
        Start = "hello",
        OptOutKey = '9',
        OptOutPrompt = new("sound:optout", 2),
        Machine = machine,
        MachineMessage = machine == MachineAction.LeaveMessage ? [new("sound:notice", 10)] : [],
        Steps = new Dictionary<string, ScriptStep>
        {
            ["hello"] = new() { Id = "hello", Kind = StepKind.Say, Prompts = [new("sound:hello", 3)], Next = "q1" },
            ["q1"] = new()
            {
                Id = "q1", Kind = StepKind.Ask, Prompts = [new("sound:q1", 4)], NoInput = new("sound:again", 1), BadInput = new("sound:bad", 1), Retries = 1,
                Keys = new Dictionary<char, string> { ['1'] = "q2", ['2'] = "agent" },
            },
            ["q2"] = new() { Id = "q2", Kind = StepKind.Ask, Prompts = [new("sound:q2", 4)], Keys = new Dictionary<char, string> { ['1'] = "bye", ['2'] = "bye", ['3'] = "bye" } },
            ["agent"] = new() { Id = "agent", Kind = StepKind.Transfer, Prompts = [new("sound:connecting", 2)], Unavailable = "bye" },
            ["bye"] = new() { Id = "bye", Kind = StepKind.End, Prompts = [new("sound:bye", 2)] },
        },
    };

    [Fact]
    public void A_survey_walks_questions_retries_and_records_answers()
    {
        var run = new ScriptRun(Survey(), transferOffered: false, machine: false);
        Assert.Equal("sound:hello", run.Start().Prompt!.Media);
        Assert.Equal(ScriptActionKind.None, run.Key('1').Kind); // a key in a greeting answers nothing
        Assert.Equal("sound:q1", run.PromptDone().Prompt!.Media);
        var listen = run.PromptDone();
        Assert.Equal((ScriptActionKind.Listen, 6.0), (listen.Kind, listen.Seconds));
        Assert.Equal("sound:again", run.Timeout(listen.Turn).Prompt!.Media); // no input: asked again
        Assert.Equal(ScriptActionKind.None, run.Timeout(listen.Turn).Kind); // a stale timer does nothing
        Assert.Equal("sound:q2", run.Key('1').Prompt!.Media); // barge-in during the repeat
        Assert.Equal("sound:q2", run.Key('7').Prompt!.Media); // a key not allowed: asked again (q2 has no bad-input prompt)
        Assert.Equal("sound:bye", run.Key('3').Prompt!.Media);
        Assert.Equal(ScriptActionKind.HangUp, run.PromptDone().Kind);
        Assert.Equal(ScriptEnd.Completed, run.Result.End);
        Assert.Equal([new ScriptAnswer("q1", '1', 2), new ScriptAnswer("q2", '3', 2)], run.Result.Answers);
    }

    [Fact]
    public void Opt_out_ends_the_call_and_exhausted_retries_end_as_no_input()
    {
        var run = new ScriptRun(Survey(), false, false);
        run.Start();
        Assert.Equal("sound:optout", run.Key('9').Prompt!.Media);
        Assert.Equal(ScriptActionKind.HangUp, run.PromptDone().Kind);
        Assert.Equal(ScriptEnd.OptOut, run.Result.End);

        var silent = new ScriptRun(Survey(), false, false);
        silent.Start();
        silent.PromptDone();
        var a = silent.PromptDone();
        silent.Timeout(a.Turn);
        silent.PromptDone();
        a = silent.PromptDone();
        Assert.Equal(ScriptActionKind.HangUp, silent.Timeout(a.Turn).Kind);
        Assert.Equal((ScriptEnd.NoInput, new ScriptAnswer("q1", null, 2)), (silent.Result.End, silent.Result.Answers.Single()));
    }

    [Fact]
    public void Transfer_withheld_takes_the_unavailable_branch()
    {
        var run = new ScriptRun(Survey(), transferOffered: false, machine: false);
        run.Start();
        run.PromptDone();
        Assert.Equal("sound:bye", run.Key('2').Prompt!.Media);
        var offered = new ScriptRun(Survey(), transferOffered: true, machine: false);
        offered.Start();
        offered.PromptDone();
        Assert.Equal("sound:connecting", offered.Key('2').Prompt!.Media);
        Assert.Equal(ScriptActionKind.Transfer, offered.PromptDone().Kind);
    }

    [Fact]
    public void Script_problems_name_the_step_and_field()
    {
        var bad = new CallScript
        {
            Name = "x", Start = "q", OptOutKey = '1',
            Steps = new Dictionary<string, ScriptStep> { ["q"] = new() { Id = "q", Kind = StepKind.Ask, Prompts = [new("sound:q", 1)], Keys = new Dictionary<char, string> { ['1'] = "nowhere" } } },
        };
        Assert.Equal(["steps.q.keys: '1' is the opt-out key", "steps.q.keys.1: no step 'nowhere'"], bad.Problems());
    }

    private static (DialerEngine Engine, RecordingControl Control) Agentless(int agents, int leads, MachineAction machine = MachineAction.HangUp)
    {
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, Mode = DialingMode.Survey, Script = Survey(machine) };
        var (engine, control, _, _) = Make.Engine(agents, Enumerable.Range(1, leads).Select(i => Make.Lead(i)), campaign, pacer: new AgentlessPacer(2, 10));
        return (engine, control);
    }

    private static ScriptResult PressTwoForAgent(ScriptRun run)
    {
        run.Start();
        run.PromptDone();
        run.Key('2');
        run.PromptDone();
        return run.Result;
    }

    [Fact]
    public void Agentless_calls_need_no_agent_and_a_transfer_gets_the_2_s_rule_from_the_key_press()
    {
        var (engine, control) = Agentless(agents: 1, leads: 5);
        engine.Tick(T0);
        Assert.Equal(2, control.Originated.Count); // the line cap, with no agent logged in
        var (c1, c2) = (control.Originated[0], control.Originated[1]);
        engine.Handle(EngineEvent.Answered(c1.Id, true), T0.AddSeconds(5));
        Assert.Contains($"script {c1.Id}", control.Log); // nobody logged in: no transfer offered
        Assert.Equal(1, engine.State.Ledger.LiveToday); // reached by the script at once: a live answer, not an abandon
        Assert.Equal(2, control.Originated.Count);

        engine.Handle(EngineEvent.Login(0), T0.AddSeconds(6));
        engine.Handle(EngineEvent.Answered(c2.Id, true), T0.AddSeconds(7));
        Assert.Contains($"script {c2.Id} +transfer", control.Log);
        engine.Handle(EngineEvent.ScriptOver(c2.Id, PressTwoForAgent(control.Scripts[c2.Id])), T0.AddSeconds(20));
        Assert.Contains($"connect {c2.Id} to a0", control.Log);
        Assert.Equal((2, 1L), (engine.State.Ledger.LiveToday, engine.Stats.Transfers));

        // c1's survey completes: a reached person with the answers.
        var r1 = control.Scripts[c1.Id];
        r1.Start();
        r1.PromptDone();
        r1.Key('1');
        r1.Key('2');
        r1.PromptDone();
        engine.Handle(EngineEvent.ScriptOver(c1.Id, r1.Result), T0.AddSeconds(30));
        engine.Handle(EngineEvent.Ended(c1.Id), T0.AddSeconds(31));
        Assert.Equal((CallOutcome.Human, ScriptEnd.Completed, 2), (c1.Outcome, c1.Script!.End, c1.Script.Answers.Count));
        Assert.Equal(3, control.Originated.Count); // the freed line is refilled

        // A second transfer while the agent talks waits 2 s from its key press, then safe harbor: abandoned.
        var c3 = control.Originated[2];
        engine.Handle(EngineEvent.Answered(c3.Id, true), T0.AddSeconds(35));
        engine.Handle(EngineEvent.ScriptOver(c3.Id, PressTwoForAgent(control.Scripts[c3.Id])), T0.AddSeconds(50));
        engine.Tick(T0.AddSeconds(51.9));
        Assert.DoesNotContain($"safe-harbor {c3.Id}", control.Log);
        engine.Tick(T0.AddSeconds(52.1));
        Assert.Contains($"safe-harbor {c3.Id}", control.Log);
        Assert.Equal((3, 1), (engine.State.Ledger.LiveToday, engine.State.Ledger.AbandonedToday));
    }

    [Fact]
    public void A_machine_gets_the_message_or_a_hang_up_per_setting()
    {
        var (leave, control) = Agentless(0, 1, MachineAction.LeaveMessage);
        leave.Tick(T0);
        var call = control.Originated[0];
        leave.Handle(EngineEvent.Answered(call.Id, human: false), T0.AddSeconds(6));
        var run = control.Scripts[call.Id];
        Assert.Equal("sound:notice", run.Start().Prompt!.Media);
        Assert.Equal(ScriptActionKind.HangUp, run.PromptDone().Kind);
        leave.Handle(EngineEvent.ScriptOver(call.Id, run.Result), T0.AddSeconds(20));
        leave.Handle(EngineEvent.Ended(call.Id), T0.AddSeconds(20));
        Assert.Equal((CallOutcome.Machine, ScriptEnd.MessageLeft), (call.Outcome, call.Script!.End));

        var (hang, control2) = Agentless(0, 1);
        hang.Tick(T0);
        hang.Handle(EngineEvent.Answered(control2.Originated[0].Id, human: false), T0.AddSeconds(6));
        Assert.Contains($"hangup {control2.Originated[0].Id}", control2.Log);
        Assert.Empty(control2.Scripts);
    }

    [Fact]
    public void The_agentless_pacer_keeps_to_its_line_cap_and_rate()
    {
        var (engine, control, _, _) = Make.Engine(0, Enumerable.Range(1, 100).Select(i => Make.Lead(i)),
            new CampaignConfig { TimeZone = Make.Shanghai, Mode = DialingMode.Notice, Script = Survey() }, pacer: new AgentlessPacer(50, 4));
        for (var t = 0.0; t <= 5.0001; t += 0.05) engine.Tick(T0.AddSeconds(t));
        // 4 a second after a first second's burst of 4: 24 within 5 s at most.
        Assert.InRange(control.Originated.Count, 23, 24);
        var (capped, c2, _, _) = Make.Engine(0, Enumerable.Range(1, 100).Select(i => Make.Lead(i)),
            new CampaignConfig { TimeZone = Make.Shanghai, Mode = DialingMode.Notice, Script = Survey() }, pacer: new AgentlessPacer(3, 100));
        for (var t = 0.0; t <= 5.0001; t += 0.05) capped.Tick(T0.AddSeconds(t));
        Assert.Equal(3, c2.Originated.Count);
    }
}
