using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Tests;

/// <summary>China's holidays as data: the lunar ones and each year's schedule, 2025–2030, held by the cn profiles.</summary>
public class HolidayCalendarTests
{
    [Theory]
    [InlineData("2025-01-29", true)]  // Spring Festival 2025 (Jan 28 – Feb 4 off)
    [InlineData("2025-02-04", true)]
    [InlineData("2025-02-05", false)]
    [InlineData("2025-04-04", true)]  // Qingming
    [InlineData("2025-05-31", true)]  // Dragon Boat
    [InlineData("2025-10-06", true)]  // Mid-Autumn inside the National Day week (Oct 1–8)
    [InlineData("2026-02-17", true)]  // Spring Festival 2026 (Feb 15–23 off)
    [InlineData("2026-02-24", false)]
    [InlineData("2026-06-19", true)]  // Dragon Boat
    [InlineData("2026-09-25", true)]  // Mid-Autumn
    [InlineData("2027-02-05", true)]  // Spring Festival's eve 2027, the statutory days until the notice
    [InlineData("2027-02-09", false)]
    [InlineData("2028-05-28", true)]  // Dragon Boat 2028
    [InlineData("2029-09-22", true)]  // Mid-Autumn 2029
    [InlineData("2030-02-03", true)]  // Spring Festival 2030
    [InlineData("2030-03-01", false)]
    public void The_cn_calendar_holds_the_lunar_holidays_and_the_yearly_schedule(string date, bool holiday) =>
        Assert.Equal(holiday, HolidayCalendars.Contains("cn", DateOnly.Parse(date, System.Globalization.CultureInfo.InvariantCulture)));

    [Fact]
    public void Every_year_2025_to_2030_has_its_seven_holidays_and_says_where_its_dates_come_from()
    {
        var cn = HolidayCalendars.Get("cn")!;
        Assert.Equal(["2025", "2026", "2027", "2028", "2029", "2030"], cn.Years.Keys);
        foreach (var (year, y) in cn.Years)
        {
            Assert.False(string.IsNullOrWhiteSpace(y.Source));
            Assert.InRange(y.Dates.Count, 12, 40); // 13 statutory days (12 when Mid-Autumn falls in National Day), more with bridge days
            Assert.Contains($"{year}-01-01", y.Dates);
            Assert.Contains($"{year}-10-01", y.Dates);
        }
    }

    [Fact]
    public void A_lead_on_the_Spring_Festival_is_held_by_the_profile_until_the_first_day_after_it()
    {
        var campaign = new CampaignConfig { Profile = ComplianceProfiles.Get("cn-auto-renewal") };
        var lead = new Lead { Id = 1, Phone = "+8613800000000", Region = "CN-BJ", TimeZone = Make.Shanghai };
        var v = ComplianceGate.Check(campaign, lead, new DateTime(2026, 2, 16, 3, 0, 0, DateTimeKind.Utc)); // 11:00 in Beijing
        Assert.Equal("cn-auto-renewal/v4/holiday", v.Rule);
        Assert.Equal(new DateTime(2026, 2, 24, 1, 0, 0, DateTimeKind.Utc), v.Until); // 09:00 on Feb 24, the break ends on the 23rd
        var consented = new Lead { Id = 2, Phone = "+8613800000001", Region = "CN-BJ", TimeZone = Make.Shanghai, ConsentAt = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), ConsentSource = "web form" };
        Assert.Equal("cn-life/v2/holiday", ComplianceGate.Check(new CampaignConfig { Profile = ComplianceProfiles.Get("cn-life") }, consented, new DateTime(2028, 1, 26, 3, 0, 0, DateTimeKind.Utc)).Rule); // Spring Festival 2028
    }

    [Fact]
    public void A_profile_naming_an_unknown_calendar_is_refused_with_the_key()
    {
        var errors = new Dictionary<string, string>();
        (ComplianceProfiles.Get("cn-auto-renewal")! with { Holidays = new() { Calendar = "cm" } }).Validate("custom_profile", errors);
        Assert.Contains("custom_profile.holidays.calendar", errors.Keys);
    }
}
