using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Tests;

/// <summary>The compliance gate: each rule of a profile holds a lead, names itself and says until when.</summary>
public class ComplianceProfileTests
{
    private static readonly ComplianceProfile Cn = new()
    {
        Id = "cn-test", Version = 3, Country = "CN",
        CallingHours = new() { Start = "09:00", End = "21:00" },
        Regions = [new() { Region = "CN-GD-SZ", Start = "08:00", End = "20:00" }],
        Holidays = new() { Dates = ["2026-12-25", "2026-12-26"] },
        EarliestBeforeExpiry = new() { Days = 40 },
        DailyCap = new() { Max = 2 },
        Consent = new() { Required = true },
    };

    private static readonly CampaignConfig Campaign = new() { WindowStart = new(8, 0), WindowEnd = new(22, 0), MaxAttemptsPerDay = 3, Profile = Cn };

    // 2026-11-23 12:30 UTC = 20:30 in Shanghai.
    private static readonly DateTime Evening = new(2026, 11, 23, 12, 30, 0, DateTimeKind.Utc);

    private static Lead Lead(string region = "CN-GD", DateOnly? expiry = null, bool consent = true) => new()
    {
        Id = 1, Phone = "+8613800000000", Region = region, TimeZone = Make.Shanghai, PolicyExpiry = expiry ?? new DateOnly(2026, 12, 20),
        ConsentAt = consent ? new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) : null, ConsentSource = consent ? "renewal form" : null,
    };

    [Fact]
    public void A_regions_hours_override_the_countrys_and_the_campaign_only_narrows_them()
    {
        Assert.True(ComplianceGate.Check(Campaign, Lead("CN-GD"), Evening).Allowed);
        var v = ComplianceGate.Check(Campaign, Lead("CN-GD-SZ"), Evening);
        Assert.Equal("cn-test/v3/calling_hours:CN-GD-SZ", v.Rule);
        Assert.Equal(new DateTime(2026, 11, 24, 0, 0, 0, DateTimeKind.Utc), v.Until); // 08:00 Shenzhen the next day
        // The campaign's 08:00 start does not widen the country's 09:00.
        var early = ComplianceGate.Check(Campaign, Lead("CN-BJ"), new DateTime(2026, 11, 23, 0, 30, 0, DateTimeKind.Utc));
        Assert.Equal(("cn-test/v3/calling_hours", new DateTime(2026, 11, 23, 1, 0, 0, DateTimeKind.Utc)), (early.Rule, early.Until));
    }

    [Fact]
    public void A_renewal_is_not_called_earlier_than_the_profile_allows_before_expiry()
    {
        var v = ComplianceGate.Check(Campaign, Lead(expiry: new DateOnly(2027, 2, 1)), Evening);
        Assert.Equal("cn-test/v3/earliest_before_expiry", v.Rule);
        // 40 days before 2027-02-01 is 2026-12-23, and its window opens at 09:00 Shanghai.
        Assert.Equal(new DateTime(2026, 12, 23, 1, 0, 0, DateTimeKind.Utc), v.Until);
    }

    [Fact]
    public void A_holiday_holds_the_lead_past_every_holiday_in_a_row()
    {
        var v = ComplianceGate.Check(Campaign, Lead(), new DateTime(2026, 12, 25, 3, 0, 0, DateTimeKind.Utc));
        Assert.Equal("cn-test/v3/holiday", v.Rule);
        Assert.Equal(new DateTime(2026, 12, 27, 1, 0, 0, DateTimeKind.Utc), v.Until); // 25th and 26th off, 09:00 on the 27th
    }

    [Fact]
    public void The_daily_cap_holds_the_lead_until_tomorrow_and_its_count_rolls_over_at_local_midnight()
    {
        var lead = Lead();
        lead.AttemptsToday = 2;
        lead.AttemptsDay = new DateOnly(2026, 11, 23);
        var v = ComplianceGate.Check(Campaign, lead, Evening);
        Assert.Equal("cn-test/v3/daily_cap", v.Rule);
        Assert.Equal(new DateTime(2026, 11, 24, 1, 0, 0, DateTimeKind.Utc), v.Until);
        Assert.True(ComplianceGate.Check(Campaign, lead, new DateTime(2026, 11, 24, 2, 0, 0, DateTimeKind.Utc)).Allowed);
        Assert.Equal(0, lead.AttemptsToday);
    }

    [Fact]
    public void No_consent_is_a_hold_no_time_opens_and_the_hoppers_never_hand_the_lead_out()
    {
        var v = ComplianceGate.Check(Campaign, Lead(consent: false), Evening);
        Assert.True(v.Never);
        Assert.Equal("cn-test/v3/consent", v.Rule);
        var hopper = new MemoryHopper(Campaign, [Lead(consent: false)], Evening);
        Assert.Null(hopper.Next(Evening.AddDays(30)));
    }

    [Fact]
    public void Without_a_profile_the_campaigns_own_window_and_cap_apply_as_before()
    {
        var plain = new CampaignConfig { MaxAttemptsPerDay = 1 };
        var lead = Lead(consent: false);
        Assert.True(ComplianceGate.Check(plain, lead, Evening).Allowed);
        lead.AttemptsToday = 1;
        lead.AttemptsDay = new DateOnly(2026, 11, 23);
        Assert.Equal("max_attempts_per_day", ComplianceGate.Check(plain, lead, Evening).Rule);
    }

    [Fact]
    public void A_profile_that_breaks_its_schema_is_reported_by_field()
    {
        var errors = new Dictionary<string, string>();
        (Cn with { Country = "China", CallingHours = new() { Start = "21:00", End = "09:00" }, Regions = [new() { Region = "US-CA", Start = "8", End = "20:00" }] })
            .Validate("custom_profile", errors);
        Assert.Equal(["custom_profile.calling_hours.end", "custom_profile.country", "custom_profile.regions[0].region", "custom_profile.regions[0].start"], errors.Keys.Order());
    }
}
