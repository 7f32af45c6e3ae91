using Dialer.Sim;

namespace Dialer.Sim.Tests;

/// <summary>
/// The predictive pacer's two promises on every shipped scenario, on fixed seeds (not timed): every simulated day stays
/// at or under the abandon cap, and agents wait no longer than with one call per ready agent (progressive).
/// </summary>
public class PacingRegressionTests
{
    public static TheoryData<string> Shipped => new(Directory.GetFiles(Path.Combine(ScenarioTests.RepoRoot, "scenarios"), "*.yaml")
        .Select(f => Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal));

    [Theory, MemberData(nameof(Shipped))]
    public void Predictive_holds_the_cap_every_day_and_idles_no_more_than_progressive(string name)
    {
        var s = Scenario.Load(ScenarioTests.Shipped(name));
        const ulong seed = 2;
        var predictive = Simulation.Run(s, "predictive", seed);
        var progressive = Simulation.Run(s, "progressive", seed);
        Assert.All(predictive.Days, d => Assert.True(d.AbandonRate <= s.Campaign.AbandonCap,
            $"{name} {d.Day}: {d.Abandoned} abandoned of {d.LiveAnswers} live ({d.AbandonRate:P2}) is over the cap"));
        // Where the leads the rules allow run out (cn-auto-renewal: calling hours, daily caps, expiry window), both pacers
        // dial every lead there is and place the same calls (elsewhere predictive places far more): agents' idle time is the
        // supply's, not the pacer's, and may differ by seed noise only, 0.1% of it.
        var supplyBound = predictive.CallsPlaced <= progressive.CallsPlaced * 1.02
                          && predictive.IdleSecondsPerAgentHour <= progressive.IdleSecondsPerAgentHour * 1.001;
        Assert.True(supplyBound || predictive.IdleSecondsPerAgentHour <= progressive.IdleSecondsPerAgentHour,
            $"{name}: predictive idles {predictive.IdleSecondsPerAgentHour:0} s/h, progressive {progressive.IdleSecondsPerAgentHour:0} s/h " +
            $"({predictive.CallsPlaced} vs {progressive.CallsPlaced} calls placed)");
    }

    /// <summary>
    /// The decision's speed-ups (the outlook's per-state tables) change no decision: seed 1 of the teams whose forecast of supply
    /// runs every path (medium-team: the exact overflow and the approximation; large-team: the approximation and AVX2 demand)
    /// places, reaches and abandons as main did before them (`7fc0ee9`: main with the cold-start rule).
    /// </summary>
    [Theory, InlineData("medium-team", 12458, 3741, 78, 334.918), InlineData("large-team", 43220, 15526, 318, 162.751)]
    public void Predictive_decides_as_pinned_on_seed_1(string name, long placed, long live, long abandoned, double idle)
    {
        var r = Simulation.Run(Scenario.Load(ScenarioTests.Shipped(name)), "predictive", 1);
        Assert.Equal((placed, live, abandoned), (r.CallsPlaced, r.LiveAnswers, r.Abandoned));
        Assert.Equal(idle, r.IdleSecondsPerAgentHour, 3);
    }

    /// <summary>
    /// cn-auto-renewal's leads run short after two days, and 12-31 brings only 130-160 live answers: 4 abandons are its whole
    /// budget. Each of these seeds went over on it (4.41-5.44%), every abandon from the shift's first dial: 114-196 calls
    /// for 25 ready agents with nothing banked, on the evening's calibration held as sure. Four days reach it.
    /// </summary>
    [Theory, InlineData(2UL), InlineData(4UL), InlineData(5UL), InlineData(7UL), InlineData(8UL)]
    public void A_thin_day_opening_with_a_burst_stays_under_the_cap(ulong seed)
    {
        var s = Scenario.Load(ScenarioTests.Shipped("cn-auto-renewal")).WithDays(4);
        var r = Simulation.Run(s, "predictive", seed);
        Assert.All(r.Days, d => Assert.True(d.AbandonRate <= s.Campaign.AbandonCap,
            $"seed {seed} {d.Day}: {d.Abandoned} abandoned of {d.LiveAnswers} live ({d.AbandonRate:P2}) is over the cap"));
        // The thin day was reached: since the lead-stock floor (session 14) the list lasts longer and 12-31 brings 200-260.
        Assert.Contains(r.Days, d => d.LiveAnswers < 300);
    }

    [Fact]
    public void A_pool_shared_by_two_requirements_is_counted_once_and_not_over_dialed_at_the_shift_start()
    {
        // Every lead bound to 9 senior agents, through two requirements: counted whole for each, and on a 0.2 prior where
        // these leads answer at 0.5-0.7, the first hour abandoned 12.4% (21 of 169 live answers, 13 in the first minute).
        var s = Scenario.Load(ScenarioTests.Shipped("senior-pool"));
        var r = Simulation.Run(s, "predictive", 2);
        var first = r.Hours.First(h => h.LiveAnswers >= Metrics.MinLiveForHour);
        Assert.True(first.AbandonRate <= s.Campaign.AbandonCap, $"{first.Hour}: {first.Abandoned} abandoned of {first.LiveAnswers} live");
    }
}
