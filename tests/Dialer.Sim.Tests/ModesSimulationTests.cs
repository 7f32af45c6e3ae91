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
