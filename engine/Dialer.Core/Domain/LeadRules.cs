namespace Dialer.Core.Domain;

/// <summary>
/// A tag the importer adds to a lead when every condition given holds (conditions left out are not checked). The
/// rules are data in the campaign's settings (<c>tag_rules</c>); the file's own tags are never removed, and a rule
/// tag is dropped again on a later import when its rule no longer holds (unless the file gives that tag itself).
/// </summary>
public sealed record TagRule
{
    public required string Tag { get; init; }
    /// <summary>Added to the priority of a lead whose file gives none, when the lead carries this tag (from the rule or the file).</summary>
    public int Priority { get; init; }
    /// <summary>premium strictly above this.</summary>
    public double? PremiumOver { get; init; }
    /// <summary>claims_3y given and at most this (0: no claims in 3 years).</summary>
    public int? ClaimsAtMost { get; init; }
    /// <summary>policy_expiry given, not past, and at most this many days away.</summary>
    public int? ExpiresWithinDays { get; init; }
    /// <summary>The customer's last reminder went unanswered: no call of theirs reached a person (none on record counts).</summary>
    public bool? LastReminderUnanswered { get; init; }
    /// <summary>HH:mm: more than half of the customer's past live answers came at or after this local time.</summary>
    public string? MostAnswersAfter { get; init; }

    /// <summary>What is wrong with the rule, by field, under <paramref name="path"/>.</summary>
    public void Validate(string path, Dictionary<string, string> errors)
    {
        if (string.IsNullOrWhiteSpace(Tag) || Tag.Length > 64 || Tag.AsSpan().IndexOfAny(";,\r\n") >= 0)
            errors[path + ".tag"] = "must be 1–64 characters without ';' ',' or a line break";
        if (PremiumOver is null && ClaimsAtMost is null && ExpiresWithinDays is null && LastReminderUnanswered is null && MostAnswersAfter is null)
            errors[path] = "needs at least one condition (premium_over, claims_at_most, expires_within_days, last_reminder_unanswered, most_answers_after)";
        if (PremiumOver is { } p && (p < 0 || !double.IsFinite(p))) errors[path + ".premium_over"] = "must be a non-negative number";
        if (ClaimsAtMost < 0) errors[path + ".claims_at_most"] = "must be ≥ 0";
        if (ExpiresWithinDays is < 0 or > 3660) errors[path + ".expires_within_days"] = "must be within 0..3660";
        if (MostAnswersAfter is { } t && !TimeOnly.TryParseExact(t, "HH:mm", out _)) errors[path + ".most_answers_after"] = "must be HH:mm";
        if (Priority is < -1_000_000 or > 1_000_000) errors[path + ".priority"] = "must be within ±1000000";
    }

    public bool Holds(in LeadFacts lead, DateOnly today)
    {
        if (PremiumOver is { } p && !(lead.Premium > p)) return false;
        if (ClaimsAtMost is { } c && !(lead.Claims <= c)) return false;
        if (ExpiresWithinDays is { } d && !(lead.Expiry is { } e && e >= today && e.DayNumber - today.DayNumber <= d)) return false;
        if (LastReminderUnanswered is { } u && u != (lead.LastOutcome != "human")) return false;
        if (MostAnswersAfter is { } t)
        {
            var after = TimeOnly.ParseExact(t, "HH:mm");
            var late = 0;
            foreach (var a in lead.AnswerTimes) if (a >= after) late++;
            if (late * 2 <= lead.AnswerTimes.Count) return false; // no answers on record: no preference known
        }
        return true;
    }
}

/// <summary>What the rules look at: the merged lead's figures and its customer's history.</summary>
public readonly record struct LeadFacts(double? Premium, int? Claims, DateOnly? Expiry, string? LastOutcome, IReadOnlyList<TimeOnly> AnswerTimes);

/// <summary>The seed rules (the defaults of every campaign's <c>tag_rules</c>) and how rules and file combine.</summary>
public static class LeadRules
{
    public const string HighValue = "high-value";
    public const string ChurnRisk = "churn-risk";
    public const string PrefersEvenings = "prefers-evenings";

    /// <summary>
    /// high-value: premium above 500,000 and no claims in 3 years. churn-risk: the policy expires within 15 days and
    /// the last reminder went unanswered. prefers-evenings: most past live answers after 20:00 local time.
    /// </summary>
    public static IReadOnlyList<TagRule> Seed { get; } =
    [
        new() { Tag = ChurnRisk, Priority = 20, ExpiresWithinDays = 15, LastReminderUnanswered = true },
        new() { Tag = HighValue, Priority = 10, PremiumOver = 500_000, ClaimsAtMost = 0 },
        new() { Tag = PrefersEvenings, MostAnswersAfter = "20:00" },
    ];

    /// <summary>The tags the rules give this lead that the file did not: they go beside the file's tags.</summary>
    public static SortedSet<string> Apply(IReadOnlyList<TagRule> rules, ISet<string> fileTags, in LeadFacts lead, DateOnly today)
    {
        var added = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var rule in rules)
            if (!fileTags.Contains(rule.Tag) && rule.Holds(lead, today)) added.Add(rule.Tag);
        return added;
    }

    /// <summary>Priority when the file gives none: the sum of the priorities of the rules whose tag the lead carries.</summary>
    public static int DefaultPriority(IReadOnlyList<TagRule> rules, ISet<string> fileTags, ISet<string> ruleTags)
    {
        var p = 0;
        foreach (var rule in rules) if (fileTags.Contains(rule.Tag) || ruleTags.Contains(rule.Tag)) p += rule.Priority;
        return p;
    }

    /// <summary>Whether any rule needs the customer's past answer times (read from the store only then).</summary>
    public static bool NeedAnswerTimes(IReadOnlyList<TagRule> rules) => rules.Any(r => r.MostAnswersAfter is not null);
}
