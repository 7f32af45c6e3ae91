using System.Text.Json;
using Dialer.Core.Domain;

namespace Dialer.Sim.Config;

/// <summary>The config sections a simulation scenario and a production run share: campaign, trunks.</summary>
public static class ConfigSections
{
    /// <summary>
    /// The <c>campaign:</c> section, read into the one campaign schema (the API's and the store's, same keys, same
    /// validator): errors name the file, line and key. The file's <c>timezone</c> is the campaign's unless it gives
    /// <c>time_zone</c>. The section is applied to the defaults as the API's PATCH is (a mapping such as
    /// retry_delay_seconds merges key by key, a list is replaced, null removes a key or resets a field).
    /// </summary>
    public static CampaignSettings Campaign(YamlSection root, TimeZoneInfo siteZone)
    {
        foreach (var moved in (string[])["pacer", "pacing"])
            if (root.Has(moved)) throw root.Error(moved, null, $"is a campaign setting: give it as campaign.{moved}");
        var json = root.OptJson("campaign") ?? throw root.Error("campaign", null, "is required");
        if (!json.ContainsKey("time_zone")) json["time_zone"] = siteZone.Id;
        // An agentless campaign's script is a file of its own or YAML inline: read by its reader, held beside the JSON keys.
        var script = json.Remove("script") ? ScriptFile.Optional(root.Map("campaign"), "script") : null;
        CampaignSettings settings;
        try { settings = new CampaignSettings().Patch(json) with { Script = script }; }
        catch (JsonException e) { throw root.ErrorAt("campaign", e.Path, CampaignSettings.Describe(e)); }
        if (settings.Validate() is { Count: > 0 } errors)
        {
            var (key, message) = errors.First();
            throw root.ErrorAt("campaign", "$." + key, message);
        }
        return settings;
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
