using System.Text.RegularExpressions;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Modes;

namespace Dialer.RealAsterisk.Tests;

/// <summary>Issue 11's suite: real calls through sipp carriers and phones, judged from what the engine recorded and what sipp saw.</summary>
public class RealAsteriskTests
{
    /// <summary>
    /// One call per carrier behaviour (the sipp carrier reads the number's first digits, so no '+'): busy, unavailable, ring-no-answer, a carrier that never answers SIP at all, and a
    /// human bridged to the agent: each ends with its outcome, the dead one as congestion (network), never as no answer.
    /// </summary>
    [RealAsteriskFact]
    public async Task Outcomes_follow_the_cause_and_a_silent_carrier_is_not_the_callees_fault()
    {
        await using var rig = await LiveRig.StartAsync(["4861", "5031", "1801", "9001", "2001"], agents: 1,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(200), BreakerFailures = 5 });
        await rig.WaitDone(TimeSpan.FromSeconds(90));
        var o = await rig.Query(e => e.Stats.Outcomes.ToArray());
        Assert.Equal(1, o[(int)CallOutcome.Busy]);
        Assert.Equal(1, o[(int)CallOutcome.NoAnswer]); // the ringing one only
        Assert.Equal(2, o[(int)CallOutcome.Congestion]); // 503 and the silent carrier
        Assert.Equal(1, o[(int)CallOutcome.Human]);
        Assert.Equal(1, rig.Engine.Stats.Connected);
        Assert.Equal(0, rig.Driver.Stats.PlaceFailures); // no 409, no refusal
    }

    /// <summary>AMD in the dialplan: the hello is a human and goes to the agent, the long greeting is a machine and is hung up.</summary>
    [RealAsteriskFact]
    public async Task Amd_tells_the_human_from_the_machine()
    {
        await using var rig = await LiveRig.StartAsync(["7001", "8001"], agents: 2, // the human stays on the line with the first agent
            new AriDriverOptions { Amd = true, AutoReadyAfter = TimeSpan.FromMilliseconds(200) });
        await LiveRig.Until(() => rig.Engine.Stats.Outcomes[(int)CallOutcome.Machine] + rig.Engine.Stats.Connected >= 2, TimeSpan.FromSeconds(40), "both verdicts");
        Assert.Equal(1, rig.Engine.Stats.Connected);
        Assert.Equal(1, rig.Engine.Stats.Outcomes[(int)CallOutcome.Machine]);
    }

    /// <summary>
    /// Local presence: the carrier sees the caller id of the callee's region in From:, on both originate paths
    /// (/channels/create needs the connected line, lab capture b; the AMD path passes callerId to POST /channels).
    /// </summary>
    [RealAsteriskFact(needsSippLogs: true)]
    public async Task The_carrier_sees_the_callees_regions_number_in_from_on_both_paths()
    {
        var byRegion = new Dictionary<string, string> { ["beijing"] = "Beijing Office <+861011110001>", ["shanghai"] = "+862122220002" };
        foreach (var (amd, phones) in new[] { (false, new[] { "1101", "1102" }), (true, new[] { "1103", "1104" }) })
        {
            var region = (string p) => p[^1] == '1' || p[^1] == '3' ? "beijing" : "shanghai";
            var mark = SippLog.Mark("carrier-a");
            await using (var rig = await LiveRig.StartAsync(phones, agents: 2, new AriDriverOptions { Amd = amd, CallerIdByRegion = byRegion }, region: region))
                await LiveRig.Until(() => rig.Driver.Stats.Answered >= 2, TimeSpan.FromSeconds(20), "both calls answered", rig);
            var invites = SippLog.Read("carrier-a", mark).Where(m => !m.Sent && m.IsRequest("INVITE")).ToList();
            foreach (var phone in phones)
            {
                var from = invites.FirstOrDefault(m => m.Number == phone)?.Header("From");
                Assert.True(from is not null, $"an INVITE to {phone} at carrier-a ({(amd ? "AMD" : "create + dial")} path)");
                Assert.Contains(region(phone) == "beijing" ? "<sip:+861011110001@" : "<sip:+862122220002@", from);
                if (region(phone) == "beijing") Assert.StartsWith("\"Beijing Office\"", from);
            }
        }
    }

    /// <summary>
    /// Three callees answer at once and one agent is free: the two nobody can take hear the safe-harbor message, which
    /// starts by 2 s after their answer on Asterisk's own clock; the carrier sees them held until then, not dropped.
    /// </summary>
    [RealAsteriskFact(needsSippLogs: true)]
    public async Task A_callee_nobody_can_take_hears_the_safe_harbor_message_by_2_seconds()
    {
        var mark = SippLog.Mark("carrier-a");
        await using var rig = await LiveRig.StartAsync(["1701", "1702", "1703"], agents: 1, new AriDriverOptions(), callsPerReadyAgent: 3);
        await LiveRig.Until(() => rig.Driver.Stats.AnswerToSafeHarbor.Count >= 2, TimeSpan.FromSeconds(20), "two safe-harbor messages started", rig);
        await LiveRig.Until(() => rig.Attempts.AllFinished.Count >= 2, TimeSpan.FromSeconds(30), "the two safe-harbor calls ended");
        var late = rig.Driver.Stats.AnswerToSafeHarbor.Percentile(1.0);
        Assert.True(late <= 2000, $"the message started {late:0} ms after the answer (rule: within 2 s)");
        Assert.True(rig.Driver.Stats.AnswerToSafeHarbor.Percentile(0.01) >= 1500, "the message came early: an agent might still have come free");
        Assert.Equal(2, rig.Engine.Stats.Abandoned);
        var sip = SippLog.Read("carrier-a", mark);
        foreach (var call in rig.Attempts.AllFinished)
        {
            var callId = sip.First(m => !m.Sent && m.IsRequest("INVITE") && m.Number == call.Lead.Phone).CallId;
            var answered = sip.First(m => m.Sent && m.CallId == callId && m.IsResponse(200, "INVITE")).At;
            var bye = sip.First(m => !m.Sent && m.CallId == callId && m.IsRequest("BYE")).At;
            Assert.True((bye - answered).TotalSeconds >= 2, $"a safe-harbor callee was hung up {(bye - answered).TotalSeconds:0.00} s after answering, before the message");
        }
    }

    /// <summary>A clean stop hangs up every call and agent phone of ours and reports each call's end: nothing of ours is left on the box.</summary>
    [RealAsteriskFact]
    public async Task A_stop_with_calls_up_ends_every_call_and_leaves_nothing_behind()
    {
        var rig = await LiveRig.StartAsync(["1201", "1202"], agents: 2, new AriDriverOptions());
        await LiveRig.Until(() => rig.Engine.Stats.Connected >= 2, TimeSpan.FromSeconds(20), "two calls talking");
        var servers = rig.Servers;
        await using (var probe = Lab.Client("probe", Lab.Ari!))
        {
            await rig.DisposeAsync();
            var left = (await probe.ListChannelsAsync()).Where(c => rig.Owner.Owns(c.Id)).ToList();
            Assert.Empty(left);
        }
        Assert.Equal(0, rig.Driver.LiveCalls);
        Assert.NotEmpty(servers);
    }

    /// <summary>
    /// Events per bridged call (answered, bridged to an agent, far end hangs up): the lab counted 42 with subscribeAll
    /// (capture g). Subscribing to what the driver uses and filtering event types must at least halve that.
    /// </summary>
    [RealAsteriskFact]
    public async Task A_bridged_call_costs_half_the_events_of_subscribe_all_or_fewer()
    {
        await using var rig = await LiveRig.StartAsync(["2101", "2102", "2103", "2104"], agents: 2, new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(100) });
        await LiveRig.Until(() => rig.Driver.AgentsConnected == 2, TimeSpan.FromSeconds(10), "agents in");
        var before = rig.Servers[0].EventStats.Received;
        await rig.WaitDone(TimeSpan.FromSeconds(40));
        var perCall = (rig.Servers[0].EventStats.Received - before) / 4.0;
        Assert.Equal(4, rig.Engine.Stats.Connected);
        Assert.True(perCall <= 21, $"{perCall:0.0} events per bridged call (subscribeAll: 42)");
    }

    /// <summary>A callee answered on pbx1 reaches an agent whose phone is on pbx2, over the inter-server trunk.</summary>
    [RealAsteriskFact(needsSecondServer: true)]
    public async Task A_callee_on_one_asterisk_is_bridged_to_an_agent_on_the_other()
    {
        await using var rig = await LiveRig.StartAsync(["2001"], agents: 1,
            new AriDriverOptions { AgentServer = "pbx2", InterServerEndpoint = "PJSIP/{agent}@{server}", AutoReadyAfter = TimeSpan.FromMilliseconds(200) },
            twoServers: true);
        await rig.WaitDone(TimeSpan.FromSeconds(30));
        var call = rig.Attempts.AllFinished.Single();
        Assert.True(rig.Engine.Stats.Connected == 1, $"the callee ended {call.Outcome} (cause {call.Cause}) without reaching the agent; driver said:\n{rig.Said()}");
        Assert.Equal(1, rig.Engine.Stats.Outcomes[(int)CallOutcome.Human]);
    }

    /// <summary>
    /// Issue 10 on a real Asterisk: one agent id in two campaigns on pbx2. c1 calls agent1's phone; c2 (agents dial in,
    /// agent1 not in it now) connected last, so pbx2's global DIALER_AGENT_APP_agent1 names c2's app. c1's callee answered
    /// on pbx1 still reaches c1's agent, because its inter-server leg names c1's app in the X-Dialer-App header and
    /// [dialer-interserver] enters that one (in c2's app the leg would be hung up: agent1 is not logged in there).
    /// </summary>
    [RealAsteriskFact(needsSecondServer: true)]
    public async Task An_inter_server_leg_enters_its_campaigns_app_when_the_agent_is_in_two_campaigns_on_the_server()
    {
        var options = new AriDriverOptions { AgentServer = "pbx2", InterServerEndpoint = "PJSIP/{agent}@{server}", AutoReadyAfter = TimeSpan.FromMilliseconds(200), SharedServers = true };
        using var go = new ManualResetEventSlim();
        await using var c1 = await LiveRig.StartAsync(["2001"], agents: 1, options, twoServers: true, app: "dialer-c1", placeOnceSet: go);
        await using var c2 = await LiveRig.StartAsync([], agents: 1, options with { CallAgents = false }, twoServers: true, app: "dialer-c2");
        await LiveRig.Until(() => c1.Driver.AgentsConnected == 1, TimeSpan.FromSeconds(10), "c1's agent1 connected", c1);
        Assert.Contains("\"dialer-c2\"", await Lab.Get(Lab.Ari2!, "asterisk/variable?variable=DIALER_AGENT_APP_agent1"), StringComparison.Ordinal);
        go.Set();
        await c1.WaitDone(TimeSpan.FromSeconds(30));
        var call = c1.Attempts.AllFinished.Single();
        Assert.True(c1.Engine.Stats.Connected == 1, $"the callee ended {call.Outcome} (cause {call.Cause}) without reaching c1's agent; driver said:\n{c1.Said()}");
        Assert.Equal(0, c2.Engine.Stats.Connected);
    }

    /// <summary>
    /// Issue 15 on a real Asterisk: an agentless survey (no AMD, no agent) plays its questions through ARI, and the callee,
    /// a sipp phone the suite runs, answers them by RFC 4733 keys: 1 to the first, 3 to the second. Both answers are in the
    /// store's survey_answers table as the product writes them (DbAttemptLog on SQLite), and the attempt's row ends
    /// completed after the closing prompt.
    /// </summary>
    [RealAsteriskFact]
    public async Task A_survey_is_answered_by_keys_from_the_callees_phone_and_the_answers_are_stored()
    {
        var prompt = new Prompt("sound:dialer/safe-harbor", 1.5); // the one sound the suite may expect on the box (README)
        var survey = new CallScript
        {
            Name = "real-survey", Start = "q1", OptOutKey = '9',
            Steps = new Dictionary<string, ScriptStep>
            {
                ["q1"] = new() { Id = "q1", Kind = StepKind.Ask, Prompts = [prompt], TimeoutSeconds = 5, Keys = new Dictionary<char, string> { ['1'] = "q2", ['2'] = "q2" } },
                ["q2"] = new() { Id = "q2", Kind = StepKind.Ask, Prompts = [prompt], TimeoutSeconds = 5, Keys = new Dictionary<char, string> { ['1'] = "bye", ['3'] = "bye" } },
                ["bye"] = new() { Id = "bye", Kind = StepKind.End, Prompts = [prompt] },
            },
        };
        using var store = SurveyStore.Create();
        using var callee = SippPhone.Answer([(1000, "1"), (2500, "3")]);
        await using var rig = await LiveRig.StartAsync(["3001"], agents: 0, new AriDriverOptions(), survey: survey,
            trunkEndpoint: $"PJSIP/carrier-a/sip:{{number}}@127.0.0.1:{callee.Port}", attempts: new AttemptTable(store.Log), firstLeadId: store.LeadId);
        await LiveRig.Until(() => rig.Attempts.AllFinished.Count == 1, TimeSpan.FromSeconds(30), "the survey call over");
        Assert.True(rig.Attempts.AllFinished.Single().Script is not null, $"no script result; driver said:\n{rig.Said()}");
        Assert.Equal([("q1", "1", 1L), ("q2", "3", 1L)], store.Answers());
        Assert.Equal(("completed", "human"), store.Attempt());
        Assert.True(await callee.WaitExit(TimeSpan.FromSeconds(10)) && callee.ExitCode == 0, $"the callee's scenario failed:\n{callee.Messages()}");
        Assert.Contains("BYE sip:", callee.Messages(), StringComparison.Ordinal); // the survey hung up, not the callee
    }
}
