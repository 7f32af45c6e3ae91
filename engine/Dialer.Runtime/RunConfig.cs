using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Pacing;
using Dialer.Sim.Config;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary>What talks to Asterisk: trunks, agents and their phones, the ARI servers and how the driver uses them. `run` and `serve` share it.</summary>
public sealed record Telephony(
    IReadOnlyList<TrunkConfig> Trunks,
    IReadOnlyList<Agent> Agents,
    SkillCatalog Skills,
    IReadOnlyList<AriServerOptions> Servers,
    AriDriverOptions Driver);

/// <summary>
/// A production run's config file: the campaign (its name in the store, and optionally its settings in <c>campaign:</c>,
/// the one campaign schema the API and scenarios use, read by <see cref="ConfigSections.Campaign"/>; without it the stored
/// campaign settings apply), the trunks, the agents by id, the store (<c>db:</c>, an optional leads CSV to import) and
/// the <c>ari:</c> section. `dialer serve --run-config` reads the same file for its telephony and store parts.
/// </summary>
/// <example><code>
/// name: renewals                                       # the campaign in the store (created if missing)
/// timezone: Asia/Shanghai
/// campaign: {pacer: predictive, window_start: "09:00", window_end: "21:00", ring_timeout_seconds: 25}
/// trunks:
///   - {name: carrier-a, channels: 30, calls_per_second: 5, rates: {"+86": 0.012}, endpoint: "PJSIP/{number}@carrier-a"}
/// agents:
///   - {id: agent1, skills: {lang:mandarin: 5}}        # phone PJSIP/agent1 unless endpoint: is given; server: to place it
/// db: "sqlite:dialer.db"                               # default DIALER_DB, else sqlite:dialer.db
/// leads: leads.csv                                     # optional: imported through the leads importer at start
/// ari:
///   servers: [{id: pbx1, url: "http://127.0.0.1:8088/ari/", user: dialer, password: change-me}]
///   amd: true
///   caller_id: "+861012345678"
///   caller_ids: [{region: beijing, number: "+861012345678"}]
/// </code></example>
public sealed record RunConfig(
    string Name,
    TimeZoneInfo TimeZone,
    CampaignSettings? Settings,
    Telephony Telephony,
    string Db,
    string? LeadsFile,
    string? PiiKey,
    string Node)
{
    public static RunConfig Load(string file)
    {
        var root = YamlSection.Load(file);
        var name = root.OptStr("name") ?? Path.GetFileNameWithoutExtension(file);
        var zone = root.Zone("timezone");
        var settings = root.Has("campaign") || root.Has("pacer") || root.Has("pacing") ? ConfigSections.Campaign(root, zone) : null;
        var telephony = LoadTelephony(root);
        var dir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var leads = root.OptStr("leads") is { } l ? Path.Combine(dir, l) : null;
        if (leads is not null && !File.Exists(leads)) throw root.Error("leads", null, $"'{leads}' does not exist");
        var config = new RunConfig(name, zone, settings, telephony, StoreDb.Resolve(root.OptStr("db")), leads, root.OptStr("pii_key"),
            root.OptStr("node") ?? Environment.MachineName);
        root.Done();
        return config;
    }

    /// <summary>The PII key: DIALER_PII_KEY wins over the file's <c>pii_key</c>.</summary>
    public Pii Pii()
    {
        try { return Store.Pii.FromConfig(Environment.GetEnvironmentVariable(Store.Pii.EnvVar) is { Length: > 0 } ? null : PiiKey); }
        catch (InvalidOperationException e) { throw new ConfigException($"pii_key: {e.Message}"); }
    }

    /// <summary>Reads trunks, agents and ari: (the caller checks for unknown keys with Done()).</summary>
    private static Telephony LoadTelephony(YamlSection root)
    {
        var trunkServers = new Dictionary<string, string>(StringComparer.Ordinal);
        var trunks = ConfigSections.Trunks(root, (t, _) =>
        {
            if (t.OptStr("server") is { } server) trunkServers[t.Str("name")] = server;
        });
        var skills = new SkillCatalog();
        var endpoints = new Dictionary<string, string>(StringComparer.Ordinal);
        var agentServers = new Dictionary<string, string>(StringComparer.Ordinal);
        var agents = root.List("agents").Select((a, i) =>
        {
            var id = a.Str("id");
            if (a.OptStr("endpoint") is { } ep) endpoints[id] = ep;
            if (a.OptStr("server") is { } server) agentServers[id] = server;
            var agent = new Agent { Index = i, Id = id, Skills = SkillSet.From(skills, a.NumberMap("skills", 1, 255).Select(kv => new KeyValuePair<string, int>(kv.Key, (int)kv.Value))) };
            a.Done();
            return agent;
        }).ToList();
        if (agents.Count == 0) throw root.Error("agents", null, "is required: at least one agent {id: agent1}");
        if (agents.GroupBy(a => a.Id).FirstOrDefault(g => g.Count() > 1) is { } dup) throw root.Error("agents", null, $"agent id \"{dup.Key}\" is listed twice");

        var ari = root.Map("ari");
        // The prefix of each campaign engine's Stasis app ("{app}-{campaign}"): for the whole node, or one server's.
        string AppPrefix(YamlSection section, string fallback) =>
            section.OptStr("app") is not { } app ? fallback : AriServerOptions.AppPrefixError(app) is { } bad ? throw section.Error("app", null, bad) : app;
        var appPrefix = AppPrefix(ari, AriServerOptions.DefaultApp);
        var servers = ari.List("servers").Select(s =>
        {
            var url = s.Str("url");
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw s.Error("url", null, $"\"{url}\" is not an http(s) URL like http://127.0.0.1:8088/ari/");
            var o = new AriServerOptions { Id = s.Str("id"), BaseUri = uri, User = s.Str("user"), Password = s.Str("password"), App = AppPrefix(s, appPrefix) };
            s.Done();
            return o;
        }).ToList();
        if (servers.Count == 0) throw ari.Error("servers", null, "is required: at least one {id, url, user, password}");
        var known = servers.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var (section, key, who, server) in trunkServers.Select(kv => (root, "trunks", $"trunk '{kv.Key}': ", (string?)kv.Value))
                     .Concat(agentServers.Select(kv => (root, "agents", $"agent '{kv.Key}': ", (string?)kv.Value)))
                     .Append((ari, "agent_server", "", ari.OptStr("agent_server"))))
            if (server is not null && !known.Contains(server))
                throw section.Error(key, null, $"{who}server '{server}' is not one of ari.servers ({string.Join(", ", known)})");
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
            AgentServers = agentServers,
            AgentEndpoints = endpoints,
            InterServerEndpoint = ari.OptStr("inter_server_endpoint"),
            CallAgents = Bool(ari, "call_agents", defaults.CallAgents),
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
            MaxLoss = ari.OptNum("max_loss", defaults.MaxLoss, 0, 1),
            RtcpPollEvery = TimeSpan.FromSeconds(ari.OptNum("rtcp_poll_seconds", defaults.RtcpPollEvery.TotalSeconds, 0, 3600)),
        };
        ari.Done();
        return new Telephony(trunks, agents, skills, servers, driver);
    }

    private static bool Bool(YamlSection s, string key, bool fallback) => s.OptStr(key) switch
    {
        null => fallback,
        "true" or "yes" => true,
        "false" or "no" => false,
        var v => throw s.Error(key, null, $"expected true or false, got \"{v}\""),
    };
}
