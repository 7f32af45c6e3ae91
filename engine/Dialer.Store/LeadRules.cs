namespace Dialer.Store;

/// <summary>Tags computed on import; they drive priority (and, through routing rules, skills).</summary>
public static class LeadRules
{
    public const string HighValue = "high-value";
    public const string ChurnRisk = "churn-risk";

    /// <summary>
    /// high-value: premium above 500,000 and no claims in 3 years. churn-risk: the policy expires within
    /// 15 days and the customer's last reminder went unanswered (no reminder on record counts as unanswered:
    /// nobody has reached them before expiry).
    /// The file's own tags are kept (issue 14: rule tags go beside them); a rule only adds.
    /// </summary>
    public static void Apply(ISet<string> tags, double? premium, int? claims3y, DateOnly? expiry, string? lastOutcome, DateOnly today)
    {
        if (premium > 500_000 && claims3y == 0) tags.Add(HighValue);
        var expiresSoon = expiry is { } e && e >= today && e.DayNumber - today.DayNumber <= 15;
        if (expiresSoon && lastOutcome != "human") tags.Add(ChurnRisk);
    }

    /// <summary>Priority when the file gives none: renewals at risk first, then high-value customers.</summary>
    public static int DefaultPriority(ISet<string> tags) =>
        (tags.Contains(ChurnRisk) ? 20 : 0) + (tags.Contains(HighValue) ? 10 : 0);
}
