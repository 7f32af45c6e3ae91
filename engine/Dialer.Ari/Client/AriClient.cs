using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Dialer.Ari.Client;

/// <summary>
/// A thin ARI client for one Asterisk server: REST over one pooled keep-alive HttpClient (this file) and
/// the events WebSocket with reconnect and reconciliation (<c>AriClient.Events.cs</c>). It knows ARI,
/// not dialing. Every id it creates is chosen by the caller, so a retried request can never make a twin.
/// </summary>
public sealed partial class AriClient : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly AuthenticationHeaderValue _auth;
    // As many requests in flight as the pool has connections: one waiting for a connection waits here, before its clock
    // starts, so RestHealth sees Asterisk's latency and not our own queue (load run on a loaded box: the queue behind 8
    // connections read as p95 1–3 s, "REST slow" took every trunk out half the time and halved the call rate).
    private readonly SemaphoreSlim _inFlight;

    public AriClient(AriServerOptions options, TimeProvider? time = null)
    {
        Options = options;
        _time = time ?? TimeProvider.System;
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = options.MaxConnections,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            ConnectTimeout = options.RequestTimeout,
        };
        var baseUri = options.BaseUri.AbsoluteUri.EndsWith('/') ? options.BaseUri : new Uri(options.BaseUri.AbsoluteUri + "/");
        _http = new HttpClient(handler) { BaseAddress = baseUri, Timeout = Timeout.InfiniteTimeSpan };
        _inFlight = new SemaphoreSlim(options.MaxConnections, options.MaxConnections);
        RestHealth = new RestHealth(options.MaxConnections);
        _auth = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{options.User}:{options.Password}")));
        _queue = System.Threading.Channels.Channel.CreateBounded<QueueItem>(new System.Threading.Channels.BoundedChannelOptions(options.EventQueueCapacity)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = System.Threading.Channels.BoundedChannelFullMode.Wait, // TryWrite fails when full: we drop and count
        });
    }

    public AriServerOptions Options { get; }
    public string ServerId => Options.Id;
    /// <summary>
    /// Asked right before each try of a request that makes or dials a channel (originate, create, dial), retries too: null
    /// lets it go, else why not (<see cref="AriRefusedException"/>, nothing sent). A node paused past its campaign's lease
    /// after its driver's own check, or whose first try went unanswered across the pause, would dial behind the new owner's
    /// back: a retry of a channel the new owner has hung up since is a new call.
    /// </summary>
    public Func<string?>? MayCall { get; set; }
    /// <summary>How REST is answering: failures in a row and recent latencies (telephony health).</summary>
    public RestHealth RestHealth { get; }

    // ---- channels ------------------------------------------------------------------------------

    /// <summary>POST /channels/create: the channel exists (in our app, not dialed yet). Variables may set CALLERID(num) etc.</summary>
    public Task<AriChannel> CreateChannelAsync(string channelId, string endpoint, string? appArgs,
        IReadOnlyDictionary<string, string>? variables, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, new Query("channels/create").Add("endpoint", endpoint).Add("app", Options.App)
            .Add("appArgs", appArgs).Add("channelId", channelId), VariablesBody(variables), AriJsonContext.Default.AriChannel, ct, calls: true)!;

    /// <summary>POST /channels/{id}/dial. Always pass a timeout: Asterisk's default is to ring forever. Asked again while the channel enters Stasis.</summary>
    public Task DialAsync(string channelId, int timeoutSeconds, CancellationToken ct = default) =>
        WhileEnteringStasis(() => SendAsync<object>(HttpMethod.Post, new Query($"channels/{Esc(channelId)}/dial").Add("timeout", timeoutSeconds), null, null, ct, calls: true), ct);

    /// <summary>
    /// Asterisk answers /channels/create before the channel is in Stasis (res/ari/resource_channels.c: a thread it has just
    /// started puts it there), so the next request on that channel can be refused "Channel not in Stasis application": 409 on
    /// /channels/{id}/… (dial, variable), 422 on /bridges/{id}/addChannel. Lab capture l: 7 of 90 such requests sent at once
    /// (the caller id set before the dial, the agent's dial, the inter-server leg added to its bridge: each refusal lost a
    /// call). Asked again, 20 ms later and twice as long each time (0.6 s in all), before the refusal stands.
    /// </summary>
    private async Task WhileEnteringStasis(Func<Task> request, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await request();
                return;
            }
            catch (AriException e) when (attempt < 5 && e is AriConflictException or AriUnprocessableException && e.AsteriskMessage == NotInStasis)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20 << attempt), _time, ct);
            }
        }
    }

    private const string NotInStasis = "Channel not in Stasis application";

    /// <summary>POST /channels: create and dial in one step; the channel enters our app (StasisStart) when answered.</summary>
    public Task<AriChannel> OriginateAsync(string channelId, string endpoint, string? appArgs, string? callerId, int timeoutSeconds,
        IReadOnlyDictionary<string, string>? variables, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, new Query("channels").Add("endpoint", endpoint).Add("app", Options.App).Add("appArgs", appArgs)
            .Add("channelId", channelId).Add("callerId", callerId).Add("timeout", timeoutSeconds), VariablesBody(variables), AriJsonContext.Default.AriChannel, ct, calls: true)!;

    /// <summary>DELETE /channels/{id}. A 404 means it is already gone, which is what the caller wanted.</summary>
    public async Task HangupAsync(string channelId, int? reasonCode = null, CancellationToken ct = default)
    {
        try
        {
            await SendAsync<object>(HttpMethod.Delete, new Query($"channels/{Esc(channelId)}").Add("reason_code", reasonCode), null, null, ct);
        }
        catch (AriNotFoundException) { }
    }

    /// <summary>POST /channels/{id}/continue: leave Stasis into the dialplan (e.g. the AMD context).</summary>
    public Task ContinueAsync(string channelId, string context, string extension, int priority = 1, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Post, new Query($"channels/{Esc(channelId)}/continue").Add("context", context)
            .Add("extension", extension).Add("priority", priority), null, null, ct);

    public Task<AriPlayback> PlayAsync(string channelId, string media, string playbackId, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, new Query($"channels/{Esc(channelId)}/play").Add("media", media).Add("playbackId", playbackId),
            null, AriJsonContext.Default.AriPlayback, ct)!;

    /// <summary>POST /bridges/{id}/play: every channel in the bridge hears it (and a recording of the bridge holds it).</summary>
    public Task<AriPlayback> PlayBridgeAsync(string bridgeId, string media, string playbackId, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, new Query($"bridges/{Esc(bridgeId)}/play").Add("media", media).Add("playbackId", playbackId),
            null, AriJsonContext.Default.AriPlayback, ct)!;

    /// <summary>GET /channels/{id}/variable; null when the variable is not set (Asterisk answers 404 "Provided variable was not found").</summary>
    public async Task<string?> GetVariableAsync(string channelId, string variable, CancellationToken ct = default)
    {
        try
        {
            var v = await SendAsync(HttpMethod.Get, new Query($"channels/{Esc(channelId)}/variable").Add("variable", variable), null,
                AriJsonContext.Default.AriVariable, ct);
            return v?.Value;
        }
        catch (AriNotFoundException e) when (e.AsteriskMessage == "Provided variable was not found")
        {
            return null;
        }
    }

    /// <summary>POST /channels/{id}/variable (a dialplan function too, e.g. CONNECTEDLINE(num)). Asked again while the channel enters Stasis.</summary>
    public Task SetVariableAsync(string channelId, string variable, string value, CancellationToken ct = default) =>
        WhileEnteringStasis(() => SendAsync<object>(HttpMethod.Post, new Query($"channels/{Esc(channelId)}/variable").Add("variable", variable).Add("value", value), null, null, ct), ct);

    /// <summary>GET /channels/{id}; null when Asterisk has no such channel.</summary>
    public async Task<AriChannel?> GetChannelAsync(string channelId, CancellationToken ct = default)
    {
        try { return await SendAsync(HttpMethod.Get, new Query($"channels/{Esc(channelId)}"), null, AriJsonContext.Default.AriChannel, ct); }
        catch (AriNotFoundException) { return null; }
    }

    public async Task<AriChannel[]> ListChannelsAsync(CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Get, new Query("channels"), null, AriJsonContext.Default.AriChannelArray, ct) ?? [];

    // ---- bridges and recordings ----------------------------------------------------------------

    public Task<AriBridge> CreateBridgeAsync(string bridgeId, string type = "mixing", string? name = null, CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, new Query("bridges").Add("type", type).Add("bridgeId", bridgeId).Add("name", name), null,
            AriJsonContext.Default.AriBridge, ct)!;

    public async Task<AriBridge[]> ListBridgesAsync(CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Get, new Query("bridges"), null, AriJsonContext.Default.AriBridgeArray, ct) ?? [];

    /// <summary>GET /bridges/{id} with the channels in it; null when Asterisk has no such bridge.</summary>
    public async Task<AriBridge?> GetBridgeAsync(string bridgeId, CancellationToken ct = default)
    {
        try { return await SendAsync(HttpMethod.Get, new Query($"bridges/{Esc(bridgeId)}"), null, AriJsonContext.Default.AriBridge, ct); }
        catch (AriNotFoundException) { return null; }
    }

    public async Task DeleteBridgeAsync(string bridgeId, CancellationToken ct = default)
    {
        try
        {
            await SendAsync<object>(HttpMethod.Delete, new Query($"bridges/{Esc(bridgeId)}"), null, null, ct);
        }
        catch (AriNotFoundException) { }
    }

    /// <summary>POST /bridges/{id}/addChannel; <paramref name="channelIds"/> may be a comma-separated list. Asked again while one enters Stasis.</summary>
    public Task AddChannelAsync(string bridgeId, string channelIds, CancellationToken ct = default) =>
        WhileEnteringStasis(() => SendAsync<object>(HttpMethod.Post, new Query($"bridges/{Esc(bridgeId)}/addChannel").Add("channel", channelIds), null, null, ct), ct);

    public Task<AriLiveRecording> RecordBridgeAsync(string bridgeId, string name, string format = "wav", CancellationToken ct = default) =>
        SendAsync(HttpMethod.Post, new Query($"bridges/{Esc(bridgeId)}/record").Add("name", name).Add("format", format)
            .Add("ifExists", "overwrite"), null, AriJsonContext.Default.AriLiveRecording, ct)!;

    public async Task StopRecordingAsync(string name, CancellationToken ct = default)
    {
        try
        {
            await SendAsync<object>(HttpMethod.Post, new Query($"recordings/live/{Esc(name)}/stop"), null, null, ct);
        }
        catch (AriNotFoundException) { }
    }

    /// <summary>GET /endpoints/{tech}/{resource}; an endpoint Asterisk does not define (404) comes back with state "missing".</summary>
    public async Task<AriEndpoint> GetEndpointAsync(string technology, string resource, CancellationToken ct = default)
    {
        try
        {
            return await SendAsync(HttpMethod.Get, new Query($"endpoints/{Esc(technology)}/{Esc(resource)}"), null, AriJsonContext.Default.AriEndpoint, ct)
                   ?? new AriEndpoint { Technology = technology, Resource = resource };
        }
        catch (AriNotFoundException)
        {
            return new AriEndpoint { Technology = technology, Resource = resource, State = "missing" };
        }
    }

    /// <summary>
    /// PUT /applications/{app}/eventFilter: only these event types reach the app (Asterisk ≥ 16.3), which saves Asterisk
    /// the work of serializing the rest (ChannelVarset alone is two thirds of a call's events).
    /// </summary>
    public Task SetEventFilterAsync(IReadOnlyList<string> allowedTypes, CancellationToken ct = default)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartArray("allowed");
            foreach (var t in allowedTypes)
            {
                w.WriteStartObject();
                w.WriteString("type", t);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return SendAsync<object>(HttpMethod.Put, new Query($"applications/{Esc(Options.App)}/eventFilter"), buffer.WrittenSpan.ToArray(), null, ct);
    }

    /// <summary>POST /asterisk/variable: a global variable, which the dialplan reads (DIALER_AGENT_APP_{agent}: the app an agent's calls enter).</summary>
    public Task SetGlobalVariableAsync(string variable, string value, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Post, new Query("asterisk/variable").Add("variable", variable).Add("value", value), null, null, ct);

    /// <summary>GET /asterisk/ping: the cheapest request, to probe a server whose REST was failing or slow.</summary>
    public Task PingAsync(CancellationToken ct = default) => SendAsync<object>(HttpMethod.Get, new Query("asterisk/ping"), null, null, ct);

    /// <summary>POST /applications/{app}/subscription, e.g. "endpoint:PJSIP/carrier-a" for its ContactStatusChange.</summary>
    public Task SubscribeAsync(string eventSource, CancellationToken ct = default) =>
        SendAsync<object>(HttpMethod.Post, new Query($"applications/{Esc(Options.App)}/subscription").Add("eventSource", eventSource), null, null, ct);

    /// <summary>GET /applications/{app}: what the app is subscribed to (404 while no WebSocket has ever registered it).</summary>
    public async Task<AriApplication> GetApplicationAsync(CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Get, new Query($"applications/{Esc(Options.App)}"), null, AriJsonContext.Default.AriApplication, ct) ?? new AriApplication();

    /// <summary>
    /// DELETE /applications/{app}/subscription: one subscription fewer to <paramref name="eventSource"/> (Asterisk counts
    /// them: a source subscribed to three times needs three). Gives what the app is still subscribed to; 422 when it is not.
    /// </summary>
    public async Task<AriApplication> UnsubscribeAsync(string eventSource, CancellationToken ct = default) =>
        await SendAsync(HttpMethod.Delete, new Query($"applications/{Esc(Options.App)}/subscription").Add("eventSource", eventSource), null, AriJsonContext.Default.AriApplication, ct)
        ?? new AriApplication();

    // ---- transport -----------------------------------------------------------------------------

    /// <param name="calls">The request makes or dials a channel: <see cref="MayCall"/> is asked right before each try.</param>
    private async Task<T?> SendAsync<T>(HttpMethod method, Query query, byte[]? body, JsonTypeInfo<T>? result, CancellationToken ct, bool calls = false) where T : class
    {
        var path = query.ToString();
        for (var attempt = 0; ; attempt++)
        {
            await _inFlight.WaitAsync(ct);
            try
            {
                if (calls && MayCall?.Invoke() is { } why) throw new AriRefusedException(ServerId, method.Method, path, why) { Retried = attempt > 0 };
                var (done, value) = await TrySendAsync(method, path, body, result, attempt, ct);
                if (done) return value;
            }
            finally { _inFlight.Release(); }
            await Backoff(attempt, ct); // a retry: never holding a connection while it waits
        }
    }

    /// <summary>One attempt on a connection of our own: (true, result) when done, (false, _) for a retry; throws when out of retries.</summary>
    private async Task<(bool Done, T? Value)> TrySendAsync<T>(HttpMethod method, string path, byte[]? body, JsonTypeInfo<T>? result, int attempt, CancellationToken ct)
        where T : class
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Options.RequestTimeout);
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = _auth;
        if (body is not null) request.Content = new ByteArrayContent(body) { Headers = { ContentType = JsonContentType } };
        HttpResponseMessage response;
        var sent = Stopwatch.GetTimestamp();
        var slot = RestHealth.Sent();
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            RestHealth.Failed(Stopwatch.GetElapsedTime(sent));
            if (attempt < Options.MaxRetries) return (false, null);
            throw new AriUnavailableException(ServerId, method.Method, path, e is OperationCanceledException ? "timed out" : e.Message, e) { Retried = attempt > 0 };
        }
        finally { RestHealth.Returned(slot); } // called off by our caller too: never left waiting
        using (response)
        {
            // Any answer but a gateway error is Asterisk answering: a 404 or 409 is about the request, not its health.
            if ((int)response.StatusCode is 502 or 503 or 504) RestHealth.Failed(Stopwatch.GetElapsedTime(sent));
            else RestHealth.Answered(Stopwatch.GetElapsedTime(sent));
            if (response.IsSuccessStatusCode)
            {
                if (result is null || response.StatusCode == HttpStatusCode.NoContent) return (true, null);
                // Whole body first: the hand-written nested-object converters need the complete value in one buffer.
                var bytes = await response.Content.ReadAsByteArrayAsync(ct);
                return (true, JsonSerializer.Deserialize(bytes, result));
            }
            if ((int)response.StatusCode is 502 or 503 or 504 && attempt < Options.MaxRetries) return (false, null);
            var error = AriException.For(ServerId, method.Method, path, response.StatusCode, await ErrorMessage(response, ct));
            error.Retried = attempt > 0;
            throw error;
        }
    }

    private static readonly MediaTypeHeaderValue JsonContentType = new("application/json");

    private static async Task<string?> ErrorMessage(HttpResponseMessage response, CancellationToken ct)
    {
        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        if (bytes.Length == 0) return null;
        try
        {
            var body = JsonSerializer.Deserialize(bytes, AriJsonContext.Default.AriErrorBody);
            return body?.Message ?? body?.Error;
        }
        catch (JsonException)
        {
            return Encoding.UTF8.GetString(bytes);
        }
    }

    private Task Backoff(int attempt, CancellationToken ct) =>
        Task.Delay(TimeSpan.FromMilliseconds(20 * (1 << attempt) * (0.5 + Random.Shared.NextDouble())), _time, ct);

    private static byte[]? VariablesBody(IReadOnlyDictionary<string, string>? variables)
    {
        if (variables is null || variables.Count == 0) return null;
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteStartObject("variables");
            foreach (var (k, v) in variables) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string Esc(string s) => Uri.EscapeDataString(s);

    /// <summary>Path plus query string; null values are left out.</summary>
    private sealed class Query(string path)
    {
        private readonly StringBuilder _sb = new(path, 128);
        private bool _hasQuery;

        public Query Add(string name, string? value)
        {
            if (value is null) return this;
            _sb.Append(_hasQuery ? '&' : '?').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            _hasQuery = true;
            return this;
        }

        public Query Add(string name, int? value) => value is { } v ? Add(name, v.ToString(System.Globalization.CultureInfo.InvariantCulture)) : this;

        public override string ToString() => _sb.ToString();
    }
}
