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
    /// When <paramref name="lead"/> may next be dialed: now if every rule allows it (<see cref="ComplianceGate.Check"/>:
    /// the window, the daily cap and the campaign's compliance profile), else when the rule holding it lets go
    /// (<see cref="DateTime.MaxValue"/> for a lead no time will open). Every hopper applies this one rule.
    /// </summary>
    public static DateTime HeldUntil(CampaignConfig c, Lead lead, DateTime utcNow) =>
        ComplianceGate.Check(c, lead, utcNow) is { Allowed: false } v ? v.Until ?? DateTime.MaxValue : utcNow;
}
