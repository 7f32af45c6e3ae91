using System.Text.Json;
using System.Text.Json.Serialization;
using Dialer.Core.Domain;
using Dialer.Core.Pacing;

namespace Dialer.Store;

/// <summary>A campaign's compliance and pacing settings as stored (JSON, snake_case) and sent over the API.</summary>
public sealed record CampaignSettings
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The call center's own zone (IANA).</summary>
    public string TimeZone { get; init; } = "UTC";
    /// <summary>Lead-local calling window, HH:mm.</summary>
    public string WindowStart { get; init; } = "09:00";
    public string WindowEnd { get; init; } = "21:00";
    public double RingTimeoutSeconds { get; init; } = 25;
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
    public string Pacer { get; init; } = "vicidial-tapered";
    /// <summary>VICIdial pacers: the dial level to start from and the most they may reach (the knobs operators turn).</summary>
    public double InitialDialLevel { get; init; } = 1.0;
    public double MaxDialLevel { get; init; } = 3.0;
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
    /// <summary>Alert rules and the actions they take (see <see cref="AlertRule"/>); the seed rules by default.</summary>
    public List<AlertRule> Alerts { get; init; } = [.. AlertRule.Seed];

    /// <summary>Every invalid field, by its JSON name; empty when the settings are usable.</summary>
    public Dictionary<string, string> Validate()
    {
        var errors = new Dictionary<string, string>();
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(TimeZone, out _)) errors["time_zone"] = $"'{TimeZone}' is not a known IANA time zone";
        if (!TimeOnly.TryParseExact(WindowStart, "HH:mm", out var ws)) errors["window_start"] = $"'{WindowStart}' is not HH:mm";
        if (!TimeOnly.TryParseExact(WindowEnd, "HH:mm", out var we)) errors["window_end"] = $"'{WindowEnd}' is not HH:mm";
        else if (ws >= we) errors["window_end"] = "must be after window_start";
        if (RingTimeoutSeconds is < 15 or > 120) errors["ring_timeout_seconds"] = "must be within 15..120 (unanswered calls ring at least 15 s)";
        if (AbandonCap is <= 0 or > 0.03) errors["abandon_cap"] = "must be within (0, 0.03]";
        if (MaxAttempts < 1) errors["max_attempts"] = "must be ≥ 1";
        if (MaxAttemptsPerDay < 1) errors["max_attempts_per_day"] = "must be ≥ 1";
        if (RetryDelaySeconds.Count > 16) errors["retry_delay_seconds"] = "at most 16 outcomes"; // and no error per key of a huge body
        else foreach (var (k, v) in RetryDelaySeconds)
        {
            if (!CallOutcomes.TryParse(k, out _)) errors[$"retry_delay_seconds.{(k.Length <= 32 ? k : k[..32] + "…")}"] = "unknown outcome (human, machine, busy, no_answer, congestion, bad_number, rejected, abandoned)";
            else if (v < 0) errors[$"retry_delay_seconds.{k}"] = "must be ≥ 0";
        }
        if (DncDays < 183) errors["dnc_days"] = "must be ≥ 183 (a refusal keeps the number off for at least 6 months)";
        if (InitialDialLevel is < 1 or > 10) errors["initial_dial_level"] = "must be within 1..10";
        if (MaxDialLevel < InitialDialLevel || MaxDialLevel > 10) errors["max_dial_level"] = "must be within initial_dial_level..10";
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
        if (Alerts.Count > 32) errors["alerts"] = "at most 32 rules";
        else for (var i = 0; i < Alerts.Count; i++) Alerts[i].Validate($"alerts[{i}]", errors);
        if (CustomProfile is { } own)
        {
            if (ComplianceProfile is not null) errors["compliance_profile"] = "leave it out when custom_profile is given";
            own.Validate("custom_profile", errors);
        }
        else if (ComplianceProfile is { } id && Core.Compliance.ComplianceProfiles.Get(id) is null)
            errors["compliance_profile"] = $"{Pii.Echo(id)} is not a shipped profile ({string.Join(", ", Core.Compliance.ComplianceProfiles.Names)}); give your own in custom_profile";
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

    public IPacer CreatePacer(ulong seed) => Pacers.Create(Pacer,
        new VicidialOptions { InitialLevel = InitialDialLevel, MaximumLevel = MaxDialLevel, DroppedPercentage = AbandonCap * 100 },
        new PredictiveOptions { TargetAbandonRate = AbandonCap * 2 / 3 }, seed);

    /// <summary>The engine's view. Call only on settings whose <see cref="Validate"/> is empty.</summary>
    public CampaignConfig ToConfig(string name) => new()
    {
        Name = name,
        TimeZone = TimeZoneInfo.FindSystemTimeZoneById(TimeZone),
        WindowStart = TimeOnly.ParseExact(WindowStart, "HH:mm"),
        WindowEnd = TimeOnly.ParseExact(WindowEnd, "HH:mm"),
        RingTimeoutSeconds = RingTimeoutSeconds,
        AbandonCap = AbandonCap,
        MaxAttempts = MaxAttempts,
        MaxAttemptsPerDay = MaxAttemptsPerDay,
        Profile = Profile(),
        RetryDelaySeconds = RetryDelaySeconds.ToDictionary(kv => { CallOutcomes.TryParse(kv.Key, out var o); return o; }, kv => kv.Value),
    };
}
