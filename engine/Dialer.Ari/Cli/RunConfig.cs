using Dialer.Core.Text;
using System.Globalization;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;
using Dialer.Sim.Config;

namespace Dialer.Ari.Cli;

/// <summary>
/// A production run's config file: the sections it shares with simulation scenarios (campaign, pacing, trunks,
/// read by <see cref="ConfigSections"/>), the agents by id, the leads CSV, and the <c>ari:</c> section.
/// </summary>
/// <example><code>
/// name: renewals
/// timezone: Asia/Shanghai
/// pacer: predictive
/// campaign: {window: {start: "09:00", end: "21:00"}, ring_timeout_seconds: 25}
/// trunks:
///   - {name: carrier-a, channels: 30, calls_per_second: 5, rates: {"+86": 0.012}, endpoint: "PJSIP/{number}@carrier-a"}
/// agents:
///   - {id: agent1, skills: {lang:mandarin: 5}}        # phone PJSIP/agent1 unless endpoint: is given
/// leads: leads.csv                                     # phone, region, timezone [, priority, tags, customer_id, policy_expiry]
/// ari:
///   servers: [{id: pbx1, url: "http://127.0.0.1:8088/ari/", user: dialer, password: change-me}]
///   amd: true
///   caller_id: "+861012345678"
///   caller_ids: [{region: beijing, number: "+861012345678"}]
///   auto_ready_seconds: 5
/// </code></example>
public sealed record RunConfig(EngineParts Engine, IReadOnlyList<AriServerOptions> Servers, AriDriverOptions Driver)
{
    public static RunConfig Load(string file)
    {
        var root = YamlSection.Load(file);
        var name = root.OptStr("name") ?? Path.GetFileNameWithoutExtension(file);
        var zone = root.Zone("timezone");
        var campaign = ConfigSections.Campaign(root.OptMap("campaign") ?? throw root.Error("campaign", null, "is required"), name, zone);
        var (vicidial, predictive) = ConfigSections.Pacing(root.OptMap("pacing"), campaign.AbandonCap);
        var pacerName = root.OptStr("pacer") ?? "progressive";
        IPacer pacer;
        try { pacer = Pacers.Create(pacerName, vicidial, predictive, seed: 1); }
        catch (ArgumentException e) { throw root.Error("pacer", null, e.Message); }

        var trunkServers = new Dictionary<string, string>(StringComparer.Ordinal);
        var trunks = ConfigSections.Trunks(root, (t, _) =>
        {
            if (t.OptStr("server") is { } server) trunkServers[t.Str("name")] = server;
        });
        var skills = new SkillCatalog();
        var endpoints = new Dictionary<string, string>(StringComparer.Ordinal);
        var agents = root.List("agents").Select((a, i) =>
        {
            var id = a.Str("id");
            if (a.OptStr("endpoint") is { } ep) endpoints[id] = ep;
            var agent = new Agent { Index = i, Id = id, Skills = SkillSet.From(skills, a.NumberMap("skills", 1, 255).Select(kv => new KeyValuePair<string, int>(kv.Key, (int)kv.Value))) };
            a.Done();
            return agent;
        }).ToList();
        if (agents.Count == 0) throw root.Error("agents", null, "is required: at least one agent {id: agent1}");
        if (agents.GroupBy(a => a.Id).FirstOrDefault(g => g.Count() > 1) is { } dup) throw root.Error("agents", null, $"agent id \"{dup.Key}\" is listed twice");

        var leadsFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, root.Str("leads"));
        var leads = LeadsCsv.Read(leadsFile);
        var rules = new RoutingRules(campaign, skills, new RequirementTable());
        foreach (var lead in leads) rules.Apply(lead);
        var ari = root.Map("ari");
        var servers = ari.List("servers").Select(s =>
        {
            var url = s.Str("url");
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw s.Error("url", null, $"\"{url}\" is not an http(s) URL like http://127.0.0.1:8088/ari/");
            var o = new AriServerOptions { Id = s.Str("id"), BaseUri = uri, User = s.Str("user"), Password = s.Str("password"), App = s.OptStr("app") ?? "dialer" };
            s.Done();
            return o;
        }).ToList();
        if (servers.Count == 0) throw ari.Error("servers", null, "is required: at least one {id, url, user, password}");
        var callerIds = ari.List("caller_ids").ToDictionary(c => c.Str("region"), c =>
        {
            var n = c.Str("number");
            c.Done();
            return n;
        });
        var defaults = new AriDriverOptions();
        var autoReady = ari.OptNum("auto_ready_seconds", double.NaN, 0, 3600);
        var driver = new AriDriverOptions
        {
            TrunkServers = trunkServers,
            AgentServer = ari.OptStr("agent_server"),
            AgentEndpoints = endpoints,
            Amd = Bool(ari, "amd", false),
            AmdContext = ari.OptStr("amd_context") ?? defaults.AmdContext,
            SafeHarborMedia = ari.OptStr("safe_harbor_media") ?? defaults.SafeHarborMedia,
            RecordCalls = Bool(ari, "record_calls", false),
            DefaultCallerId = ari.OptStr("caller_id"),
            CallerIdByRegion = callerIds,
            AutoReadyAfter = double.IsNaN(autoReady) ? null : TimeSpan.FromSeconds(autoReady),
            BreakerFailures = ari.Int("breaker_failures", defaults.BreakerFailures, 1, 1000),
            BreakerCooldown = TimeSpan.FromSeconds(ari.OptNum("breaker_cooldown_seconds", defaults.BreakerCooldown.TotalSeconds, 1, 3600)),
            MaxRttMs = ari.OptNum("max_rtt_ms", defaults.MaxRttMs, 1, 10_000),
        };
        ari.Done();
        root.Done();
        var hopper = new MemoryHopper(campaign, leads, DateTime.UtcNow);
        return new RunConfig(new EngineParts(campaign, agents, trunks, pacer, hopper, new RateTable(perRegionHour: true)), servers, driver);
    }

    private static bool Bool(YamlSection s, string key, bool fallback) => s.OptStr(key) switch
    {
        null => fallback,
        "true" or "yes" => true,
        "false" or "no" => false,
        var v => throw s.Error(key, null, $"expected true or false, got \"{v}\""),
    };
}

/// <summary>The leads CSV of DESIGN.md (header required: phone, region, timezone; optional priority, tags, customer_id, policy_expiry).</summary>
public static class LeadsCsv
{
    public static List<Lead> Read(string file)
    {
        if (!File.Exists(file)) throw new ConfigException($"{file}: leads file not found");
        using var reader = new StreamReader(file);
        var csv = new CsvReader(reader);
        var f = new List<string>();
        if (!csv.Read(f)) throw new ConfigException($"{file}: empty (a header row is required)");
        var header = f.Select(h => h.ToLowerInvariant()).ToArray();
        int Col(string name, bool required)
        {
            var i = Array.IndexOf(header, name);
            return i < 0 && required ? throw new ConfigException($"{file}:1: header: column '{name}' is required") : i;
        }
        int phone = Col("phone", true), region = Col("region", true), zone = Col("timezone", true);
        int priority = Col("priority", false), tags = Col("tags", false), customer = Col("customer_id", false), expiry = Col("policy_expiry", false);
        var leads = new List<Lead>();
        while (csv.Read(f))
        {
            var row = csv.Row;
            if (csv.Malformed is { } bad) throw new ConfigException($"{file}:{row}: {bad}");
            string Field(int i, string name) => i < f.Count ? f[i] : throw new ConfigException($"{file}:{row}: {name}: missing (the row has {f.Count} fields)");
            string? Opt(int i) => i >= 0 && i < f.Count && f[i].Length > 0 ? f[i] : null;
            var number = Field(phone, "phone");
            if (number.Length < 3 || number.TrimStart('+').Any(c => c is < '0' or > '9')) throw new ConfigException($"{file}:{row}: phone: '{number}' is not a phone number (digits, optionally after '+')");
            var tzName = Field(zone, "timezone");
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(tzName, out var tz)) throw new ConfigException($"{file}:{row}: timezone: '{tzName}' is not a known IANA time zone");
            leads.Add(new Lead
            {
                Id = leads.Count + 1, Phone = number, Region = Field(region, "region"), TimeZone = tz, CustomerId = Opt(customer),
                Priority = Opt(priority) is { } p ? int.TryParse(p, CultureInfo.InvariantCulture, out var pv) ? pv : throw new ConfigException($"{file}:{row}: priority: '{p}' is not a whole number") : 0,
                Tags = Opt(tags)?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [],
                PolicyExpiry = Opt(expiry) is { } e ? DateOnly.TryParseExact(e, "yyyy-MM-dd", out var d) ? d : throw new ConfigException($"{file}:{row}: policy_expiry: '{e}' is not a date like 2026-12-31") : null,
            });
        }
        return leads;
    }
}
