using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;

namespace Dialer.Api;

/// <summary>
/// One webhook: where to POST, the secret that signs each delivery, and which events it takes: a type (every event of
/// it) or type.kind (`call.bridged`, `agent.paused`, `alert.raised`: only those).
/// </summary>
public sealed record WebhookTarget(Uri Url, string? Secret, IReadOnlySet<string> Events)
{
    /// <summary>Event types a webhook may take (the stream's, but `stats`, which is for dashboards).</summary>
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal) { "call", "agent", "campaign", "disposition", "alert" };

    /// <summary>The kinds within a type that a webhook may take alone.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Kinds = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["call"] = ["placed", "ringing", "answered", "bridged", "safe_harbor", "ended"],
        ["agent"] = EventHub.AgentStates,
        ["alert"] = ["raised", "cleared"],
    };

    /// <summary>Why <paramref name="name"/> names no event a webhook can take, or null.</summary>
    public static string? Unknown(string name)
    {
        var dot = name.IndexOf('.');
        var type = dot < 0 ? name : name[..dot];
        if (!Types.Contains(type)) return $"'{name}' is not one of {string.Join(", ", Types)} (or type.kind)";
        if (dot < 0) return null;
        return Kinds.TryGetValue(type, out var kinds) && kinds.Contains(name[(dot + 1)..]) ? null
            : $"'{name}': {type} events {(kinds is null ? "have no kinds" : "are " + string.Join(", ", kinds))}";
    }

    public bool Takes(string type, string? kind) => Events.Contains(type) || (kind is not null && Events.Contains($"{type}.{kind}"));
}

/// <summary>
/// Delivers stream events to webhooks: each event the hub publishes whose type a webhook takes is POSTed to it as the
/// stream's JSON, with `X-Dialer-Event` (type), `X-Dialer-Event-Id` (the stream id, so a receiver can drop repeats and
/// order them) and, with a secret, `X-Dialer-Signature: sha256=HEX` = HMAC-SHA256(secret, "{timestamp}.{body}") with
/// `X-Dialer-Timestamp` (Unix seconds). Each webhook has its own queue (10,000; when full the oldest is dropped and
/// counted) and one sender, so deliveries keep their order. A 2xx is delivered; a timeout (5 s), a connection failure,
/// a 429 or a 5xx is retried after 1, 2, 4, 8 and 16 s, then given up (counted); any other 4xx is given up at once.
/// An alert whose rule does not say `notify` is not sent.
/// </summary>
public sealed class Webhooks : IAsyncDisposable
{
    public static readonly TimeSpan[] RetryDelays = [TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(16)];
    private readonly List<(WebhookTarget Target, Channel<Delivery> Queue, Task Sender)> _targets = [];
    private readonly HttpClient _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly TimeProvider _time;
    private long _delivered, _failed, _dropped, _retries;
    private int _disposed;

    public Webhooks(IReadOnlyList<WebhookTarget> targets, EventHub hub, TimeProvider? time = null, HttpMessageHandler? handler = null)
    {
        _time = time ?? TimeProvider.System;
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.Timeout = TimeSpan.FromSeconds(5);
        foreach (var t in targets)
        {
            var q = Channel.CreateBounded<Delivery>(new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
                _ => Interlocked.Increment(ref _dropped));
            _targets.Add((t, q, Task.Run(() => SendAll(t, q.Reader, _stop.Token))));
        }
        if (_targets.Count > 0) hub.Published += Queue;
    }

    public long Delivered => Interlocked.Read(ref _delivered);
    public long Failed => Interlocked.Read(ref _failed);
    public long Dropped => Interlocked.Read(ref _dropped);
    public long Retries => Interlocked.Read(ref _retries);
    public int Queued => _targets.Sum(t => t.Queue.Reader.Count);

    private readonly record struct Delivery(string Type, long Id, string Body);

    private void Queue(string type, long id, string payload, object data, string? kind)
    {
        if (data is AlertEvent { Notify: false }) return;
        foreach (var (target, queue, _) in _targets)
            if (target.Takes(type, kind)) queue.Writer.TryWrite(new Delivery(type, id, payload));
    }

    private async Task SendAll(WebhookTarget target, ChannelReader<Delivery> queue, CancellationToken ct)
    {
        try
        {
            await foreach (var d in queue.ReadAllAsync(ct))
                if (await SendOne(target, d, ct)) Interlocked.Increment(ref _delivered);
                else Interlocked.Increment(ref _failed);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    /// <summary>One delivery with its retries; false when given up.</summary>
    private async Task<bool> SendOne(WebhookTarget target, Delivery d, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            bool retry;
            try
            {
                using var req = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = new StringContent(d.Body, Encoding.UTF8, "application/json") };
                req.Headers.Add("X-Dialer-Event", d.Type);
                req.Headers.Add("X-Dialer-Event-Id", d.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (target.Secret is { } secret)
                {
                    var ts = _time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
                    req.Headers.Add("X-Dialer-Timestamp", ts);
                    req.Headers.Add("X-Dialer-Signature", "sha256=" + Sign(secret, ts, d.Body));
                }
                using var res = await _http.SendAsync(req, ct);
                if (res.IsSuccessStatusCode) return true;
                retry = (int)res.StatusCode is 429 or >= 500;
            }
            catch (HttpRequestException) { retry = true; } // refused, reset, DNS: the receiver may be back soon
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { retry = true; } // the 5 s timeout
            if (!retry || attempt >= RetryDelays.Length) return false;
            Interlocked.Increment(ref _retries);
            await Task.Delay(RetryDelays[attempt], _time, ct);
        }
    }

    /// <summary>The signature a receiver recomputes: lower-case hex HMAC-SHA256 of "{timestamp}.{body}".</summary>
    public static string Sign(string secret, string timestamp, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{body}")));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        await Task.WhenAll(_targets.Select(t => t.Sender));
        _http.Dispose();
        _stop.Dispose();
    }
}
