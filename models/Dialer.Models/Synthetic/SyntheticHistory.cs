using Dialer.Models.History;

namespace Dialer.Models.Synthetic;

/// <summary>
/// A fixed-seed call history with known true live-answer probabilities (p_live_true), for tests,
/// benchmarks and demos. The truth depends on region × local hour and, as strongly, on the lead
/// (tags, attempt, time since and outcome of the last attempt, lead age, policy expiry), so a
/// region × hour table cannot match a model that uses the lead features.
/// </summary>
public static class SyntheticHistory
{
    private sealed record RegionSpec(string Name, TimeZoneInfo Zone, double BaseLogit, double HourShift, double WeekendEffect);

    private static readonly RegionSpec[] Regions =
    [
        new("cn-north", TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai"), -1.0, 0.0, 0.3),
        new("cn-south", TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai"), -1.5, 0.5, 0.1),
        new("jp", TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo"), -1.8, -0.5, 0.4),
        new("us-east", TimeZoneInfo.FindSystemTimeZoneById("America/New_York"), -1.2, 1.0, -0.2),
        new("us-west", TimeZoneInfo.FindSystemTimeZoneById("America/Los_Angeles"), -1.4, 1.5, 0.0),
        new("uk", TimeZoneInfo.FindSystemTimeZoneById("Europe/London"), -0.8, -1.0, 0.2),
    ];

    /// <summary>Tags, how often a lead carries each, and the log-odds each adds.</summary>
    private static readonly (string Tag, double Share, double Effect)[] TagSpecs =
    [
        ("vip", 0.10, 0.7),
        ("renewal", 0.25, 0.4),
        ("complaint", 0.08, -0.8),
        ("retired", 0.20, 0.3),
        ("young", 0.25, -0.4),
        ("mobile_only", 0.30, -0.2),
    ];

    public static readonly DateTimeOffset Start = new(2026, 1, 5, 0, 0, 0, TimeSpan.Zero);
    public const int SpanDays = 60;
    private const int MaxAttempts = 6;

    /// <summary>Exactly <paramref name="rows"/> attempts, linked and in time order.</summary>
    public static CallHistory Generate(int rows, int seed)
    {
        var random = new Random(seed);
        var records = new List<CallRecord>(rows);
        for (int lead = 0; records.Count < rows; lead++) AddLead(random, lead, records, rows);
        return CallHistory.Create(records, rows, 0, []);
    }

    private static void AddLead(Random random, int lead, List<CallRecord> records, int limit)
    {
        var region = Regions[random.Next(Regions.Length)];
        var created = Start.AddDays(-random.NextDouble() * 90);
        DateTimeOffset? expiry = random.NextDouble() < 0.7 ? Start.AddDays(random.Next(-20, 120)) : null;
        var tags = TagSpecs.Where(t => random.NextDouble() < t.Share).Select(t => t.Tag).ToArray();
        double tagEffect = TagSpecs.Where(t => tags.Contains(t.Tag)).Sum(t => t.Effect);
        bool retired = tags.Contains("retired");

        var at = InCallingWindow(region.Zone, Start.AddDays(random.NextDouble() * SpanDays), random);
        CallRecord? previous = null;
        for (int attempt = 1; attempt <= MaxAttempts && records.Count < limit; attempt++)
        {
            var local = TimeZoneInfo.ConvertTime(at, region.Zone);
            double hour = local.Hour + local.Minute / 60.0;
            double logit = region.BaseLogit + tagEffect
                + HourEffect(hour - region.HourShift)
                + (local.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday ? region.WeekendEffect : 0)
                + (retired && hour < 16 ? 0.6 : 0)
                - 0.25 * (attempt - 1)
                - 0.5 * Math.Min((at - created).TotalDays, 120) / 120
                + ExpiryEffect(expiry, at)
                + LastAttemptEffect(previous, at);
            float p = (float)(1 / (1 + Math.Exp(-logit)));
            var outcome = DrawOutcome(random, p);
            var record = new CallRecord
            {
                LeadId = "L" + lead.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Phone = "+1555" + lead.ToString("D7", System.Globalization.CultureInfo.InvariantCulture),
                Region = region.Name,
                TimeZone = region.Zone,
                Attempt = attempt,
                StartedAt = at,
                Outcome = outcome,
                CreatedAt = created,
                PolicyExpiry = expiry,
                Tags = tags,
                PLiveTrue = p,
            };
            records.Add(record);
            if (outcome.IsLive() || outcome is CallOutcome.BadNumber or CallOutcome.Rejected) return;
            previous = record;
            at = InCallingWindow(region.Zone, at + NextGap(random), random);
        }
    }

    // Lunch and evening peaks over an 08:00-21:00 window.
    private static double HourEffect(double hour) =>
        0.6 * Math.Exp(-Math.Pow(hour - 12.5, 2) / 3) + 0.9 * Math.Exp(-Math.Pow(hour - 19, 2) / 2.5) - 0.4;

    private static double ExpiryEffect(DateTimeOffset? expiry, DateTimeOffset at)
    {
        if (expiry is not { } e) return 0;
        double days = (e - at).TotalDays;
        return days < 0 ? -0.3 : days <= 30 ? 0.6 * (1 - days / 30) : 0;
    }

    private static double LastAttemptEffect(CallRecord? previous, DateTimeOffset at)
    {
        if (previous is null) return 0;
        double minutes = (at - previous.StartedAt).TotalMinutes;
        double recency = minutes < 60 ? -0.6 : minutes < 24 * 60 ? -0.2 : 0;
        double outcome = previous.Outcome switch
        {
            CallOutcome.Busy => 0.5,
            CallOutcome.Machine => -0.4,
            CallOutcome.NoAnswer => -0.1,
            _ => 0,
        };
        return recency + outcome;
    }

    private static CallOutcome DrawOutcome(Random random, float pLive)
    {
        if (random.NextDouble() < pLive) return random.NextDouble() < 0.04 ? CallOutcome.Abandoned : CallOutcome.Human;
        double u = random.NextDouble();
        return u < 0.35 ? CallOutcome.Machine
            : u < 0.75 ? CallOutcome.NoAnswer
            : u < 0.87 ? CallOutcome.Busy
            : u < 0.90 ? CallOutcome.Congestion
            : u < 0.95 ? CallOutcome.BadNumber
            : CallOutcome.Rejected;
    }

    private static TimeSpan NextGap(Random random)
    {
        double u = random.NextDouble();
        return u < 0.3 ? TimeSpan.FromMinutes(10 + random.NextDouble() * 50)
            : u < 0.7 ? TimeSpan.FromHours(2 + random.NextDouble() * 6)
            : TimeSpan.FromDays(1 + random.NextDouble() * 2);
    }

    /// <summary>Moves an instant into the callee's 08:00-21:00 window (the next morning if it is too late).</summary>
    private static DateTimeOffset InCallingWindow(TimeZoneInfo zone, DateTimeOffset at, Random random)
    {
        var local = TimeZoneInfo.ConvertTime(at, zone);
        if (local.Hour is >= 8 and < 21) return at;
        var day = local.Hour >= 21 ? local.Date.AddDays(1) : local.Date;
        var wall = day.AddHours(8).AddMinutes(random.Next(0, 13 * 60));
        return new DateTimeOffset(wall, zone.GetUtcOffset(wall));
    }
}
