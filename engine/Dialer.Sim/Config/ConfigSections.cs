using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Modes;
using Dialer.Core.Pacing;

namespace Dialer.Sim.Config;

/// <summary>The config sections a simulation scenario and a production run share: campaign, trunks, pacing.</summary>
public static class ConfigSections
{
    public static CampaignConfig Campaign(YamlSection c, string name, TimeZoneInfo zone)
    {
        var retry = new Dictionary<CallOutcome, double>(new CampaignConfig().RetryDelaySeconds);
        if (c.OptMap("retry_seconds") is { } r)
        {
            foreach (var (key, seconds) in r.AsNumberMap(0))
                retry[CallOutcomes.TryParse(key, out var o) ? o : throw r.Error(key, null, "expected an outcome: busy, no_answer, machine, congestion, abandoned, rejected")] = seconds;
        }
        var routing = c.List("routing").Select(rule =>
        {
            var tag = rule.OptStr("tag");
            var region = rule.OptStr("region");
            var require = rule.NumberMap("require", 1, 255).Select(kv => (kv.Key, (byte)kv.Value)).ToArray();
            if (require.Length == 0) throw rule.Error("require", null, "is required: the skills this rule asks for, e.g. {lang:cantonese: 1}");
            rule.Done();
            return new RoutingRule(tag, region, require);
        }).ToList();
        var window = c.OptMap("window");
        var modeText = c.OptStr("mode") ?? "predictive";
        var mode = modeText switch
        {
            "predictive" => DialingMode.Predictive,
            "preview" => DialingMode.Preview,
            "survey" => DialingMode.Survey,
            "notice" => DialingMode.Notice,
            _ => throw c.Error("mode", null, $"\"{modeText}\" is not a dialing mode (predictive, preview, survey, notice)"),
        };
        var config = new CampaignConfig
        {
            Name = name,
            TimeZone = zone,
            WindowStart = window?.Time("start", new TimeOnly(9, 0)) ?? new TimeOnly(9, 0),
            WindowEnd = window?.Time("end", new TimeOnly(21, 0)) ?? new TimeOnly(21, 0),
            RingTimeoutSeconds = c.OptNum("ring_timeout_seconds", 25, 15, 120),
            SafeHarborSeconds = c.OptNum("safe_harbor_seconds", 2, 0, 2),
            AbandonCap = c.OptNum("abandon_cap", 0.03, 0.0001, 0.03),
            MaxAttempts = c.Int("max_attempts", 6, 1, 100),
            MaxAttemptsPerDay = c.Int("max_attempts_per_day", 3, 1, 100),
            RetryDelaySeconds = retry,
            Routing = routing,
            Mode = mode,
            PreviewTag = c.OptStr("preview_tag"),
            PreviewTimeoutSeconds = c.OptNum("preview_timeout_seconds", 30, 5, 600),
            PreviewSkipRetrySeconds = c.OptNum("preview_skip_retry_seconds", 3600, 0),
            Script = ScriptFile.Optional(c, "script"),
            Profile = c.OptStr("compliance_profile") is { } id
                ? ComplianceProfiles.Get(id) ?? throw c.Error("compliance_profile", null, $"expected a shipped profile: {string.Join(", ", ComplianceProfiles.Names)}")
                : null,
        };
        try { config.Validate(); }
        catch (ArgumentException e) { throw c.Error(e.Message.Split(':')[0], null, e.Message[(e.Message.IndexOf(':') + 2)..]); }
        window?.Done();
        c.Done();
        return config;
    }

    public static (VicidialOptions Vicidial, PredictiveOptions Predictive) Pacing(YamlSection? p, double cap)
    {
        var v = p?.OptMap("vicidial");
        var vicidial = new VicidialOptions
        {
            InitialLevel = v?.OptNum("initial_level", 1.0, 1, 10) ?? 1.0,
            MaximumLevel = v?.OptNum("maximum_level", 3.0, 1, 10) ?? 3.0,
            DroppedPercentage = v?.OptNum("dropped_percentage", 3, 0, 100) ?? 3,
            Intensity = v?.OptNum("intensity", 0, -40, 40) ?? 0,
            DlDiffTarget = v?.OptNum("dl_diff_target", 0, -100, 100) ?? 0,
        };
        v?.Done();
        var d = new PredictiveOptions();
        var q = p?.OptMap("predictive");
        var predictive = new PredictiveOptions
        {
            TargetAbandonRate = q?.OptNum("target_abandon_rate", d.TargetAbandonRate, 0.0001, cap) ?? d.TargetAbandonRate,
            Gain = q?.OptNum("gain", d.Gain, 0.001, 10) ?? d.Gain,
            MaxCredit = q?.OptNum("max_credit", d.MaxCredit, 0, 1000) ?? d.MaxCredit,
            Interval = q?.OptNum("interval_seconds", d.Interval, 0.01, 10) ?? d.Interval,
        };
        try { predictive.Validate(cap); }
        catch (ArgumentException e) { throw p!.Error("predictive", null, e.Message); }
        q?.Done();
        p?.Done();
        return (vicidial, predictive);
    }

    /// <summary>Trunks; <paramref name="extra"/> reads keys only one side knows (the simulator's failure rate, the ARI endpoint).</summary>
    public static List<TrunkConfig> Trunks(YamlSection root, Action<YamlSection, int>? extra = null)
    {
        var list = root.List("trunks");
        if (list.Count == 0) throw root.Error("trunks", null, "is required: at least one trunk");
        var trunks = new List<TrunkConfig>();
        for (var i = 0; i < list.Count; i++)
        {
            var t = list[i];
            var rates = t.NumberMap("rates", 0);
            if (rates.Count == 0) throw t.Error("rates", null, "is required: cost per minute by prefix, e.g. {\"+86\": 0.012}");
            foreach (var (prefix, _) in rates)
                if (prefix.Length == 0 || prefix.TrimStart('+').Any(ch => ch is < '0' or > '9'))
                    throw t.Error("rates", null, $"prefix \"{prefix}\" must be digits, optionally after '+'");
            var name = t.Str("name");
            if (trunks.Any(x => x.Name == name)) throw t.Error("name", null, $"trunk \"{name}\" is defined twice");
            trunks.Add(new TrunkConfig
            {
                Name = name,
                Channels = t.Int("channels", 0, 1, 1_000_000),
                CallsPerSecond = t.Num("calls_per_second", 0.01, 100_000),
                RatePerMinute = rates.ToDictionary(kv => kv.Key, kv => kv.Value),
                Endpoint = t.OptStr("endpoint"),
            });
            extra?.Invoke(t, i);
            t.Done();
        }
        return trunks;
    }

    public static Distribution Distribution(YamlSection parent, string key, Distribution? fallback = null)
    {
        var d = parent.OptMap(key);
        if (d is null) return fallback ?? throw parent.Error(key, null, "is required, e.g. {dist: lognormal, mean: 180, sd: 90}");
        var kind = d.Str("dist");
        Distribution result = kind switch
        {
            "fixed" => new Distribution.Fixed(d.Num("value", 0)),
            "exponential" => new Distribution.Exponential(d.Num("mean", 1e-6)),
            "lognormal" => new Distribution.LogNormal(d.Num("mean", 1e-6), d.Num("sd", 1e-6)),
            "pareto" => new Distribution.Pareto(d.Num("mean", 1e-6), d.Num("shape", 1.01, 100)),
            "empirical" => d.Numbers("values") is { Count: > 0 } v && v.All(x => x >= 0)
                ? new Distribution.Empirical([.. v])
                : throw d.Error("values", null, "expected a non-empty list of durations ≥ 0"),
            _ => throw d.Error("dist", null, $"\"{kind}\" is not a distribution (expected fixed, exponential, lognormal, pareto, empirical)"),
        };
        d.Done();
        return result;
    }
}
