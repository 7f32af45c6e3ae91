using Dialer.Core.Domain;

namespace Dialer.Core.Compliance;

/// <summary>May we call this lead now? Checked against the lead's own local time.</summary>
public static class CallingWindow
{
    public static bool IsOpen(CampaignConfig c, Lead lead, DateTime utcNow)
    {
        var local = TimeOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(utcNow, lead.TimeZone));
        return local >= c.WindowStart && local < c.WindowEnd;
    }

    /// <summary>The next instant (UTC) at or after <paramref name="utcNow"/> when the lead's window is open.</summary>
    public static DateTime NextOpen(CampaignConfig c, Lead lead, DateTime utcNow)
    {
        if (IsOpen(c, lead, utcNow)) return utcNow;
        var local = TimeZoneInfo.ConvertTimeFromUtc(utcNow, lead.TimeZone);
        var open = local.Date + c.WindowStart.ToTimeSpan();
        if (open <= local) open = open.AddDays(1);
        // A DST gap can swallow the opening minute; step forward until the local time exists.
        while (lead.TimeZone.IsInvalidTime(open)) open = open.AddMinutes(1);
        return TimeZoneInfo.ConvertTimeToUtc(DateTime.SpecifyKind(open, DateTimeKind.Unspecified), lead.TimeZone);
    }

    /// <summary>
    /// When <paramref name="lead"/> may next be dialed: now if its window is open and today's attempts are
    /// under the cap, else the next opening (tomorrow's, once the cap is reached). Rolls the lead's daily
    /// count over when its own day has changed. Every hopper applies this one rule.
    /// </summary>
    public static DateTime HeldUntil(CampaignConfig c, Lead lead, DateTime utcNow)
    {
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(utcNow, lead.TimeZone));
        if (lead.AttemptsDay != today)
        {
            lead.AttemptsDay = today;
            lead.AttemptsToday = 0;
        }
        if (lead.AttemptsToday >= c.MaxAttemptsPerDay)
        {
            var tomorrow = TimeZoneInfo.ConvertTimeToUtc(today.AddDays(1).ToDateTime(TimeOnly.MinValue), lead.TimeZone);
            return NextOpen(c, lead, tomorrow);
        }
        return NextOpen(c, lead, utcNow);
    }
}
