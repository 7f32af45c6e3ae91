using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Core.Tests;

/// <summary>Each pacer's rule, on engine states built through real events.</summary>
public class PacerTests
{
    private static readonly DateTime T0 = Make.T0;

    /// <summary>
    /// An engine with <paramref name="ready"/> ready agents, <paramref name="talking"/> agents on calls and <paramref name="ringing"/>
    /// calls ringing, a list deep enough for days of the team's work (a scarce one bounds the predictive pacer to the floor)
    /// and <paramref name="pastLive"/> live answers on earlier days of the 30 (too few for one abandon do too).
    /// </summary>
    private static DialerEngine State(int ready, int talking, int ringing, int pastLive = 1000)
    {
        var leads = Enumerable.Range(1, talking + ringing + 5000).Select(i => Make.Lead(i)).ToList();
        var (engine, control, pacer, _) = Make.Engine(ready + talking, leads);
        Past(engine, pastLive);
        for (var a = 0; a < ready + talking; a++) engine.Handle(EngineEvent.Login(a), T0);
        pacer.Next = talking + ringing;
        engine.Tick(T0);
        for (var i = 0; i < talking; i++) engine.Handle(EngineEvent.Answered(control.Originated[i].Id, true), T0.AddSeconds(1));
        return engine;
    }

    [Theory]
    [InlineData(4, 2, 3, 0.5)]   // 3 ringing for 6 agents ready or on a call
    [InlineData(0, 0, 0, 0.0)]   // nobody to dial for
    public void Dial_level_is_calls_in_flight_per_agent_ready_or_talking(int ready, int talking, int ringing, double expected) =>
        Assert.Equal(expected, State(ready, talking, ringing).State.DialLevel, 12);

    [Theory]
    [InlineData(5, 0, 0, 5)]
    [InlineData(5, 3, 2, 3)]
    [InlineData(2, 4, 6, 0)]
    public void Progressive_places_one_call_per_ready_agent_without_one(int ready, int talking, int ringing, int expected) =>
        Assert.Equal(expected, new ProgressivePacer().Decide(State(ready, talking, ringing).State).CallsToPlace);

    [Theory]
    [InlineData(2.0, 4, 6, 0, 14)] // goal round(2 × 10) = 20, lines in use 6 talking
    [InlineData(1.5, 3, 0, 2, 3)] // goal round(4.5) = 5 (half away from zero), 2 ringing
    [InlineData(1.0, 0, 5, 9, 0)]
    public void Ratio_keeps_K_lines_per_ready_or_talking_agent(double k, int ready, int talking, int ringing, int expected) =>
        Assert.Equal(expected, new RatioPacer(k).Decide(State(ready, talking, ringing).State).CallsToPlace);

    [Fact]
    public void Vicidial_raises_the_level_by_the_ready_minus_waiting_differential()
    {
        // 4 ready and 0 waiting of 4 logged in for 15 samples: x = 4/4 = 1 → L' = L·(1 + 1·(1 + I)).
        var engine = State(4, 0, 0);
        var pacer = new VicidialPacer(VicidialDropClamp.HardLimit, new VicidialOptions { InitialLevel = 1.2, Intensity = 20 });
        var first = pacer.Decide(engine.State); // samples once, adapts on the first sample, dials
        Assert.Equal(Math.Min(1.2 * (1 + 1 * 1.2), 3.0), pacer.Level, 9);
        Assert.Equal((int)Math.Round(pacer.Level * 4, MidpointRounding.AwayFromZero), first.CallsToPlace);
        Assert.Equal(engine.State.Now + 1, first.NextDecisionAt);
    }

    [Fact]
    public void Vicidial_lowers_the_level_with_negative_differential_and_never_below_one()
    {
        // All 3 agents talking, 1 callee waiting: D = 0 − 1, T = 3, x = −1/3 → L · (1 − 1/3 · |I − 1|).
        var (engine, control, pacer, _) = Make.Engine(3, Enumerable.Range(1, 8).Select(i => Make.Lead(i)));
        for (var a = 0; a < 3; a++) engine.Handle(EngineEvent.Login(a), T0);
        pacer.Next = 4;
        engine.Tick(T0);
        for (var i = 0; i < 4; i++) engine.Handle(EngineEvent.Answered(control.Originated[i].Id, true), T0.AddSeconds(0.5));
        Assert.Equal(1, engine.State.Waiting);
        var v = new VicidialPacer(VicidialDropClamp.HardLimit, new VicidialOptions { InitialLevel = 2.4, Intensity = -20 });
        v.Decide(engine.State);
        Assert.Equal(2.4 * (1 - 1.0 / 3 * Math.Abs(-0.2 - 1)), v.Level, 9);
        var low = new VicidialPacer(VicidialDropClamp.HardLimit, new VicidialOptions { InitialLevel = 1.1 });
        low.Decide(engine.State);
        Assert.Equal(1.0, low.Level);
    }

    /// <summary>4 ready agents, 60 calls today with 5% dropped: x = 1, so the unclamped level doubles 1.2 → 2.4.</summary>
    private static DialerState OverDropLimit(TimeOnly windowEnd)
    {
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, WindowEnd = windowEnd };
        var (engine, _, _, _) = Make.Engine(4, [], campaign);
        for (var a = 0; a < 4; a++) engine.Handle(EngineEvent.Login(a), T0);
        var s = engine.State;
        s.CallsToday = 60;
        for (var i = 0; i < 40; i++) s.Ledger.Live(T0);
        s.Ledger.Abandoned(T0);
        s.Ledger.Abandoned(T0);
        return s;
    }

    [Theory]
    [InlineData(VicidialDropClamp.HardLimit, 21, 1.0)] // back to 1.0
    [InlineData(VicidialDropClamp.Average, 21, 1.2)] // halved
    [InlineData(VicidialDropClamp.Tapered, 21, 2.4)] // 10:00 local, h = 2100 − 1000 = 1100 > 1000: unchanged
    [InlineData(VicidialDropClamp.Tapered, 15, 1.2)] // h = 1500 − 1000 = 500: × 0.5
    [InlineData(VicidialDropClamp.Tapered, 9, 1.0)] // h < 0: 1.0
    public void Vicidial_drop_clamps_when_todays_drop_rate_passes_the_limit(VicidialDropClamp clamp, int windowEndHour, double expected)
    {
        var pacer = new VicidialPacer(clamp, new VicidialOptions { InitialLevel = 1.2 });
        pacer.Decide(OverDropLimit(new TimeOnly(windowEndHour, 0)));
        Assert.Equal(expected, pacer.Level, 9);
    }

    [Fact]
    public void Vicidial_halves_the_level_when_most_calls_of_the_last_minute_dropped()
    {
        var s = State(4, 0, 0).State;
        var now = (long)s.Now;
        s.PlacedLastMinute.Add(now, 30);
        s.DroppedLastMinute.Add(now, 16);
        var pacer = new VicidialPacer(VicidialDropClamp.HardLimit, new VicidialOptions { InitialLevel = 1.2 });
        pacer.Decide(s);
        Assert.Equal(1.2, pacer.Level, 9); // 2.4 / 2
        var calm = new VicidialPacer(VicidialDropClamp.HardLimit, new VicidialOptions { InitialLevel = 1.2 });
        var s2 = State(4, 0, 0).State;
        s2.PlacedLastMinute.Add((long)s2.Now, 30);
        s2.DroppedLastMinute.Add((long)s2.Now, 15); // exactly half: not "more than 50%"
        calm.Decide(s2);
        Assert.Equal(2.4, calm.Level, 9);
    }

    [Fact]
    public void Fixed_rate_places_a_poisson_stream_of_the_given_rate()
    {
        var engine = State(1, 0, 0);
        var pacer = new FixedRatePacer(2.0, seed: 7);
        var s = engine.State;
        var first = pacer.Decide(s);
        Assert.Equal(0, first.CallsToPlace);
        Assert.True(first.NextDecisionAt > s.Now);
        var pacerB = new FixedRatePacer(2.0, seed: 7);
        Assert.Equal(first, pacerB.Decide(s)); // same seed, same stream
    }

    [Fact]
    public void Predictive_dials_nothing_without_agents_and_more_for_more_ready_agents()
    {
        var pacer = new PredictivePacer(new PredictiveOptions());
        var none = State(0, 0, 0);
        Assert.Equal(0, pacer.Decide(none.State).CallsToPlace);
        var few = pacer.Decide(State(2, 0, 0).State).CallsToPlace;
        var many = pacer.Decide(State(8, 0, 0).State).CallsToPlace;
        Assert.InRange(few, 1, 20);
        Assert.True(many > few, $"{many} calls for 8 ready agents should exceed {few} for 2");
    }

    [Fact]
    public void Predictive_counts_ringing_calls_against_supply()
    {
        var pacer = new PredictivePacer(new PredictiveOptions());
        var idle = pacer.Decide(State(4, 0, 0).State).CallsToPlace;
        var busy = pacer.Decide(State(4, 0, idle).State).CallsToPlace;
        Assert.True(busy < idle / 2, $"after placing {idle} calls, only {busy} more");
    }

    [Fact]
    public void Predictive_dials_a_cold_start_cautiously_and_follows_the_answers_that_come_back()
    {
        var pacer = new PredictivePacer(new PredictiveOptions());
        var cold = State(10, 0, 0);
        var coldCalls = pacer.Decide(cold.State).CallsToPlace;
        var warm = State(10, 0, 0);
        var calibration = warm.State.Calibration;
        for (var s = -600; s < -30; s++) // ten minutes in which the predictions held
        {
            calibration.Placed(s, 0.2);
            if (s % 5 == 0) calibration.Live(s);
        }
        Assert.InRange(calibration.Factor, 0.95, 1.05);
        var warmCalls = pacer.Decide(warm.State).CallsToPlace;
        Assert.True(coldCalls < warmCalls * 0.8, $"cold start {coldCalls} calls, after ten minutes {warmCalls}");
        var rich = State(10, 0, 0);
        for (var s = -600; s < -30; s++) // answers come twice as often as predicted
        {
            rich.State.Calibration.Placed(s, 0.2);
            if (s % 5 < 2) rich.State.Calibration.Live(s);
        }
        Assert.True(pacer.Decide(rich.State).CallsToPlace < warmCalls * 0.6);
    }

    [Fact]
    public void Vectorised_and_scalar_demand_agree()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported) return; // then the scalar path is the only one
        var engine = State(3, 0, 37); // 37 ringing: four vector steps and a scalar tail
        var s = engine.State;
        for (var i = 0; i < 500; i++) { s.LiveAnswerDelay.Observe(3 + i % 11); s.OtherRingTime.Observe(i % 3 == 0 ? 25 : 2 + i % 17); }
        var pacer = new PredictivePacer(new PredictiveOptions());
        foreach (var later in new[] { 0.0, 4.3, 9.9, 40 }) // ages up to beyond the table
        {
            engine.Tick(T0.AddSeconds(later));
            var (vm, vv) = pacer.RingingDemand(s, vectorize: true);
            var (sm, sv) = pacer.RingingDemand(s, vectorize: false);
            Assert.Equal(sm, vm, 4);
            Assert.Equal(sv, vv, 4);
        }
    }

    /// <summary>The campaign's earlier days: <paramref name="live"/> live answers yesterday, none abandoned.</summary>
    private static void Past(DialerEngine engine, int live) =>
        engine.State.Ledger.Seed([(DateOnly.FromDateTime(T0).AddDays(-1), live, 0)], T0);

    [Fact]
    public void Predictive_dials_only_the_floor_until_the_30_days_hold_live_answers_enough_for_one_abandon()
    {
        var pacer = new PredictivePacer(new PredictiveOptions());
        Assert.Equal(10, pacer.Decide(State(10, 0, 0, pastLive: 0).State).CallsToPlace); // a new campaign
        Assert.Equal(10, pacer.Decide(State(10, 0, 0, pastLive: 33).State).CallsToPlace); // 1 of 33 is 3.03%
        Assert.True(pacer.Decide(State(10, 0, 0, pastLive: 34).State).CallsToPlace > 10); // 1 of 34 is 2.94%
    }

    /// <summary><paramref name="ready"/> agents logged in and ready, the engine's first decision made with <paramref name="leads"/> leads due.</summary>
    private static DialerEngine ReadyWith(int ready, int leads)
    {
        var (engine, _, _, _) = Make.Engine(ready, Enumerable.Range(1, leads).Select(i => Make.Lead(i)));
        Past(engine, 1000);
        for (var a = 0; a < ready; a++) engine.Handle(EngineEvent.Login(a), T0);
        engine.Tick(T0);
        return engine;
    }

    [Fact]
    public void Predictive_dials_only_the_floor_while_the_lead_stock_cannot_keep_the_team_busy()
    {
        var pacer = new PredictivePacer(new PredictiveOptions());
        // 10 agents can talk to ~1,700 callees in two 8-hour shifts at the priors' 330 s a conversation.
        var scarce = ReadyWith(10, 200); // ~150 live answers left in the list: the list bounds the conversations
        Assert.Equal(new LeadStock(200, 200 * 6), scarce.State.LeadStock);
        Assert.Equal(10, pacer.Decide(scarce.State).CallsToPlace);
        var deep = ReadyWith(10, 5000); // ~3,700: the team bounds them, dialing ahead pays
        Assert.True(pacer.Decide(deep.State).CallsToPlace > 10);
    }

    [Fact]
    public void The_hoppers_stock_counts_the_leads_due_within_the_horizon_and_their_attempts_left()
    {
        var campaign = new CampaignConfig { TimeZone = Make.Shanghai, RetryDelaySeconds = new Dictionary<CallOutcome, double> { [CallOutcome.NoAnswer] = 5 * 86_400, [CallOutcome.Busy] = 600 } };
        var hopper = new MemoryHopper(campaign, Enumerable.Range(1, 4).Select(i => Make.Lead(i)), T0);
        Assert.Equal(new LeadStock(4, 24), hopper.Stock(T0));
        var away = hopper.Next(T0)!;
        var soon = hopper.Next(T0)!;
        away.Attempts = soon.Attempts = 1;
        hopper.Finished(away, CallOutcome.NoAnswer, T0); // back in five days: past the horizon
        hopper.Finished(soon, CallOutcome.Busy, T0);
        Assert.Equal(new LeadStock(4, 24), hopper.Stock(T0.AddSeconds(60))); // recounted only every half hour
        Assert.Equal(new LeadStock(3, 6 + 6 + 5), hopper.Stock(T0.AddSeconds(LeadStock.RecountSeconds)));
    }

    [Fact]
    public void Predictive_places_one_call_per_ready_agent_even_with_the_days_budget_spent()
    {
        var engine = State(3, 0, 0);
        var s = engine.State;
        for (var i = 0; i < 40; i++) s.Ledger.Live(T0);
        for (var i = 0; i < 2; i++) s.Ledger.Abandoned(T0); // 5%: over the cap, the controller allows no risk
        var pacer = new PredictivePacer(new PredictiveOptions());
        Assert.Equal(3, pacer.Decide(s).CallsToPlace); // none of these calls can meet a busy agent
        Assert.Equal(AbandonBudget.MinRisk, pacer.Risk);
    }

    [Fact]
    public void Exact_overflow_of_one_call_for_one_ready_agent_is_zero_and_of_two_calls_their_both_answering()
    {
        var exact = new ExactOverflow();
        exact.Begin(ready: 1, waiting: 0, free: [], live: [], factor: 1, relativeVariance: 0);
        exact.Add(0.3);
        Assert.Equal(0, exact.Overflow(), 12);
        exact.Add(0.3);
        Assert.Equal(0.09, exact.Overflow(), 12);
        Assert.Equal(0.6, exact.Demand, 12);
    }

    [Fact]
    public void Exact_overflow_matches_enumerating_every_outcome()
    {
        float[] free = [0.2f, 0.7f, 0.5f];
        float[] live = [0.1f, 0.45f, 0.3f, 0.8f];
        const double p = 0.25;
        var exact = new ExactOverflow();
        exact.Begin(ready: 1, waiting: 1, free, live, factor: 1, relativeVariance: 0);
        exact.Add(p);
        exact.Add(p);
        double[] chances = [.. live.Select(q => (double)q), p, p];
        double expected = 0, above = 0;
        for (var mask = 0; mask < 1 << (free.Length + chances.Length); mask++)
        {
            double prob = 1;
            var d = 1; // the waiting callee
            var supply = 1; // the ready agent
            for (var i = 0; i < free.Length; i++) { var up = (mask >> i & 1) == 1; prob *= up ? free[i] : 1 - free[i]; supply += up ? 1 : 0; }
            for (var i = 0; i < chances.Length; i++) { var up = (mask >> (free.Length + i) & 1) == 1; prob *= up ? chances[i] : 1 - chances[i]; d += up ? 1 : 0; }
            expected += prob * Math.Max(d - supply, 0);
            if (d - supply > 1.5) above += prob;
        }
        Assert.Equal(expected, exact.Overflow(), 6);
        Assert.Equal(above, exact.ChanceAbove(1.5), 6);
    }

    [Fact]
    public void The_slack_is_what_the_cap_still_affords_counting_the_answers_to_come_and_none_once_over()
    {
        var s = State(1, 0, 0).State;
        Assert.Equal(0.03 * 20, AbandonBudget.Slack(s, expectedLive: 20), 12); // a shift start: only the coming answers' 3%
        for (var i = 0; i < 100; i++) s.Ledger.Live(T0);
        s.Ledger.Abandoned(T0);
        Assert.Equal(3 - 1 + 0.03 * 10, AbandonBudget.Slack(s, 10), 12);
        for (var i = 0; i < 3; i++) s.Ledger.Abandoned(T0);
        Assert.Equal(0, AbandonBudget.Slack(s, 10)); // 4 of 100: over, no overflow is afforded
    }

    [Fact]
    public void Predictive_dials_a_small_team_at_least_one_to_one_where_the_normal_approximation_did_not()
    {
        // One ready agent, nothing ringing: one call of p ≈ 0.2 cannot overflow, a second rarely does.
        var pacer = new PredictivePacer(new PredictiveOptions());
        Assert.InRange(pacer.Decide(State(1, 0, 0).State).CallsToPlace, 1, 3);
    }

    [Fact]
    public void Abandon_budget_tightens_after_abandons_and_shuts_at_the_cap()
    {
        var s = State(1, 0, 0).State;
        var target = 0.02;
        Assert.Equal(target, AbandonBudget.AllowedRisk(s, target, 0.25, 6), 12); // no history: the target itself
        for (var i = 0; i < 100; i++) s.Ledger.Live(T0);
        var fresh = AbandonBudget.AllowedRisk(s, target, 0.25, 6); // 2 abandons of credit
        Assert.Equal(target * Math.Exp(0.25 * 2), fresh, 12);
        s.Ledger.Abandoned(T0);
        s.Ledger.Abandoned(T0);
        Assert.Equal(target, AbandonBudget.AllowedRisk(s, target, 0.25, 6), 12);
        s.Ledger.Abandoned(T0);
        Assert.Equal(AbandonBudget.MinRisk, AbandonBudget.AllowedRisk(s, target, 0.25, 6)); // 3% ≥ 95% of the cap
    }

    [Theory]
    [InlineData(0, 1, 0.3989422804)] // E[max(Z,0)] = φ(0)
    [InlineData(2, 1, 2.0084908)]
    [InlineData(-2, 1, 0.0084908)]
    [InlineData(3, 0, 3)]
    [InlineData(-3, 0, 0)]
    public void Expected_excess_of_a_normal(double mean, double variance, double expected) =>
        Assert.Equal(expected, Gaussian.ExpectedExcess(mean, variance), 5);

    [Fact]
    public void Pacer_names_parse_and_bad_names_say_what_is_expected()
    {
        var v = new VicidialOptions();
        var p = new PredictiveOptions();
        Assert.Equal("ratio:2.5", Pacers.Create("ratio:2.5", v, p, 1).Name);
        Assert.Equal("vicidial-tapered", Pacers.Create("vicidial-tapered", v, p, 1).Name);
        Assert.Contains("expected progressive", Assert.Throws<ArgumentException>(() => Pacers.Create("turbo", v, p, 1)).Message);
        Assert.Contains("not a positive number", Assert.Throws<ArgumentException>(() => Pacers.Create("ratio:-1", v, p, 1)).Message);
    }
}
