using System.Collections.Concurrent;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;
using Dialer.Core.Pacing;
using Dialer.Emulator;

namespace Dialer.Ari.Tests;

/// <summary>Preview and agentless campaigns through the ARI driver on the emulator (issue 15).</summary>
public class ModesTests
{
    /// <summary>The attempt rows as the store would get them: the call at placing and at its end.</summary>
    private sealed class Attempts : IAttemptLog
    {
        public ConcurrentQueue<Call> Placed { get; } = new();
        public ConcurrentQueue<Call> Finished { get; } = new();
        void IAttemptLog.Placed(Call call) => Placed.Enqueue(call);
        void IAttemptLog.Finished(Call call) => Finished.Enqueue(call);
    }

    private sealed class Desk : IPreviewDesk
    {
        public ConcurrentQueue<PreviewOffer> Offered { get; } = new();
        public ConcurrentQueue<(PreviewOffer Offer, string Reason)> Withdrawn { get; } = new();
        public void Offer(PreviewOffer offer) => Offered.Enqueue(offer);
        public void Withdraw(PreviewOffer offer, string reason) => Withdrawn.Enqueue((offer, reason));
        public PreviewOffer? For(string agent, long lead) => Offered.LastOrDefault(o => o.Agent.Id == agent && o.Lead.Id == lead);
    }

    private static CampaignConfig Campaign(DialingMode mode, CallScript? script = null) => new()
    {
        Name = "test", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, MaxAttempts = 2, MaxAttemptsPerDay = 2,
        RetryDelaySeconds = new Dictionary<CallOutcome, double>(), Mode = mode, Script = script, PreviewTimeoutSeconds = 5,
    };

    [Fact]
    public async Task Preview_with_two_agents_offer_accept_skip_callback_and_time_out()
    {
        var desk = new Desk();
        var attempts = new Attempts();
        // +1001.. answer at once and stay up until hung up.
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+1001", "+1002", "+1003", "+1004"], agents: 2,
            new AriDriverOptions(), campaign: Campaign(DialingMode.Preview), desk: desk, attempts: attempts);
        await Rig.Until(() => desk.Offered.Count == 2, TimeSpan.FromSeconds(5), "both agents offered a lead");
        Assert.Equal(0, rig.Driver.Stats.Placed); // nothing is dialed before a yes
        var first = desk.Offered.ToArray();
        var (o1, o2) = first[0].Agent.Id == "agent1" ? (first[0], first[1]) : (first[1], first[0]);

        await rig.Host.PostAsync(EngineEvent.Preview(o1.Agent.Index, o1.Id, PreviewChoice.Accept));
        await rig.Host.PostAsync(EngineEvent.Preview(o2.Agent.Index, o2.Id, PreviewChoice.Skip, "wrong person"));
        await Rig.Until(() => rig.Engine.Stats.Connected == 1, TimeSpan.FromSeconds(5), "the accepted lead put through to its agent");
        await Rig.Until(() => rig.Emulator.BridgeSize(ChannelOwner.Default.AgentBridge("agent1")) == 2, TimeSpan.FromSeconds(5), "callee in agent1's bridge");
        await Rig.Until(() => desk.Offered.Count == 3, TimeSpan.FromSeconds(5), "the skipping agent offered the next lead");
        var o3 = desk.Offered.Last();
        Assert.Equal(("agent2", 3L), (o3.Agent.Id, o3.Lead.Id));
        await rig.Host.PostAsync(EngineEvent.Preview(o3.Agent.Index, o3.Id, PreviewChoice.Callback, callbackAt: DateTime.UtcNow.AddHours(2)));
        await Rig.Until(() => desk.Offered.Count == 4, TimeSpan.FromSeconds(5), "next lead after the callback");
        var o4 = desk.Offered.Last();
        Assert.Equal(4, o4.Lead.Id);
        // Nobody decides on lead 4: after 5 s it goes back and agent2 is paused.
        await Rig.Until(() => desk.Withdrawn.Any(w => w.Offer == o4 && w.Reason == "timed out"), TimeSpan.FromSeconds(8), "the offer timed out");
        Assert.Equal(AgentState.Paused, await rig.Query(e => e.State.AgentStates[o4.Agent.Index]));

        // The callee hangs up: the attempt closes as a predictive one does.
        var call = Assert.Single(attempts.Placed);
        Assert.True(rig.Emulator.FarEndHangsUp(call.ChannelId));
        await Rig.Until(() => attempts.Finished.Count == 1, TimeSpan.FromSeconds(5), "attempt closed");
        var done = attempts.Finished.Single();
        Assert.Equal((o1.Lead.Id, CallOutcome.Human, "agent1"), (done.Lead.Id, done.Outcome, done.Agent!.Id)); // the lead agent1 accepted, whichever of the first two it was offered
        Assert.NotNull(done.AnsweredAt);
        Assert.NotNull(done.ConnectedAt);
        var st = rig.Engine.Stats;
        Assert.Equal((1L, 1L, 1L, 0L), (st.CallsPlaced, st.LiveAnswers, st.Connected, st.Abandoned));
        Assert.Equal((1L, 1L, 1L, 1L), (st.PreviewsAccepted, st.PreviewsSkipped, st.PreviewCallbacks, st.PreviewsTimedOut));
        Assert.Equal(0, await rig.Query(e => e.State.Ledger.LiveToday)); // a preview call cannot be abandoned: not the ledger's
    }

    private static readonly CallScript Survey = new()
    {
        Name = "lab-survey",
        Start = "q1",
        OptOutKey = '9',
        Steps = new Dictionary<string, ScriptStep>
        {
            ["q1"] = new()
            {
                Id = "q1", Kind = StepKind.Ask, Prompts = [new("sound:q1", 3)], NoInput = new("sound:again", 1), TimeoutSeconds = 1, Retries = 1,
                Keys = new Dictionary<char, string> { ['1'] = "q2", ['2'] = "q2" },
            },
            ["q2"] = new() { Id = "q2", Kind = StepKind.Ask, Prompts = [new("sound:q2", 3)], TimeoutSeconds = 1, Keys = new Dictionary<char, string> { ['1'] = "bye", ['3'] = "bye" } },
            ["bye"] = new() { Id = "bye", Kind = StepKind.End, Prompts = [new("sound:bye", 2)] },
        },
    };

    [Fact]
    public async Task A_survey_plays_prompts_takes_keys_by_DTMF_and_records_answers_per_attempt()
    {
        var attempts = new Attempts();
        var scenario = new EmulatorScenario
        {
            TimeScale = 0.05,
            CalleeKeys = new()
            {
                ["+1001"] = new() { ["sound:q1"] = "1", ["sound:q2"] = "3" },
                ["+1002"] = new() { ["sound:q1"] = "-2", ["sound:q2"] = "1" }, // silent the first time: asked again
                ["+1003"] = new() { ["sound:q1"] = "9" },                      // opts out
            },
        };
        await using var rig = await Rig.StartAsync(scenario, ["+1001", "+1002", "+1003"], agents: 0, new AriDriverOptions(),
            campaign: Campaign(DialingMode.Survey, Survey), pacer: new AgentlessPacer(2, 5), attempts: attempts);
        await Rig.Until(() => attempts.Finished.Count == 3, TimeSpan.FromSeconds(15), "three surveys over");
        var byLead = attempts.Finished.ToDictionary(c => c.Lead.Id);
        Assert.Equal([new ScriptAnswer("q1", '1', 1), new ScriptAnswer("q2", '3', 1)], byLead[1].Script!.Answers);
        Assert.Equal(ScriptEnd.Completed, byLead[1].Script!.End);
        Assert.Equal([new ScriptAnswer("q1", '2', 2), new ScriptAnswer("q2", '1', 1)], byLead[2].Script!.Answers);
        Assert.Equal(ScriptEnd.OptOut, byLead[3].Script!.End);
        Assert.All(byLead.Values, c => Assert.Equal(CallOutcome.Human, c.Outcome));
        var st = rig.Engine.Stats;
        Assert.Equal((3L, 3L, 0L), (st.CallsPlaced, st.LiveAnswers, st.Abandoned));
        Assert.Equal(2, st.Answers["q1"][Dialer.Core.Metrics.CampaignStats.KeyIndex('1')] + st.Answers["q1"][Dialer.Core.Metrics.CampaignStats.KeyIndex('2')]);
        Assert.Equal(0, rig.Emulator.ActiveChannels);
    }

    /// <summary>Places nothing until an agent is ready: the transfer test needs its one agent logged in before anyone answers.</summary>
    private sealed class AfterAnAgentIsReady(IPacer inner) : IPacer
    {
        public string Name => inner.Name;
        public bool ReactsToEvents => true;
        public PacingDecision Decide(DialerState s) => s.Count(AgentState.Ready) > 0 ? inner.Decide(s) : new(0, s.Now + 0.05);
    }

    /// <summary>
    /// A renewal notice with AMD on the emulator: a machine gets the message after its greeting (or a hang-up, per the
    /// script); two people press 1 for an agent at once, with one agent: the first is put through to the agent's bridge,
    /// the second meets nobody within 2 s of the key and gets safe harbor, an abandon in the ledger as a predictive
    /// campaign counts it.
    /// </summary>
    [Theory]
    [InlineData(MachineAction.LeaveMessage)]
    [InlineData(MachineAction.HangUp)]
    public async Task A_notice_leaves_machines_the_message_or_hangs_up_and_press_1_goes_through_agent_routing_with_the_2_s_rule(MachineAction machine)
    {
        var notice = new CallScript
        {
            Name = "renewal-notice", Start = "q1", Machine = machine,
            MachineMessage = machine == MachineAction.LeaveMessage ? [new("sound:notice-machine", 8)] : [],
            Steps = new Dictionary<string, ScriptStep>
            {
                ["q1"] = new()
                {
                    Id = "q1", Kind = StepKind.Ask, Prompts = [new("sound:notice", 6)], TimeoutSeconds = 2, Retries = 0,
                    Keys = new Dictionary<char, string> { ['1'] = "agent", ['2'] = "bye" },
                },
                ["agent"] = new() { Id = "agent", Kind = StepKind.Transfer, Prompts = [new("sound:connecting", 1)], Unavailable = "bye" },
                ["bye"] = new() { Id = "bye", Kind = StepKind.End, Prompts = [new("sound:bye", 1)] },
            },
        };
        var attempts = new Attempts();
        var scenario = new EmulatorScenario { TimeScale = 0.05, CalleeKeys = new() { ["*"] = new() { ["sound:notice"] = "1" } } };
        // 7… a person, 8… a machine (AMD's verdict).
        await using var rig = await Rig.StartAsync(scenario, ["+7001", "+7002", "+8001"], agents: 1, new AriDriverOptions { Amd = true },
            campaign: Campaign(DialingMode.Notice, notice), pacer: new AfterAnAgentIsReady(new AgentlessPacer(3, 5)), attempts: attempts);
        await Rig.Until(() => attempts.Finished.Count == 2, TimeSpan.FromSeconds(15), "the machine's call and the abandoned transfer over");
        var byLead = attempts.Finished.ToDictionary(c => c.Lead.Id);
        var machineCall = byLead[3];
        Assert.Equal(CallOutcome.Machine, machineCall.Outcome);
        if (machine == MachineAction.LeaveMessage) Assert.Equal(ScriptEnd.MessageLeft, machineCall.Script!.End);
        else Assert.Null(machineCall.Script); // hung up at AMD's verdict: no script ran
        var abandoned = byLead.Values.Single(c => c.Lead.Id != 3);
        Assert.Equal((CallOutcome.Abandoned, ScriptEnd.Transfer), (abandoned.Outcome, abandoned.Script!.End));
        Assert.Null(abandoned.ConnectedAt);

        // The other person is talking to agent1, in its bridge, until they hang up.
        var talking = Assert.Single(attempts.Placed, c => c.Lead.Id != 3 && c.Lead.Id != abandoned.Lead.Id);
        Assert.Equal(2, rig.Emulator.BridgeSize(ChannelOwner.Default.AgentBridge("agent1")));
        Assert.True(rig.Emulator.FarEndHangsUp(talking.ChannelId));
        await Rig.Until(() => attempts.Finished.Count == 3, TimeSpan.FromSeconds(5), "the transferred call closed");
        Assert.Equal((CallOutcome.Human, "agent1", ScriptEnd.Transfer), (talking.Outcome, talking.Agent!.Id, talking.Script!.End));
        Assert.NotNull(talking.ConnectedAt);
        Assert.True((talking.ConnectedAt!.Value - talking.TransferAt!.Value).TotalSeconds < 2, "put through within the 2 s of the key");
        var st = rig.Engine.Stats;
        Assert.Equal((3L, 2L, 1L, 2L, 1L), (st.CallsPlaced, st.LiveAnswers, st.MachineAnswers, st.Transfers, st.Abandoned));
        Assert.Equal((2, 1), await rig.Query(e => (e.State.Ledger.LiveToday, e.State.Ledger.AbandonedToday)));
    }
}
