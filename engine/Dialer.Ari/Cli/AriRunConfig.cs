using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Dialer.Ari.Cli;

/// <summary>
/// The <c>ari:</c> section of a run config: which Asterisk servers, and how calls map onto them. The rest of
/// the file (campaign, agents, trunks, pacer, leads) belongs to the engine's config loader.
/// </summary>
/// <example><code>
/// ari:
///   servers:
///     - id: pbx1
///       url: http://127.0.0.1:8088/ari/
///       user: dialer
///       password: change-me
///   amd: true
///   caller_id: "+15550000000"
///   caller_id_by_region: { CA: "+14155550000" }
///   auto_ready_seconds: 5
/// </code></example>
public sealed class AriRunConfig
{
    public List<ServerSection> Servers { get; set; } = [];
    public bool Amd { get; set; }
    public string AmdContext { get; set; } = "dialer-amd";
    public string SafeHarborMedia { get; set; } = "sound:dialer/safe-harbor";
    public bool RecordCalls { get; set; }
    public string? CallerId { get; set; }
    public Dictionary<string, string> CallerIdByRegion { get; set; } = [];
    public Dictionary<string, string> AgentEndpoints { get; set; } = [];
    public Dictionary<string, string> TrunkServers { get; set; } = [];
    public string? AgentServer { get; set; }
    /// <summary>Seconds after a call before an agent is ready again (no agent desktop yet); omit to wait for the API.</summary>
    public double? AutoReadySeconds { get; set; }
    public int BreakerFailures { get; set; } = 3;
    public double BreakerCooldownSeconds { get; set; } = 30;
    public double MaxRttMs { get; set; } = 500;

    public sealed class ServerSection
    {
        public string Id { get; set; } = "";
        public string Url { get; set; } = "";
        public string User { get; set; } = "";
        public string Password { get; set; } = "";
        public string App { get; set; } = "dialer";
    }

    /// <summary>Reads the <c>ari:</c> section of <paramref name="path"/>; errors name the key.</summary>
    public static AriRunConfig Load(string path)
    {
        var d = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).IgnoreUnmatchedProperties().Build();
        Root? root;
        try
        {
            root = d.Deserialize<Root?>(File.ReadAllText(path));
        }
        catch (YamlException e)
        {
            throw new ArgumentException($"{path}: line {e.Start.Line}: {e.InnerException?.Message ?? e.Message}", e);
        }
        var ari = root?.Ari ?? throw new ArgumentException($"{path}: no 'ari:' section (servers to connect to)");
        ari.Validate(path);
        return ari;
    }

    public void Validate(string where)
    {
        if (Servers.Count == 0) throw new ArgumentException($"{where}: ari.servers: at least one server is needed");
        for (var i = 0; i < Servers.Count; i++)
        {
            var s = Servers[i];
            var key = $"{where}: ari.servers[{i}]";
            if (string.IsNullOrWhiteSpace(s.Id)) throw new ArgumentException($"{key}.id is required");
            if (!Uri.TryCreate(s.Url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
                throw new ArgumentException($"{key}.url: '{s.Url}' is not an http(s) URL like http://127.0.0.1:8088/ari/");
            if (string.IsNullOrEmpty(s.User) || string.IsNullOrEmpty(s.Password)) throw new ArgumentException($"{key}: user and password are required (ari.conf)");
        }
        if (Servers.GroupBy(s => s.Id).FirstOrDefault(g => g.Count() > 1) is { } dup) throw new ArgumentException($"{where}: ari.servers: id '{dup.Key}' is used twice");
        if (AutoReadySeconds is < 0) throw new ArgumentException($"{where}: ari.auto_ready_seconds must be ≥ 0");
        if (BreakerFailures < 1) throw new ArgumentException($"{where}: ari.breaker_failures must be ≥ 1");
    }

    public IReadOnlyList<AriServerOptions> ServerOptions() => Servers.Select(s => new AriServerOptions
    {
        Id = s.Id, BaseUri = new Uri(s.Url), User = s.User, Password = s.Password, App = s.App,
    }).ToList();

    public AriDriverOptions DriverOptions() => new()
    {
        Amd = Amd, AmdContext = AmdContext, SafeHarborMedia = SafeHarborMedia, RecordCalls = RecordCalls,
        DefaultCallerId = CallerId, CallerIdByRegion = CallerIdByRegion, AgentEndpoints = AgentEndpoints,
        TrunkServers = TrunkServers, AgentServer = AgentServer,
        AutoReadyAfter = AutoReadySeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        BreakerFailures = BreakerFailures, BreakerCooldown = TimeSpan.FromSeconds(BreakerCooldownSeconds), MaxRttMs = MaxRttMs,
    };

    private sealed class Root
    {
        public AriRunConfig? Ari { get; set; }
    }
}
