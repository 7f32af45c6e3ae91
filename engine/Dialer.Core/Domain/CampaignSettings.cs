using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dialer.Core.Pacing;
using Dialer.Core.Text;

namespace Dialer.Core.Domain;

/// <summary>
/// The one campaign schema: what the store keeps (campaigns.config, JSON), the API sends and takes, and the
/// <c>campaign:</c> section of scenario and run files holds (read into this record by the same deserializer), with one
/// <see cref="Validate"/> whose errors name the key. <see cref="ToConfig"/> gives the engine's view.
/// </summary>
public sealed record CampaignSettings
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The call center's own zone (IANA).</summary>
    public string TimeZone { get; init; } = "UTC";
    /// <summary>Lead-local calling window, HH:mm (the end may be 24:00); a compliance profile's hours narrow it.</summary>
    public string WindowStart { get; init; } = "09:00";
    public string WindowEnd { get; init; } = "21:00";
    /// <summary>How long an unanswered call rings before we give up (≥ 15 s by the rules of the trade).</summary>
    public double RingTimeoutSeconds { get; init; } = 25;
    /// <summary>A live callee not reached by an agent within this many seconds gets the safe-harbor message and counts as abandoned.</summary>
    public double SafeHarborSeconds { get; init; } = 2;
    /// <summary>Legal cap on abandoned / live answers, per day and per rolling 30 days.</summary>
    public double AbandonCap { get; init; } = 0.03;
    public int MaxAttempts { get; init; } = 6;
    public int MaxAttemptsPerDay { get; init; } = 3;
    /// <summary>Outcome (call history CSV name) → seconds before a retry; outcomes not listed end the lead.</summary>
    public Dictionary<string, double> RetryDelaySeconds { get; init; } = new()
    {
        ["busy"] = 600, ["no_answer"] = 3600, ["machine"] = 7200, ["congestion"] = 300, ["abandoned"] = 3600,
    };
    /// <summary>How long a refusal keeps the number on the do-not-call list (the rules require ≥ 6 months).</summary>
    public int DncDays { get; init; } = 183;
    /// <summary>Pacer, by its command-line name: progressive, ratio:K, vicidial-hard|tapered|average, fixed-rate:λ, predictive.</summary>
    public string Pacer { get; init; } = "predictive";
    /// <summary>The pacers' knobs: vicidial (the dial level to start from and the most it may reach, …) and predictive.</summary>
    public PacingSettings Pacing { get; init; } = new();
    /// <summary>Leads matching a rule (by tag and/or region) need the rule's skills; all matching rules apply.</summary>
    public List<RoutingRule> Routing { get; init; } = [];
    /// <summary>The numbers registered to call from (E.164); under a profile with registered_caller_id the telephony's caller ids must be among them.</summary>
    public List<string> RegisteredCallerIds { get; init; } = [];
    /// <summary>Local presence: per region (CN-GD, or a city below it: CN-GD-SZ), the numbers registered to call it from; under a profile's local_presence rule a lead is called only with one registered for its region.</summary>
    public Dictionary<string, List<string>> LocalCallerIds { get; init; } = [];
    /// <summary>How the campaign reaches people: predictive (the pacer's calls for agents), preview, survey or notice (agentless).</summary>
    public string Mode { get; init; } = "predictive";
    /// <summary>A predictive campaign's leads with this tag go to preview instead (e.g. high-value renewals); null: none.</summary>
    public string? PreviewTag { get; init; }
    /// <summary>Seconds an agent has to decide on an offered lead.</summary>
    public double PreviewTimeoutSeconds { get; init; } = 30;
    /// <summary>Seconds before a lead an agent skipped is offered again.</summary>
    public double PreviewSkipRetrySeconds { get; init; } = 3600;
    /// <summary>An agentless campaign's script: read from the scenario or run file (<c>script:</c>, a file or inline), not stored.</summary>
    [JsonIgnore] public Modes.CallScript? Script { get; init; }

    private static readonly Dictionary<string, Modes.DialingMode> Modes_ = new(StringComparer.Ordinal)
    {
        ["predictive"] = Modes.DialingMode.Predictive, ["preview"] = Modes.DialingMode.Preview,
        ["survey"] = Modes.DialingMode.Survey, ["notice"] = Modes.DialingMode.Notice,
    };
    /// <summary>A shipped compliance profile by id (cn-auto-renewal, cn-life, us-tsr; see <see cref="Core.Compliance.ComplianceProfiles"/>); null: none.</summary>
    public string? ComplianceProfile { get; init; }
    /// <summary>The campaign's own profile (the shipped files' schema); when given it is the profile, and compliance_profile is left out.</summary>
    public Core.Compliance.ComplianceProfile? CustomProfile { get; init; }
    /// <summary>The profile the campaign dials under (its own, else the named one), null for none.</summary>
    public Core.Compliance.ComplianceProfile? Profile() => CustomProfile ?? (ComplianceProfile is { } id ? Core.Compliance.ComplianceProfiles.Get(id) : null);
    /// <summary>Days a refusal keeps the number on the do-not-call list: dnc_days, or the profile's refusal block when longer.</summary>
    public int RefusalBlockDays() => Math.Max(DncDays, Profile()?.RefusalBlock?.Days ?? 0);
    /// <summary>Tags the importer adds beside the file's own (see <see cref="TagRule"/>); the seed rules by default.</summary>
    public List<TagRule> TagRules { get; init; } = [.. LeadRules.Seed];
    /// <summary>Days a call's recording is kept (from when the call was placed); null: until deleted by hand.</summary>
    public int? RecordingRetentionDays { get; init; }
    /// <summary>
    /// Days the retention sweep keeps a recording: <see cref="RecordingRetentionDays"/>, or the profile's recording rule when
    /// longer (settings stored before the rule was checked may hold a shorter one); null: until deleted by hand.
    /// </summary>
    public int? RecordingKeptDays() => RecordingRetentionDays is { } days ? Math.Max(days, Profile()?.Recording?.Days ?? 0) : null;
    /// <summary>Alert rules and the actions they take (see <see cref="AlertRule"/>); the seed rules by default.</summary>
    public List<AlertRule> Alerts { get; init; } = [.. AlertRule.Seed];

    /// <summary>
    /// A one-line reason for a <see cref="JsonException"/> from reading settings (an unknown key, a wrong type), without
    /// the .NET type names or the value; the exception's <c>Path</c> names the key.
    /// </summary>
    public static string Describe(JsonException e)
    {
        var m = e.Message;
        if (m.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
            return m.IndexOf('\'') is var q and >= 0 && m.IndexOf('\'', q + 1) is var r and > 0 && r - q <= 65
                ? $"unknown key {Redact.Echo(m[(q + 1)..r])}" : "unknown key";
        if (m.Contains("could not be converted to", StringComparison.Ordinal))
            return m switch
            {
                _ when m.Contains("System.Double", StringComparison.Ordinal) => "expected a number",
                _ when m.Contains("System.Int32", StringComparison.Ordinal) || m.Contains("System.Byte", StringComparison.Ordinal) => "expected a whole number (within range)",
                _ when m.Contains("System.String", StringComparison.Ordinal) => "expected a text value",
                _ when m.Contains("System.Boolean", StringComparison.Ordinal) => "expected true or false",
                _ when m.Contains("List`1", StringComparison.Ordinal) => "expected a list",
                _ => "expected a mapping of keys",
            };
        if (m.Contains("missing required properties", StringComparison.Ordinal)) return "a required key is missing: " + (m.Split("including: ") is [_, var names] ? names.Split('.')[0] : "see the schema");
        return "not valid here";
    }

    /// <summary>Every invalid field, by its JSON name; empty when the settings are usable.</summary>
    public Dictionary<string, string> Validate()
    {
        var errors = new Dictionary<string, string>();
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _)) errors["time_zone"] = $"'{TimeZone}' is not a known IANA time zone";
        var ws = WindowStart == "24:00" ? null : ParseTime(WindowStart);
        var we = ParseTime(WindowEnd);
        if (ws is null) errors["window_start"] = $"{Redact.Echo(WindowStart)} is not HH:mm";
        if (we is null) errors["window_end"] = $"{Redact.Echo(WindowEnd)} is not HH:mm (24:00 for midnight)";
        else if (ws >= we) errors["window_end"] = "must be after window_start";
        if (RingTimeoutSeconds is < 15 or > 120) errors["ring_timeout_seconds"] = "must be within 15..120 (unanswered calls ring at least 15 s)";
        if (SafeHarborSeconds is < 0 or > 2) errors["safe_harbor_seconds"] = "must be within 0..2 (a live callee hears a person or the message within 2 s)";
        if (AbandonCap is <= 0 or > 0.03) errors["abandon_cap"] = "must be within (0, 0.03]";
        if (MaxAttempts is < 1 or > 100) errors["max_attempts"] = "must be within 1..100";
        if (MaxAttemptsPerDay is < 1 or > 100) errors["max_attempts_per_day"] = "must be within 1..100";
        if (RetryDelaySeconds.Count > 16) errors["retry_delay_seconds"] = "at most 16 outcomes"; // and no error per key of a huge body
        else foreach (var (k, v) in RetryDelaySeconds)
        {
            if (!CallOutcomes.TryParse(k, out _)) errors[$"retry_delay_seconds.{(k.Length <= 32 ? k : k[..32] + "…")}"] = "unknown outcome (human, machine, busy, no_answer, congestion, bad_number, rejected, abandoned)";
            else if (v < 0) errors[$"retry_delay_seconds.{k}"] = "must be ≥ 0";
        }
        if (DncDays < 183) errors["dnc_days"] = "must be ≥ 183 (a refusal keeps the number off for at least 6 months)";
        Pacing.Validate("pacing", AbandonCap, errors);
        if (!Modes_.TryGetValue(Mode, out var mode)) errors["mode"] = $"{Redact.Echo(Mode)} is not a dialing mode (predictive, preview, survey, notice)";
        var agentless = mode is Modes.DialingMode.Survey or Modes.DialingMode.Notice;
        if (PreviewTimeoutSeconds is < 5 or > 600) errors["preview_timeout_seconds"] = "must be within 5..600";
        if (PreviewSkipRetrySeconds is < 0 or > 30 * 86_400) errors["preview_skip_retry_seconds"] = "must be within 0..2592000";
        if (agentless && PreviewTag is not null) errors["preview_tag"] = "an agentless campaign has no agents to preview leads";
        if (agentless && Script is null) errors["script"] = $"a {Mode} campaign needs its script (script: in the scenario or run file)";
        if (Script?.Problems() is [var problem, ..]) errors["script"] = problem;
        if (RegisteredCallerIds.Count > 1000) errors["registered_caller_ids"] = "at most 1000 numbers";
        else for (var i = 0; i < RegisteredCallerIds.Count; i++)
            if (!IsE164(RegisteredCallerIds[i]))
                errors[$"registered_caller_ids[{i}]"] = "must be an E.164 number: '+' and 7–15 digits";
        if (LocalCallerIds.Count > 1000) errors["local_caller_ids"] = "at most 1000 regions";
        else foreach (var (region, numbers) in LocalCallerIds)
        {
            var key = region.Length <= 32 ? $"local_caller_ids.{Redact.Numbers(region)}" : "local_caller_ids"; // a region is no secret; a number in its place is masked
            if (region.Length is 0 or > 32 || region.Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-')) errors[key] = "the region must be 1–32 letters, digits or '-' (CN-GD, CN-GD-SZ)";
            else if (numbers is null || numbers.Count is 0 or > 100) errors[key] = "1–100 numbers";
            else for (var i = 0; i < numbers.Count; i++)
                if (!IsE164(numbers[i])) errors[$"{key}[{i}]"] = "must be an E.164 number: '+' and 7–15 digits";
        }
        if (Routing.Count > 64) errors["routing"] = "at most 64 rules";
        else for (var i = 0; i < Routing.Count; i++) Routing[i].Validate($"routing[{i}]", errors);
        if (TagRules.Count > 32) errors["tag_rules"] = "at most 32 rules";
        else
        {
            for (var i = 0; i < TagRules.Count; i++)
            {
                TagRules[i].Validate($"tag_rules[{i}]", errors);
                if (TagRules.FindIndex(r => r.Tag == TagRules[i].Tag) < i) errors[$"tag_rules[{i}].tag"] = $"'{TagRules[i].Tag}' is given by an earlier rule";
            }
        }
        if (RecordingRetentionDays is < 1 or > 3650) errors["recording_retention_days"] = "must be within 1..3650 (or null: kept until deleted)";
        // The retention sweep deletes what is older: under a profile that keeps recordings N days it may not come sooner.
        else if (RecordingRetentionDays is { } keep && Profile() is { Recording: { Days: var kept } } profile && keep < kept)
            errors["recording_retention_days"] = string.Create(CultureInfo.InvariantCulture,
                $"recording_retention_days {keep:N0} is shorter than the compliance profile's: {profile.Id} v{profile.Version} keeps every recording {kept:N0} days (rule {Core.Compliance.ComplianceGate.Named(profile, Core.Compliance.ComplianceProfile.Rules.Recording)}); give at least {kept:N0}, or leave it out");
        if (Alerts.Count > 32) errors["alerts"] = "at most 32 rules";
        else for (var i = 0; i < Alerts.Count; i++) Alerts[i].Validate($"alerts[{i}]", errors);
        if (CustomProfile is { } own)
        {
            if (ComplianceProfile is not null) errors["compliance_profile"] = "leave it out when custom_profile is given";
            own.Validate("custom_profile", errors);
        }
        else if (ComplianceProfile is { } id && Core.Compliance.ComplianceProfiles.Get(id) is null)
            errors["compliance_profile"] = $"{Redact.Echo(id)} is not a shipped profile ({string.Join(", ", Core.Compliance.ComplianceProfiles.Names)}); give your own in custom_profile";
        try { CreatePacer(0); }
        catch (ArgumentException e) { errors["pacer"] = e.Message; }
        return errors;
    }

    /// <summary>
    /// These settings with a JSON merge patch (RFC 7396) applied: a field left out keeps its value, an object
    /// (retry_delay_seconds) merges key by key, null resets a field to its default (or removes a key), an array
    /// (tag_rules) is replaced whole. Unknown fields and wrong types throw <see cref="JsonException"/>.
    /// </summary>
    public CampaignSettings Patch(System.Text.Json.Nodes.JsonObject patch)
    {
        var current = JsonSerializer.SerializeToNode(this, Json)!.AsObject();
        Merge(current, patch);
        return current.Deserialize<CampaignSettings>(Json) ?? throw new JsonException("settings: a JSON object is required");
    }

    private static void Merge(System.Text.Json.Nodes.JsonObject target, System.Text.Json.Nodes.JsonObject patch)
    {
        foreach (var (key, value) in patch.ToList())
        {
            if (value is null) target.Remove(key);
            else if (value is System.Text.Json.Nodes.JsonObject o && target[key] is System.Text.Json.Nodes.JsonObject t) Merge(t, o);
            else target[key] = value.DeepClone();
        }
    }

    /// <summary>
    /// The errors of these settings, made by applying <paramref name="patch"/> to <paramref name="before"/>, that the patch is to
    /// blame for: one under a field it gives, or one the settings had not before (a field it changes may break a rule of a field
    /// it leaves: a profile keeping recordings longer than the retention stored). An error the stored settings already had,
    /// under fields it leaves alone, is not the patch's: a PATCH of max_attempts is not refused for a retention stored before
    /// the retention rule was checked.
    /// </summary>
    public Dictionary<string, string> ValidatePatch(CampaignSettings before, System.Text.Json.Nodes.JsonObject patch)
    {
        var errors = Validate();
        if (errors.Count == 0) return errors;
        var had = before.Validate();
        foreach (var (key, why) in errors.ToList())
            if (had.GetValueOrDefault(key) == why && !patch.ContainsKey(key[..(key.IndexOfAny(['.', '[']) is var end and >= 0 ? end : key.Length)]))
                errors.Remove(key);
        return errors;
    }

    /// <summary>The pacer by its name with these settings' knobs; <see cref="ArgumentException"/> names what is wrong with the name.</summary>
    public IPacer CreatePacer(ulong seed) => Pacers.Create(Pacer, Pacing.Vicidial, Pacing.Predictive, seed);

    /// <summary>The engine's view. Call only on settings whose <see cref="Validate"/> is empty.</summary>
    public CampaignConfig ToConfig(string name) => new()
    {
        Name = name,
        TimeZone = TimeZoneInfo.FindSystemTimeZoneById(TimeZone),
        WindowStart = ParseTime(WindowStart)!.Value,
        WindowEnd = ParseTime(WindowEnd)!.Value,
        RingTimeoutSeconds = RingTimeoutSeconds,
        SafeHarborSeconds = SafeHarborSeconds,
        AbandonCap = AbandonCap,
        MaxAttempts = MaxAttempts,
        MaxAttemptsPerDay = MaxAttemptsPerDay,
        Profile = Profile(),
        RetryDelaySeconds = RetryDelaySeconds.ToDictionary(kv => { CallOutcomes.TryParse(kv.Key, out var o); return o; }, kv => kv.Value),
        Routing = Routing,
        RegisteredCallerIds = RegisteredCallerIds,
        LocalCallerIds = LocalCallerIds,
        Mode = Modes_[Mode],
        PreviewTag = PreviewTag,
        PreviewTimeoutSeconds = PreviewTimeoutSeconds,
        PreviewSkipRetrySeconds = PreviewSkipRetrySeconds,
        Script = Script,
    };

    private static bool IsE164(string? number) => number is ['+', .. var digits] && digits.Length is >= 7 and <= 15 && digits.All(char.IsAsciiDigit);

    /// <summary>HH:mm, or 24:00 for the end of the day (a window open until midnight); null when it is neither.</summary>
    private static TimeOnly? ParseTime(string text) =>
        text == "24:00" ? TimeOnly.MaxValue
        : TimeOnly.TryParseExact(text, "HH:mm", CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : null;
}

/// <summary>The pacers' knobs, each pacer's under its own key (the ones a pacer does not use are ignored by it).</summary>
public sealed record PacingSettings
{
    public VicidialOptions Vicidial { get; init; } = new();
    public PredictiveOptions Predictive { get; init; } = new();

    public void Validate(string path, double abandonCap, Dictionary<string, string> errors)
    {
        var v = Vicidial;
        if (v.InitialLevel is < 1 or > 10) errors[path + ".vicidial.initial_level"] = "must be within 1..10";
        if (v.MaximumLevel < v.InitialLevel || v.MaximumLevel > 10) errors[path + ".vicidial.maximum_level"] = "must be within initial_level..10";
        if (v.DroppedPercentage < 0 || v.DroppedPercentage > abandonCap * 100 + 1e-9) errors[path + ".vicidial.dropped_percentage"] = "must be within 0..abandon_cap × 100";
        if (v.Intensity is < -40 or > 40) errors[path + ".vicidial.intensity"] = "must be within -40..40";
        if (v.DlDiffTarget is < -100 or > 100) errors[path + ".vicidial.dl_diff_target"] = "must be within -100..100";
        var p = Predictive;
        if (p.TargetAbandonRate <= 0 || p.TargetAbandonRate >= abandonCap) errors[path + ".predictive.target_abandon_rate"] = "must be above 0 and below abandon_cap (noise must stay under the cap)";
        if (p.Gain is <= 0 or > 10) errors[path + ".predictive.gain"] = "must be within (0, 10]";
        if (p.MaxCredit is < 0 or > 1000) errors[path + ".predictive.max_credit"] = "must be within 0..1000";
        if (p.IntervalSeconds is < 0.01 or > 10) errors[path + ".predictive.interval_seconds"] = "must be within 0.01..10";
    }
}
