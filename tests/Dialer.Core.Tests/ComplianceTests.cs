using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Core.Tests;

public class ComplianceTests
{
    private static readonly DateTime T0 = Make.T0; // 10:00 Shanghai
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    [Fact]
    public void Calling_window_is_read_in_the_leads_own_zone()
    {
        var c = new CampaignConfig();
        var shanghai = Make.Lead(1);
        var newYork = Make.Lead(2, zone: NewYork); // 21:00 the evening before
        Assert.True(CallingWindow.IsOpen(c, shanghai, T0));
        Assert.False(CallingWindow.IsOpen(c, newYork, T0));
        // Next 09:00 in New York on 2026-11-23 is 14:00 UTC (EST, UTC−5).
        Assert.Equal(new DateTime(2026, 11, 23, 14, 0, 0, DateTimeKind.Utc), CallingWindow.NextOpen(c, newYork, T0));
        Assert.Equal(T0, CallingWindow.NextOpen(c, shanghai, T0));
    }

    [Fact]
    public void Hopper_dials_by_priority_then_soonest_expiry_and_holds_leads_outside_their_window()
    {
        var c = new CampaignConfig { TimeZone = Make.Shanghai };
        var leads = new[]
        {
            Make.Lead(1, expiry: new DateOnly(2026, 12, 20)),
            Make.Lead(2, expiry: new DateOnly(2026, 11, 25)),
            Make.Lead(3, priority: 1, expiry: new DateOnly(2026, 12, 30)),
            Make.Lead(4, zone: NewYork),
        };
        var hopper = new MemoryHopper(c, leads, T0);
        Assert.Equal([3L, 2L, 1L], new[] { hopper.Next(T0)!.Id, hopper.Next(T0)!.Id, hopper.Next(T0)!.Id });
        Assert.Null(hopper.Next(T0)); // New York is asleep
        Assert.Equal(4, hopper.Next(new DateTime(2026, 11, 23, 14, 0, 1, DateTimeKind.Utc))!.Id);
    }

    [Fact]
    public void Retries_wait_their_delay_stop_at_max_attempts_and_respect_the_daily_cap()
    {
        var c = new CampaignConfig { TimeZone = Make.Shanghai, MaxAttempts = 3, MaxAttemptsPerDay = 2 };
        var hopper = new MemoryHopper(c, [Make.Lead(1)], T0);
        var lead = hopper.Next(T0)!;
        lead.Attempts++;
        hopper.Finished(lead, CallOutcome.Busy, T0);
        Assert.Null(hopper.Next(T0.AddSeconds(599)));
        Assert.Same(lead, hopper.Next(T0.AddSeconds(600)));
        lead.Attempts++;
        hopper.Finished(lead, CallOutcome.Busy, T0.AddSeconds(600));
        Assert.Null(hopper.Next(T0.AddSeconds(1300))); // two today already: back tomorrow at 09:00
        Assert.Same(lead, hopper.Next(new DateTime(2026, 11, 24, 1, 0, 0, DateTimeKind.Utc)));
        lead.Attempts++;
        hopper.Finished(lead, CallOutcome.Busy, T0.AddDays(1));
        Assert.Equal(1, hopper.Retired); // third attempt was the last
        Assert.Equal(0, hopper.Pending);
    }

    [Fact]
    public void Best_time_puts_a_retry_at_the_predicted_best_open_hour_unless_the_renewal_is_urgent()
    {
        var c = new CampaignConfig { TimeZone = Make.Shanghai };
        var peak = new PeakHour(19);
        var lead = Make.Lead(1);
        lead.Attempts = 1;
        // Busy at 10:00 Shanghai: the retry may go from 10:10; 19:10 is the open hour the predictor rates best.
        Assert.Equal(T0.AddHours(9).AddMinutes(10), Retry.Next(c, lead, CallOutcome.Busy, T0, peak));
        Assert.Equal(T0.AddMinutes(10), Retry.Next(c, lead, CallOutcome.Busy, T0, null));
        Assert.Equal(T0.AddMinutes(10), Retry.Next(c, Make.Lead(2, expiry: new DateOnly(2026, 11, 27)), CallOutcome.Busy, T0, peak));
        Assert.Null(Retry.Next(c, lead, CallOutcome.Human, T0, peak));

        var hopper = new MemoryHopper(c, [Make.Lead(3)], T0, bestTime: peak);
        var dialed = hopper.Next(T0)!;
        dialed.Attempts++;
        hopper.Finished(dialed, CallOutcome.Busy, T0);
        Assert.Null(hopper.Next(T0.AddHours(9)));
        Assert.Same(dialed, hopper.Next(T0.AddHours(9).AddMinutes(10)));
    }

    [Fact]
    public void Reached_leads_retire_dnc_numbers_are_never_handed_out_and_released_leads_keep_their_place()
    {
        var c = new CampaignConfig { TimeZone = Make.Shanghai };
        var hopper = new MemoryHopper(c, [Make.Lead(1, phone: "+861"), Make.Lead(2, phone: "+862", priority: 1)], T0, new HashSet<string> { "+861" });
        Assert.Equal(1, hopper.Skipped);
        var lead = hopper.Next(T0)!;
        hopper.Release(lead, T0);
        Assert.Equal(0, lead.AttemptsToday);
        Assert.Same(lead, hopper.Next(T0));
        hopper.Finished(lead, CallOutcome.Human, T0);
        Assert.Equal(1, hopper.Retired);
        Assert.Null(hopper.Next(T0.AddDays(2)));
    }

    [Fact]
    public void Abandon_ledger_counts_per_campaign_day_and_over_30_days()
    {
        var ledger = new AbandonLedger(Make.Shanghai);
        for (var i = 0; i < 40; i++) ledger.Live(T0);
        ledger.Abandoned(T0);
        var nextDay = T0.AddDays(1);
        ledger.Live(nextDay);
        Assert.Equal(1, ledger.LiveToday);
        Assert.Equal(0, ledger.AbandonedToday);
        Assert.Equal(41, ledger.Live30);
        Assert.Equal(1.0 / 41, ledger.Rate30, 12);
        ledger.Roll(T0.AddDays(30));
        Assert.Equal(1, ledger.Live30); // day 0 has left the window, day 1 is still in it
        Assert.Equal(0, ledger.Abandoned30);
        ledger.Roll(T0.AddDays(45));
        Assert.Equal(0, ledger.Live30);
    }

    [Fact]
    public void Campaign_rules_of_the_trade_are_enforced()
    {
        Assert.Contains("below 15 s", Assert.Throws<ArgumentException>(() => new CampaignConfig { RingTimeoutSeconds = 10 }.Validate()).Message);
        Assert.Contains("abandon_cap", Assert.Throws<ArgumentException>(() => new CampaignConfig { AbandonCap = 0.05 }.Validate()).Message);
        Assert.Contains("safe_harbor_seconds", Assert.Throws<ArgumentException>(() => new CampaignConfig { SafeHarborSeconds = 3 }.Validate()).Message);
    }
}

public class ForecastTests
{
    [Fact]
    public void Histogram_learns_a_duration_and_answers_conditional_questions()
    {
        var h = new DurationHistogram(1, 600, priorMean: 100, priorWeight: 1);
        for (var i = 0; i < 10_000; i++) h.Observe(i % 100 + 0.5); // uniform on 0..100
        Assert.Equal(50, h.Mean, 0);
        Assert.Equal(0.5, h.Survival(50), 2);
        Assert.Equal(0.5, h.EndsWithin(50, 25), 2); // of those past 50, half end by 75
        Assert.Equal(1.0, h.EndsWithin(90, 20), 2);
        Assert.Equal(0f, h.EndsWithin(10, 0));
    }

    [Fact]
    public void A_call_that_rang_long_is_less_likely_to_bring_a_person()
    {
        var h = new DurationHistogram(1, 600, 100, 1);
        Assert.True(h.Survival(10) > h.Survival(100));
        var (engine, _, _, _) = Make.Engine(1, []);
        var s = engine.State;
        for (var i = 0; i < 1000; i++) { s.LiveAnswerDelay.Observe(4 + i % 8); s.OtherRingTime.Observe(25); }
        Assert.Equal(0.3f, Forecast.Of(s).StillLive(0.3f, 0), 3);
        Assert.True(Forecast.Of(s).StillLive(0.3f, 8) < 0.3f);
        Assert.True(Forecast.Of(s).StillLive(0.3f, 13) < 0.01f);
    }

    [Theory]
    [InlineData(17, CallOutcome.Busy)]
    [InlineData(19, CallOutcome.NoAnswer)]
    [InlineData(28, CallOutcome.BadNumber)]
    [InlineData(21, CallOutcome.Rejected)]
    [InlineData(38, CallOutcome.Congestion)]
    public void Q850_causes_map_to_outcomes(int cause, CallOutcome expected) => Assert.Equal(expected, CallOutcomes.FromQ850(cause));

    [Fact]
    public void Outcome_csv_names_round_trip()
    {
        foreach (var o in Enum.GetValues<CallOutcome>().Where(o => o != CallOutcome.None))
        {
            Assert.True(CallOutcomes.TryParse(o.ToCsv(), out var back));
            Assert.Equal(o, back);
        }
        Assert.False(CallOutcomes.TryParse("hung_up", out _));
    }
}
