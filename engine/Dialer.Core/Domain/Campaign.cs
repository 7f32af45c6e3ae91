namespace Dialer.Core.Domain;

/// <summary>Compliance and dialing rules of a campaign. Defaults follow DESIGN.md "rules of the trade".</summary>
public sealed class CampaignConfig
{
    public string Name { get; init; } = "campaign";
    /// <summary>The call center's own zone: days (for the daily abandon cap) and VICIdial's HHMM math use it.</summary>
    public TimeZoneInfo TimeZone { get; init; } = TimeZoneInfo.Utc;
    /// <summary>Calls only when the lead's local time is inside [start, end).</summary>
    public TimeOnly WindowStart { get; init; } = new(9, 0);
    public TimeOnly WindowEnd { get; init; } = new(21, 0);
    /// <summary>How long an unanswered call rings before we give up (≥ 15 s by the rules of the trade).</summary>
    public double RingTimeoutSeconds { get; init; } = 25;
    /// <summary>A live callee not reached by an agent within this many seconds gets the safe-harbor message and counts as abandoned.</summary>
    public double SafeHarborSeconds { get; init; } = 2;
    /// <summary>Legal cap on abandoned / live answers, per day and per rolling 30 days.</summary>
    public double AbandonCap { get; init; } = 0.03;
    public int MaxAttempts { get; init; } = 6;
    public int MaxAttemptsPerDay { get; init; } = 3;
    /// <summary>Seconds to wait before retrying a lead after each outcome; outcomes not listed end the lead.</summary>
    public IReadOnlyDictionary<CallOutcome, double> RetryDelaySeconds { get; init; } = new Dictionary<CallOutcome, double>
    {
        [CallOutcome.Busy] = 600,
        [CallOutcome.NoAnswer] = 3600,
        [CallOutcome.Machine] = 7200,
        [CallOutcome.Congestion] = 300,
        [CallOutcome.Abandoned] = 3600,
    };
    /// <summary>The market's rules (calling hours by region, holidays, earliest contact before expiry, caps, consent); null: the campaign's window and caps only.</summary>
    public Compliance.ComplianceProfile? Profile { get; init; }
    /// <summary>Routing rules: leads matching a rule need the rule's skills (all matching rules apply).</summary>
    public IReadOnlyList<RoutingRule> Routing { get; init; } = [];
    /// <summary>The numbers the campaign has registered to call from (E.164); a profile's registered_caller_id rule allows only these to be shown.</summary>
    public IReadOnlyList<string> RegisteredCallerIds { get; init; } = [];
    /// <summary>Local presence: the numbers registered to call each region from (region → E.164 numbers); a profile's local_presence rule checks them per lead.</summary>
    public IReadOnlyDictionary<string, List<string>> LocalCallerIds { get; init; } = new Dictionary<string, List<string>>();
    /// <summary>
    /// The caller id the telephony shows to a lead of each region (exact region) and to the rest, as the driver picks it;
    /// set once by the runtime that dials, before its engine and hopper start; null where no telephony is known (the
    /// simulator, the "why" answer off the engine).
    /// </summary>
    public CallerIdPlan? ShownCallerIds { get; set; }
    /// <summary>How this campaign reaches people: the pacer's calls for agents, preview, or agentless survey / notice.</summary>
    public Modes.DialingMode Mode { get; init; } = Modes.DialingMode.Predictive;
    /// <summary>A predictive campaign's leads with this tag go to preview instead (e.g. high-value renewals); null: none.</summary>
    public string? PreviewTag { get; init; }
    /// <summary>Seconds an agent has to decide on an offered lead; then the lead goes back and the agent is paused (away?).</summary>
    public double PreviewTimeoutSeconds { get; init; } = 30;
    /// <summary>Seconds before a lead an agent skipped is offered again.</summary>
    public double PreviewSkipRetrySeconds { get; init; } = 3600;
    /// <summary>Agentless campaigns: the prompts, questions and end.</summary>
    public Modes.CallScript? Script { get; init; }

    /// <summary>Whether this lead is dialed only after an agent has seen it.</summary>
    public bool IsPreview(Lead lead) => Mode == Modes.DialingMode.Preview || (PreviewTag is { } tag && lead.HasTag(tag));
    /// <summary>
    /// The hoppers' queue for a lead: its skill requirement, and apart whether it goes to preview, because the engine refuses a
    /// lead for either reason (no free agent able to take it; the pacer never dials a preview lead) and a refusal holds back only
    /// the refused lead's queue.
    /// </summary>
    public int QueueOf(Lead lead) => lead.Requirement.Id * 2 + (PreviewTag is { } tag && lead.HasTag(tag) ? 1 : 0);
    public bool Agentless => Mode is Modes.DialingMode.Survey or Modes.DialingMode.Notice;
    /// <summary>Whether any lead goes to preview (the engine then needs a desk to offer leads on).</summary>
    public bool Previews => Mode == Modes.DialingMode.Preview || PreviewTag is not null;

    public void Validate()
    {
        if (RingTimeoutSeconds < 15) throw new ArgumentException($"ring_timeout_seconds: {RingTimeoutSeconds} is below 15 s (unanswered calls must ring at least 15 s)");
        if (SafeHarborSeconds is < 0 or > 2) throw new ArgumentException($"safe_harbor_seconds: {SafeHarborSeconds} must be within 0..2 s");
        if (AbandonCap is <= 0 or > 0.03) throw new ArgumentException($"abandon_cap: {AbandonCap} must be within (0, 0.03]");
        if (MaxAttempts < 1) throw new ArgumentException("max_attempts: must be ≥ 1");
        if (MaxAttemptsPerDay < 1) throw new ArgumentException("max_attempts_per_day: must be ≥ 1");
        if (PreviewTimeoutSeconds is < 5 or > 600) throw new ArgumentException($"preview_timeout_seconds: {PreviewTimeoutSeconds} must be within 5..600");
        if (PreviewSkipRetrySeconds < 0) throw new ArgumentException("preview_skip_retry_seconds: must be ≥ 0");
        if (Agentless && Script is null) throw new ArgumentException($"script: a {Mode.ToString().ToLowerInvariant()} campaign needs its script");
        if (Agentless && PreviewTag is not null) throw new ArgumentException("preview_tag: an agentless campaign has no agents to preview leads");
        if (Script?.Problems() is [var first, ..]) throw new ArgumentException($"script: {first}");
    }
}

/// <summary>"Leads with tag X / in region Y need skill Z at level ≥ L" (<c>{tag, region, require: {skill: level}}</c>).</summary>
public sealed record RoutingRule(string? Tag, string? Region, IReadOnlyDictionary<string, byte> Require)
{
    public void Validate(string path, Dictionary<string, string> errors)
    {
        if (Require is null || Require.Count == 0) errors[path + ".require"] = "is required: the skills this rule asks for, e.g. {\"lang:cantonese\": 1}";
        else if (Require.Count > 32) errors[path + ".require"] = "at most 32 skills";
        else foreach (var (skill, level) in Require)
            if (string.IsNullOrWhiteSpace(skill) || skill.Length > 64) errors[path + ".require"] = "skill names must be 1–64 characters";
            else if (level < 1) errors[$"{path}.require.{skill}"] = "must be within 1..255";
    }

    public bool Matches(Lead lead) =>
        (Tag is null || lead.HasTag(Tag)) && (Region is null || string.Equals(Region, lead.Region, StringComparison.Ordinal));
}

/// <summary>What the telephony shows as the caller id: <see cref="ByRegion"/> for a lead of exactly that region, else <see cref="Default"/> (null: none).</summary>
public sealed record CallerIdPlan(string? Default, IReadOnlyDictionary<string, string> ByRegion)
{
    public string? For(string region) => ByRegion.TryGetValue(region, out var id) ? id : Default;
}
