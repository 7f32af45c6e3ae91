namespace Dialer.Core.Domain;

/// <summary>A number to call for a campaign, with what we know of the callee and of earlier attempts.</summary>
public sealed class Lead
{
    public required long Id { get; init; }
    /// <summary>E.164, e.g. +8613800138000.</summary>
    public required string Phone { get; init; }
    public required string Region { get; init; }
    public required TimeZoneInfo TimeZone { get; init; }
    public string? CustomerId { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    /// <summary>Higher is dialed first.</summary>
    public int Priority { get; init; }
    public DateOnly? PolicyExpiry { get; init; }
    public DateTime CreatedAt { get; init; }
    /// <summary>When the customer consented to calls (a profile with a consent rule calls no lead without it), and where it was given.</summary>
    public DateTime? ConsentAt { get; init; }
    public string? ConsentSource { get; init; }
    /// <summary>Skills the agent who takes this lead's call must have.</summary>
    public SkillRequirement Requirement { get; set; } = SkillRequirement.None;

    // Dialing state, owned by the lead source between attempts.
    public int Attempts { get; set; }
    public int AttemptsToday { get; set; }
    public DateOnly AttemptsDay { get; set; }
    public DateTime? LastAttemptAt { get; set; }
    public CallOutcome LastOutcome { get; set; }
    /// <summary>The attempts on this lead's number and customer in every campaign, given by the hopper when its profile caps them.</summary>
    public Compliance.LeadContacts? Contacts { get; set; }

    public bool HasTag(string tag)
    {
        foreach (var t in Tags)
            if (string.Equals(t, tag, StringComparison.Ordinal)) return true;
        return false;
    }
}
