using Dialer.Store;
using Microsoft.Extensions.Configuration;

namespace Dialer.Api;

/// <summary>What `dialer serve` needs; read from the --config JSON file, then environment variables.</summary>
public sealed class ApiOptions
{
    public const string KeysEnvVar = "DIALER_API_KEYS";
    public const string MetricsKeyEnvVar = "DIALER_METRICS_KEY";

    /// <summary>Connection string: sqlite:PATH or PostgreSQL.</summary>
    public required string Db { get; init; }
    /// <summary>Accepted values of the X-Api-Key header. At least one is required.</summary>
    public required IReadOnlyList<string> ApiKeys { get; init; }
    public required Pii Pii { get; init; }
    /// <summary>Keys that open /metrics only (for a Prometheus server that must not read leads); the API keys open it too.</summary>
    public IReadOnlyList<string> MetricsKeys { get; init; } = [];
    /// <summary>Largest leads upload accepted, in bytes.</summary>
    public long MaxUploadBytes { get; init; } = 50 * 1024 * 1024;
    /// <summary>QA rule sets for transcripts (a set names its campaigns, or serves every other one); default: the shipped renewal set.</summary>
    public IReadOnlyList<Core.Quality.QaRuleSet> QaRules { get; init; } = [QualityRuleFile.Shipped];
    /// <summary>Where call recordings are (a recorder such as Asterisk's MixMonitor writes `{channel_id}.wav|mp3|ogg|gsm`); null: none.</summary>
    public string? RecordingsDir { get; init; }
    /// <summary>Webhooks that get the stream's events (see <see cref="Api.Webhooks"/>).</summary>
    public IReadOnlyList<WebhookTarget> Webhooks { get; init; } = [];
    /// <summary>Log every HTTP request (ASP.NET Core's Information lines); off by default.</summary>
    public bool LogRequests { get; init; }
    /// <summary>How long a stop (SIGTERM, Ctrl+C) may take to hang up and close every engine's calls before the host gives up.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// Keys: <c>db</c>, <c>api_keys</c> (array), <c>metrics_key</c>, <c>pii_key</c> (base64 of 32 bytes), <c>max_upload_bytes</c>,
    /// <c>qa_rules</c> (array of QA rule files), <c>recordings_dir</c>, <c>webhooks</c> (array of <c>{url, secret, events: [call, agent,
    /// campaign, disposition, alert]}</c>); the environment (DIALER_DB, DIALER_API_KEYS comma-separated, DIALER_METRICS_KEY,
    /// DIALER_PII_KEY) wins over the file.
    /// </summary>
    public static ApiOptions From(IConfiguration config, bool logRequests = false)
    {
        var keys = Environment.GetEnvironmentVariable(KeysEnvVar) is { Length: > 0 } env
            ? env.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : config.GetSection("api_keys").Get<string[]>() ?? [];
        if (keys.Length == 0) throw new InvalidOperationException($"api_keys: no API key configured (config file 'api_keys' or {KeysEnvVar})");
        if (keys.Any(k => k.Length < 16)) throw new InvalidOperationException("api_keys: every key must be at least 16 characters");
        var metricsKey = Environment.GetEnvironmentVariable(MetricsKeyEnvVar) is { Length: > 0 } m ? m
            : config["metrics_key"] is { Length: > 0 } c ? c : null;
        if (metricsKey is { Length: < 16 }) throw new InvalidOperationException($"metrics_key ({MetricsKeyEnvVar}): must be at least 16 characters");
        var max = config.GetValue<long?>("max_upload_bytes") ?? 50 * 1024 * 1024;
        if (max <= 0) throw new InvalidOperationException("max_upload_bytes: must be positive");
        return new ApiOptions
        {
            Db = StoreDb.Resolve(config["db"]),
            ApiKeys = keys,
            MetricsKeys = metricsKey is null ? [] : [metricsKey],
            Pii = Pii.FromConfig(Environment.GetEnvironmentVariable(Pii.EnvVar) is { Length: > 0 } ? null : config["pii_key"]),
            MaxUploadBytes = max,
            QaRules = config.GetSection("qa_rules").Get<string[]>() is { Length: > 0 } files ? [.. files.Select(QualityRuleFile.Load)] : [QualityRuleFile.Shipped],
            LogRequests = logRequests,
            RecordingsDir = config["recordings_dir"] is { Length: > 0 } dir ? (Directory.Exists(dir) ? dir : throw new InvalidOperationException($"recordings_dir: '{dir}' is not a folder")) : null,
            Webhooks = [.. config.GetSection("webhooks").GetChildren().Select((w, i) => Webhook(w, $"webhooks[{i}]"))],
        };
    }

    private static WebhookTarget Webhook(IConfigurationSection w, string path)
    {
        if (!Uri.TryCreate(w["url"], UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new InvalidOperationException($"{path}.url: must be an absolute http or https URL");
        var secret = w["secret"] is { Length: > 0 } s ? s : null;
        if (secret is { Length: < 16 }) throw new InvalidOperationException($"{path}.secret: must be at least 16 characters");
        var events = w.GetSection("events").Get<string[]>() ?? [];
        if (events.Length == 0) throw new InvalidOperationException($"{path}.events: name at least one of {string.Join(", ", WebhookTarget.Types)}");
        for (var i = 0; i < events.Length; i++)
            if (WebhookTarget.Unknown(events[i]) is { } why) throw new InvalidOperationException($"{path}.events[{i}]: {why}");
        return new WebhookTarget(url, secret, events.ToHashSet(StringComparer.Ordinal));
    }
}
