using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Core.Tests;

/// <summary>An engine that starts on a campaign with a history (a restart, a takeover) paces from it, not from the priors.</summary>
public class LearnTests
{
    /// <summary>The last owner's 1,000 calls: 40% live (answered after 1 s, talking 20 s), the rest busy after 3 s, the last ending <paramref name="agoSeconds"/> before T0 (about).</summary>
    private static List<PastAttempt> History(double agoSeconds = 80)
    {
        var lead = Make.Lead(1);
        return [.. Enumerable.Range(0, 1000).Select(i =>
        {
            var placed = Make.T0.AddSeconds(-agoSeconds - 520 + i * 0.5);
            return i % 5 < 2
                ? new PastAttempt(lead, placed, placed.AddSeconds(1), placed.AddSeconds(1.2), placed.AddSeconds(21.2), CallOutcome.Human)
                : new PastAttempt(lead, placed, null, null, placed.AddSeconds(3), CallOutcome.Busy);
        })];
    }

    private static (DialerEngine Engine, RecordingControl Control) Engine()
    {
        var control = new RecordingControl();
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai };
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = [.. Enumerable.Range(0, 8).Select(i => new Agent { Index = i, Id = $"a{i}", Skills = new SkillSet() })], Trunks = [Make.Trunk("t1")],
            Pacer = new PredictivePacer(new PredictiveOptions()), Control = control,
            // A deep list: with fewer leads than the team can take in two days the predictive pacer dials only the floor (ListBound).
            Leads = new MemoryHopper(campaign, Enumerable.Range(10, 50_000).Select(i => Make.Lead(i)), Make.T0),
            Predictor = new RateTable(perRegionHour: true),
        }, Make.T0);
        // A campaign past its first days: a cold abandon budget (AbandonBudget.Cold) would hold both engines to the floor.
        engine.State.Ledger.Seed([(DateOnly.FromDateTime(Make.T0).AddDays(-1), 400, 4)], Make.T0);
        return (engine, control);
    }

    [Fact]
    public void A_learned_engine_predicts_the_campaigns_rates_and_is_sure_of_its_calibration()
    {
        var (engine, _) = Engine();
        var cold = engine.State.Calibration.Variance;
        engine.Learn(History());
        var s = engine.State;
        Assert.InRange(s.RecentLiveP, 0.37, 0.43);
        Assert.InRange(s.Calibration.Factor, 0.95, 1.05);
        Assert.True(s.Calibration.Variance < cold / 50, $"calibration variance {s.Calibration.Variance} after learning (cold {cold})");
        Assert.InRange(s.LiveAnswerDelay.Mean, 1, 2.5); // the prior's 8 s outweighed by 400 answers at 1 s
        Assert.InRange(s.OtherRingTime.Mean, 3, 4);
        Assert.InRange(s.TalkTime.Mean, 20, 40);
    }

    [Fact]
    public void A_takeover_that_learned_places_for_its_agents_where_a_cold_one_over_dials()
    {
        var (cold, coldCalls) = Engine();
        var (learned, learnedCalls) = Engine();
        learned.Learn(History());
        foreach (var e in new[] { cold, learned })
            for (var a = 0; a < 8; a++) e.Handle(EngineEvent.Login(a), Make.T0);
        // 8 ready agents: at 40% live, about 20 calls bring 8 live answers.
        Assert.InRange(learnedCalls.Originated.Count * 0.4, 4, 10);
        Assert.True(coldCalls.Originated.Count > learnedCalls.Originated.Count,
            $"cold {coldCalls.Originated.Count} calls, learned {learnedCalls.Originated.Count}: the prior's 20% live asks for more calls than the campaign's 40%");
    }

    [Fact]
    public void A_start_on_yesterdays_calls_holds_their_factor_at_the_priors_weight_and_a_start_on_recent_ones_stays_sure()
    {
        var (morning, _) = Engine();
        var (takeover, _) = Engine();
        morning.Learn(History(agoSeconds: 14 * 3600)); // the last call ended in last evening's shift
        takeover.Learn(History());
        foreach (var e in new[] { morning, takeover })
            for (var a = 0; a < 8; a++) e.Handle(EngineEvent.Login(a), Make.T0);
        var prior = 1 / LiveCalibration.PriorLives; // variance of a factor near 1 held at the prior's weight
        Assert.InRange(morning.State.Calibration.Variance, prior * 0.8, prior * 1.25);
        Assert.True(takeover.State.Calibration.Variance < prior / 50, $"takeover variance {takeover.State.Calibration.Variance}: the last owner's calls ended a minute ago");
    }

    /// <summary>
    /// The store's history gives each attempt its number (PacingHistory): a restart on a campaign whose first attempts
    /// answer at 60% and retries at 10% predicts each kind at its own rate, and its calibration, judged on the predictions
    /// the calls were placed with (the attempts before each), stays near 1. Without the numbers both read the mix, 35%.
    /// </summary>
    [Fact]
    public void A_learned_history_tells_first_attempts_from_retries_and_calibrates_on_the_predictions_they_were_placed_with()
    {
        var control = new RecordingControl();
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai };
        var rates = new RateTable(perRegionHour: true);
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = [new Agent { Index = 0, Id = "a0", Skills = new SkillSet() }], Trunks = [Make.Trunk("t1")],
            Pacer = new PredictivePacer(new PredictiveOptions()), Control = control,
            Leads = new MemoryHopper(campaign, [], Make.T0), Predictor = rates,
        }, Make.T0);
        var lead = Make.Lead(1);
        engine.Learn([.. Enumerable.Range(0, 1000).Select(i =>
        {
            var placed = Make.T0.AddSeconds(-600 + i * 0.5);
            var first = i % 2 == 0;
            var live = (i / 2) % 10 < (first ? 6 : 1);
            return live
                ? new PastAttempt(lead, placed, placed.AddSeconds(1), placed.AddSeconds(1.2), placed.AddSeconds(21.2), CallOutcome.Human, first ? 1 : 2)
                : new PastAttempt(lead, placed, null, null, placed.AddSeconds(3), CallOutcome.Busy, first ? 1 : 2);
        })]);
        var probe = Make.Lead(2);
        Assert.InRange(rates.PredictLive(probe, Make.T0), 0.5, 0.62);
        probe.Attempts = 1;
        Assert.InRange(rates.PredictLive(probe, Make.T0), 0.08, 0.16);
        Assert.InRange(engine.State.Calibration.Factor, 0.9, 1.1);
    }
}
