using Dialer.Core.Metrics;
using Dialer.Sim;

namespace Dialer.Sim.Tests;

public class ModesSimulationTests
{
    /// <summary>
    /// Issue 15: a simulated day of over 50,000 survey calls; each question's answer shares, counted from the attempts'
    /// results, fall within 3 standard errors of the shares the callees were drawn from (keys the script refuses are
    /// asked again, so the recorded shares are the allowed keys' shares renormalised).
    /// </summary>
    [Fact]
    public void A_survey_day_recovers_the_callees_answer_distributions()
    {
        var s = Scenario.Load(ScenarioTests.Shipped("claim-survey"));
        var report = Simulation.Run(s, "agentless:100/1.2", 1);
        Assert.True(report.CallsPlaced >= 50_000, $"{report.CallsPlaced} calls");
        var survey = report.Survey!;
        var script = s.Campaign.Script!;
        foreach (var q in survey.Questions)
        {
            var allowed = script.Steps[q.Question].Keys.Keys.Select(k => k.ToString()).ToHashSet();
            var shares = s.Survey!.Answers[q.Question].Where(kv => allowed.Contains(kv.Key.ToString())).ToList();
            var total = shares.Sum(kv => kv.Value);
            var n = q.Answered - q.NoAnswer;
            Assert.True(n > 15_000, $"{q.Question}: {n} answers");
            foreach (var (key, share) in shares)
            {
                var p = share / total;
                var seen = (double)q.Keys.GetValueOrDefault(key.ToString()) / n;
                var se = Math.Sqrt(p * (1 - p) / n);
                Assert.True(Math.Abs(seen - p) < 3 * se, $"{q.Question} key {key}: {seen:F4} observed, {p:F4} ± {3 * se:F4}");
            }
        }
        Assert.True(survey.Ends["opt_out"] > 0 && survey.Ends["no_input"] > 0 && survey.Transfers > 0);
        Assert.True(report.AbandonRate < 0.03, $"abandon rate {report.AbandonRate}");
    }

    [Fact]
    public void Preview_agents_accept_skip_and_time_out_by_their_shares()
    {
        var s = Scenario.Load(ScenarioTests.Shipped("renewal-preview"));
        var r = Simulation.Run(s, "progressive", 1);
        var p = r.Preview!;
        // Agents accept 80%, skip 8%, ask for a callback 5%; the rest, and decisions slower than the 30 s, time out.
        Assert.InRange((double)p.Accepted / p.Offered, 0.74, 0.82);
        Assert.InRange((double)p.Skipped / p.Offered, 0.05, 0.11);
        Assert.InRange((double)p.Callbacks / p.Offered, 0.03, 0.07);
        Assert.True(p.TimedOut > 0);
        Assert.Equal(p.Accepted, r.CallsPlaced); // nothing is dialed without a yes
        Assert.Equal(0, r.Abandoned); // every preview call has its agent
        Assert.Equal(0, r.AnswerToAgentMsP95);
    }
}

/// <summary>An agentless campaign's script file: every mistake names the file, the line and the key path.</summary>
public class ScriptFileTests
{
    private static string Shipped => Path.Combine(ScenarioTests.RepoRoot, "scenarios", "scripts", "claim-follow-up.yaml");

    [Fact]
    public void The_shipped_script_loads_with_its_questions_opt_out_and_transfer()
    {
        var script = Dialer.Sim.Config.ScriptFile.Load(Shipped);
        Assert.Equal(("claim-follow-up", "hello", '9'), (script.Name, script.Start, script.OptOutKey));
        Assert.Equal(["satisfied", "speed", "agent_offer"], script.Questions.Select(q => q.Id));
        Assert.True(script.HasTransfer);
        Assert.Empty(script.Problems());
    }

    /// <summary>Each edit, the message it must give and the text of the line the message must name.</summary>
    public static TheoryData<string, string, string> BadEdits => new()
    {
        { "opt_out_key: \"9\"", "opt_out_key: \"x\"", "opt_out_key: \"x\" is not a phone key (0-9, *, #)" },
        { "keys: {\"1\": agent, \"2\": bye}", "keys: {\"1\": agent, \"2\": byee}", "steps.agent_offer.keys.2: no step 'byee'" },
        { "keys: {\"1\": speed, \"2\": speed, \"3\": speed}", "keys: {\"1\": speed, \"9\": speed}", "steps.satisfied.keys: '9' is the opt-out key" },
        { "    timeout_seconds: 6", "    timout_seconds: 6", "steps.satisfied.timout_seconds: unknown key" },
        { "    retries: 0", "    retries: 9", "steps.agent_offer.retries: " },
        { "machine: hang_up", "machine: leave_message", "machine: leave_message needs the message to leave (machine_message)" },
        { "machine: hang_up", "machine: hangup", "machine: \"hangup\" is not hang_up or leave_message" },
        { "{media: \"sound:custom/claim-hello\"", "{media: \"claim-hello\"", "steps.hello.say[0].media: \"claim-hello\" is not a media URI" },
        { "agent: {transfer: [{media: \"sound:custom/claim-connecting\", seconds: 2}], unavailable: bye}",
          "agent: {transfer: [{media: \"sound:custom/claim-connecting\", seconds: 2}]}", "steps.agent.unavailable: a transfer needs the step for when no agent can be offered" },
        { "  bye: {end:", "  bye: {say:", "steps.bye.next: a say step needs the step after it" },
    };

    [Theory]
    [MemberData(nameof(BadEdits))]
    public void A_bad_script_names_the_file_line_and_key(string find, string replace, string expected)
    {
        var text = File.ReadAllText(Shipped);
        Assert.Contains(find, text);
        var file = Path.Combine(Path.GetTempPath(), $"bad-script-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, text.Replace(find, replace));
        try
        {
            var e = Assert.Throws<Dialer.Sim.Config.ConfigException>(() => Dialer.Sim.Config.ScriptFile.Load(file));
            Assert.Contains(expected, e.Message);
            var line = System.Text.RegularExpressions.Regex.Match(e.Message, $"^{System.Text.RegularExpressions.Regex.Escape(file)}:([0-9]+): ");
            Assert.True(line.Success, e.Message); // file and line first
            // The line named is the one holding the edit (or, for a key that is missing, its step's).
            var lines = text.Replace(find, replace).Split('\n');
            var edited = replace.Split('\n')[0].Trim();
            Assert.Contains(edited.Length > 40 ? edited[..40] : edited, lines[int.Parse(line.Groups[1].Value) - 1]);
        }
        finally { File.Delete(file); }
    }
}
