using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dialer.Emulator;

/// <summary>
/// An ARI-speaking stand-in for Asterisk on Kestrel: the REST calls and the events WebSocket the dialer uses,
/// with callee behaviour from an <see cref="EmulatorScenario"/> and fault injection for tests and load runs.
/// </summary>
public sealed class AriEmulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly EmulatedAsterisk _world;
    private readonly Lock _socketsGate = new();
    private readonly List<EventSocket> _sockets = [];
    // The socket each app's events go to: Asterisk gives an app one WebSocket, the last one to connect.
    private readonly Dictionary<string, EventSocket> _appSockets = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private int _failNext;
    private int _failStatus = 503;
    private readonly Lock _failGate = new();
    private readonly Dictionary<string, int> _failing = []; // request (method, path, query) → tries of it still to fail
    private string? _failAction;
    private int _failCommands, _failTries;
    private int _hangupsToLose;

    private AriEmulator(WebApplication app, EmulatorScenario scenario, TimeProvider time)
    {
        _app = app;
        _world = new EmulatedAsterisk(scenario, time, Deliver);
    }

    /// <summary>Starts on <paramref name="url"/> (port 0 picks a free port; see <see cref="BaseUri"/>).</summary>
    public static async Task<AriEmulator> StartAsync(EmulatorScenario scenario, string url = "http://127.0.0.1:0", TimeProvider? time = null)
    {
        scenario.Validate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        var app = builder.Build();
        var emulator = new AriEmulator(app, scenario, time ?? TimeProvider.System);
        app.UseWebSockets(new WebSocketOptions { KeepAliveInterval = TimeSpan.FromSeconds(10) });
        app.Run(emulator.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        emulator.BaseUri = new Uri(address.TrimEnd('/') + "/ari/");
        emulator._world.Boot();
        if (scenario.QualifySeconds > 0) _ = emulator.QualifyLoop(TimeSpan.FromSeconds(scenario.QualifySeconds * scenario.TimeScale), time ?? TimeProvider.System);
        return emulator;
    }

    public Uri BaseUri { get; private set; } = null!;
    public EmulatorScenario Scenario => _world.Scenario;
    public long ChannelsCreated => _world.ChannelsCreated;
    public int ActiveChannels => _world.ActiveChannels;
    public long RestRequests => Interlocked.Read(ref _restRequests);
    private long _restRequests;

    public int ConnectedSockets
    {
        get { lock (_socketsGate) return _sockets.Count; }
    }

    // ---- fault injection --------------------------------------------------------------------------

    /// <summary>Drops every events socket without a close frame (what "core stop now" or a network cut does); calls stay up.</summary>
    public void DropEventSockets()
    {
        foreach (var s in Snapshot()) s.Abort();
    }

    /// <summary>"core stop now": every channel is hung up (cause 4, destroyed with cause 0), those events go out, then the sockets drop.</summary>
    public async Task StopNowAsync()
    {
        _world.StopNow();
        var until = DateTime.UtcNow.AddSeconds(1);
        while (Snapshot().Any(s => s.Outbox.Reader.Count > 0) && DateTime.UtcNow < until) await Task.Delay(5);
        await Task.Delay(20); // let the last frame leave the socket
        DropEventSockets();
    }

    /// <summary>While set, WebSocket upgrades are refused with 503 (Asterisk still down).</summary>
    public bool RefuseEvents { get; set; }

    /// <summary>The next <paramref name="count"/> REST requests fail with <paramref name="status"/>.</summary>
    public void FailNextRequests(int count, int status = 503)
    {
        _failStatus = status;
        Interlocked.Exchange(ref _failNext, count);
    }

    /// <summary>
    /// The next <paramref name="commands"/> distinct requests whose last path segment is <paramref name="action"/> (e.g.
    /// "continue", "addChannel") fail with 503 each of the first <paramref name="tries"/> times they are sent: a client
    /// that retries twice sees the command fail outright, for certain, whatever else is in flight.
    /// </summary>
    public void FailCommands(string action, int commands, int tries = 3)
    {
        lock (_failGate)
        {
            _failAction = action;
            _failCommands = commands;
            _failTries = tries;
        }
    }

    private bool FailsAsCommand(HttpRequest request, string[] seg)
    {
        var key = $"{request.Method} {request.Path}{request.QueryString}";
        lock (_failGate)
        {
            if (!_failing.TryGetValue(key, out var left))
            {
                if (_failCommands == 0 || seg.Length == 0 || seg[^1] != _failAction) return false;
                _failCommands--;
                left = _failTries;
            }
            if (left == 0) return false;
            _failing[key] = left - 1;
            return true;
        }
    }

    /// <summary>
    /// The next <paramref name="count"/> channel hang-ups (DELETE /channels/{id}, retries included) get no answer until the
    /// client gives up, and are not done: a loaded Asterisk (lab load runs: channels of ours left up after a stop whose
    /// hang-ups had timed out).
    /// </summary>
    public void LoseNextHangups(int count) => Interlocked.Exchange(ref _hangupsToLose, count);

    /// <summary>Every REST reply waits this long first (a slow Asterisk).</summary>
    public TimeSpan RestDelay { get; set; }

    /// <summary>
    /// A new channel (POST /channels, /channels/create) exists only this long after the request arrives, while other requests
    /// are answered at once: a loaded Asterisk builds a PJSIP channel on its SIP threads (hundreds of ms in the lab's load
    /// runs) and a hang-up sent meanwhile finds no channel (404).
    /// </summary>
    public TimeSpan OriginateDelay { get; set; }

    /// <summary>
    /// A channel made by /channels/create enters Stasis this long after the reply, not at once: Asterisk answers before the
    /// thread it starts has put the channel there (lab capture l: StasisStart up to 30 ms after the reply, 7 of 90 requests sent
    /// at once refused), and until then /dial and /variable on it get 409, /bridges/{id}/addChannel 422 "Channel not in Stasis
    /// application". Zero (at once) unless set.
    /// </summary>
    public TimeSpan CreatedChannelsEnterStasisAfter
    {
        get => _world.StasisEntryDelay;
        set => _world.StasisEntryDelay = value;
    }

    /// <summary>Sends a raw text message to every events socket (unknown event types, malformed JSON...).</summary>
    public void SendRaw(string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message);
        Interlocked.Increment(ref _eventsEmitted);
        foreach (var s in Snapshot())
            if (s.Outbox.Writer.TryWrite(bytes)) Interlocked.Increment(ref _eventsDelivered);
    }

    /// <summary>The apps whose events a socket receives now (one socket each), by name.</summary>
    public IReadOnlyList<string> ConnectedApps
    {
        get { lock (_socketsGate) return [.. _appSockets.Keys.Order(StringComparer.Ordinal)]; }
    }

    public void EmitQualify() => _world.EmitQualify();

    /// <summary>The carrier behind <paramref name="trunk"/> dies: no SIP answer to new calls (they end at the dial timeout, cause 19, never ringing), calls up go silent (frozen RTCP), Unreachable at the next qualify.</summary>
    public void KillTrunk(string trunk) => _world.KillTrunk(trunk);

    /// <summary>"core stop gracefully" begins: calls up go on, every new channel is refused with 500 "Allocation failed".</summary>
    public void BeginShutdown() => _world.BeginShutdown();

    /// <summary>
    /// "core restart now": every channel is hung up, the sockets drop, Asterisk is unreachable for <paramref name="down"/>, then
    /// comes back empty with its trunk endpoints offline until their first qualify (<see cref="EmulatorScenario.BootQualifySeconds"/>).
    /// </summary>
    public async Task RestartNowAsync(TimeSpan down)
    {
        RefuseEvents = true;
        await StopNowAsync();
        await Task.Delay(down);
        _world.Restarted();
        RefuseEvents = false;
    }

    /// <summary>The number in From: of the last INVITE sent to <paramref name="number"/> ("anonymous" when the channel had no connected line).</summary>
    public string? FromOf(string number) => _world.FromOf(number);

    /// <summary>
    /// Every spell a live callee (a person, not a machine) spent in silence: answered and in the app, until they heard an agent
    /// (a bridge with another channel), a message, went into the dialplan (AMD), or hung up. Seconds, by channel id.
    /// </summary>
    public IReadOnlyList<Silence> Silences => _world.Silences;
    public IReadOnlyList<BridgePlay> BridgePlays => _world.BridgePlays;

    /// <summary>Events delivered, summed over the sockets (what the apps actually received, after subscriptions and filters).</summary>
    public long EventsDelivered => Interlocked.Read(ref _eventsDelivered);
    private long _eventsDelivered;

    /// <summary>WebSocket close frames received from clients (a clean goodbye, rather than a dropped connection).</summary>
    public long CloseFramesReceived => Interlocked.Read(ref _closeFrames);
    private long _closeFrames;

    // ---- several servers and phones ----------------------------------------------------------------

    /// <summary>
    /// Joins two emulated servers with an inter-server trunk both ways: PJSIP/{exten}@{name of the other} dialed on one
    /// arrives on the other in Stasis(APP,xfer,{exten}), APP the leg's X-Dialer-App header, else the global
    /// DIALER_AGENT_APP_{exten}, else `dialer` (asterisk-conf/README.md, "Several Asterisk servers").
    /// </summary>
    public static void Link(AriEmulator a, string aName, AriEmulator b, string bName)
    {
        a._world.Link(bName, b._world);
        b._world.Link(aName, a._world);
    }

    /// <summary>An agent dials 500 from their phone: Stasis(APP,agent,{endpoint}), APP the global DIALER_AGENT_APP_{endpoint} or `dialer`. Returns the channel id.</summary>
    public string PhoneDialsIn(string endpoint) => _world.Inbound(endpoint, $"agent,{endpoint}");

    /// <summary>A global variable as the dialplan reads it ("" when unset).</summary>
    public string GlobalVariable(string name) => _world.Global(name);

    /// <summary>The Stasis app a channel is in now (null if it is gone).</summary>
    public string? AppOf(string channelId) => _world.AppOf(channelId);

    /// <summary>A key pressed on a channel's phone; false if the channel is gone.</summary>
    public bool PressKey(string channelId, string digit) => _world.Dtmf(channelId, digit);

    /// <summary>The phone on a channel hangs up (callee or agent); false if the channel is gone.</summary>
    public bool FarEndHangsUp(string channelId) => _world.HangupFromFarEnd(channelId);

    /// <summary>How many channels a bridge holds now (0 if it does not exist).</summary>
    public int BridgeSize(string bridgeId) => _world.BridgeSize(bridgeId);

    /// <summary>Ids of the channels up now whose PJSIP endpoint is <paramref name="resource"/> (e.g. an agent's phone).</summary>
    public IReadOnlyList<string> ChannelsOf(string resource) => _world.ChannelsOf(resource);

    // ---- HTTP ---------------------------------------------------------------------------------------

    private async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        if (!path.StartsWith("/ari/", StringComparison.Ordinal))
        {
            await Write(ctx, Reply.Message(404, "Resource not found"));
            return;
        }
        if (!Authorized(ctx.Request))
        {
            ctx.Response.Headers.WWWAuthenticate = "Basic realm=\"Asterisk REST Interface\"";
            await Write(ctx, Reply.Message(401, "Authentication required"));
            return;
        }
        var seg = path["/ari/".Length..].Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        if (seg is ["events"])
        {
            await EventsAsync(ctx);
            return;
        }
        Interlocked.Increment(ref _restRequests);
        if (RestDelay > TimeSpan.Zero) await Task.Delay(RestDelay);
        var scenario = _world.Scenario;
        if ((Volatile.Read(ref _failNext) > 0 && Interlocked.Decrement(ref _failNext) >= 0) || FailsAsCommand(ctx.Request, seg)
            || (scenario.RestFailureRate > 0 && Random.Shared.NextDouble() < scenario.RestFailureRate))
        {
            await Write(ctx, Reply.Message(_failStatus, "Service Unavailable (injected)"));
            return;
        }
        if (scenario.RestDelayMs > 0) await Task.Delay(TimeSpan.FromMilliseconds(scenario.RestDelayMs));
        var q = new Args(ctx.Request.Query);
        var method = ctx.Request.Method;
        if (OriginateDelay > TimeSpan.Zero && method == "POST" && seg is ["channels"] or ["channels", "create"]) await Task.Delay(OriginateDelay);
        if (method == "DELETE" && seg is ["channels", _] && Volatile.Read(ref _hangupsToLose) > 0 && Interlocked.Decrement(ref _hangupsToLose) >= 0)
        {
            using var gone = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, _stop.Token);
            await Task.Delay(Timeout.InfiniteTimeSpan, gone.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
            return;
        }
        var reply = (method, seg) switch
        {
            ("POST", ["channels"]) => Place(q, await Variables(ctx), createOnly: false, ctx.Request),
            ("POST", ["channels", "create"]) => Place(q, await Variables(ctx), createOnly: true, ctx.Request),
            ("GET", ["channels"]) => _world.ListChannels(),
            ("GET", ["channels", var id]) => _world.GetChannel(id),
            ("DELETE", ["channels", var id]) => Hangup(id, q, ctx.Request),
            ("POST", ["channels", var id, "dial"]) => _world.Dial(id, q),
            ("POST", ["channels", var id, "continue"]) => _world.Continue(id, q),
            ("POST", ["channels", var id, "answer"]) => _world.Answer(id),
            ("POST", ["channels", var id, "play"]) => _world.Play(id, q),
            ("DELETE", ["playbacks", var id]) => _world.StopPlayback(id),
            ("POST" or "DELETE", ["channels", var id, "moh"]) => _world.ChannelMoh(id),
            ("GET", ["channels", var id, "variable"]) => _world.GetVariable(id, q),
            ("POST", ["channels", var id, "variable"]) => _world.SetVariable(id, q),
            ("POST", ["bridges"]) => _world.CreateBridge(q),
            ("GET", ["bridges"]) => _world.ListBridges(),
            ("DELETE", ["bridges", var id]) => _world.DestroyBridge(id),
            ("POST", ["bridges", var id, "addChannel"]) => _world.AddChannel(id, q),
            ("POST", ["bridges", var id, "record"]) => _world.RecordBridge(id, q),
            ("POST", ["recordings", "live", var name, "stop"]) => _world.StopRecording(name),
            ("GET", ["bridges", var id]) => _world.GetBridge(id),
            ("POST" or "DELETE", ["bridges", var id, "moh"]) => _world.BridgeMoh(id),
            ("POST", ["bridges", var id, "play"]) => _world.PlayBridge(id, q),
            ("GET", ["recordings", "live", var name]) => _world.LiveRecording(name),
            ("GET", ["recordings", "stored"]) => _world.StoredRecordings(null),
            ("GET", ["recordings", "stored", var name]) => _world.StoredRecordings(name),
            ("GET", ["recordings", "stored", var name, "file"]) => _world.StoredRecordingFile(name),
            ("DELETE", ["recordings", "stored", var name]) => _world.DeleteStoredRecording(name),
            ("GET", ["endpoints"]) => _world.Endpoints(null),
            ("GET", ["endpoints", var tech]) => _world.Endpoints(tech),
            ("GET", ["endpoints", var tech, var resource]) => _world.Endpoint(tech, resource),
            ("GET", ["applications", var app]) => _world.Application(app),
            ("POST", ["applications", var app, "subscription"]) => _world.Subscribe(app, q),
            ("DELETE", ["applications", var app, "subscription"]) => _world.Unsubscribe(app, q),
            ("PUT", ["applications", var app, "eventFilter"]) => _world.SetEventFilter(app, await Body(ctx)),
            ("GET", ["asterisk", "ping"]) => _world.Ping(),
            ("GET", ["asterisk", "info"]) => _world.Info(),
            ("GET", ["asterisk", "variable"]) => _world.GlobalVariable(q),
            ("POST", ["asterisk", "variable"]) => _world.SetGlobalVariable(q),
            _ => Reply.Message(404, "Resource not found"),
        };
        await Write(ctx, reply);
    }

    private bool Authorized(HttpRequest request) => User(request) is not null;

    /// <summary>The ARI user the request authenticated as (the scenario's user or one of its <see cref="EmulatorScenario.OtherUsers"/>), or null.</summary>
    private string? User(HttpRequest request)
    {
        var s = _world.Scenario;
        string? credentials = null;
        if (request.Query.TryGetValue("api_key", out var key)) credentials = key.ToString();
        else if (request.Headers.Authorization.ToString() is { } header && header.StartsWith("Basic ", StringComparison.Ordinal))
            try { credentials = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..])); }
            catch (FormatException) { return null; }
        if (credentials?.Split(':', 2) is not [var user, var password] || password != s.Password) return null;
        return user == s.User || s.OtherUsers.Contains(user) ? user : null;
    }

    /// <summary>Every channel hung up over REST (DELETE /channels/{id} of a channel that was up), with the ARI user who asked and when: who touched whose calls.</summary>
    public IReadOnlyList<(string ChannelId, string User, DateTime At)> HangupRequests => Requests(hangups: true);

    /// <summary>Every call placed over REST (POST /channels or /channels/create), with the ARI user who asked and when: who dialed after losing a campaign.</summary>
    public IReadOnlyList<(string ChannelId, string User, DateTime At)> PlaceRequests => Requests(hangups: false);

    private List<(string, string, DateTime)> Requests(bool hangups)
    {
        lock (_requests) return [.. _requests.Where(r => r.Hangup == hangups).Select(r => (r.ChannelId, r.User, r.At))];
    }
    private readonly List<(bool Hangup, string ChannelId, string User, DateTime At)> _requests = [];

    private Reply Hangup(string id, Args q, HttpRequest request)
    {
        var at = DateTime.UtcNow;
        var reply = _world.Hangup(id, q);
        if (reply.Status < 300) lock (_requests) _requests.Add((true, id, User(request)!, at)); // a channel already gone (404) was not touched
        return reply;
    }

    private Reply Place(Args q, Dictionary<string, string>? variables, bool createOnly, HttpRequest request)
    {
        lock (_requests) _requests.Add((false, q["channelId"] ?? "", User(request)!, DateTime.UtcNow));
        return _world.Originate(q, variables, createOnly);
    }

    private static async Task<Dictionary<string, string>?> Variables(HttpContext ctx)
    {
        if (ctx.Request.ContentLength is null or 0) return null;
        using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
        if (!doc.RootElement.TryGetProperty("variables", out var vars) || vars.ValueKind != JsonValueKind.Object) return null;
        return vars.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ToString());
    }

    private static async Task<JsonElement?> Body(HttpContext ctx)
    {
        if (ctx.Request.ContentLength is null or 0) return null;
        using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
        return doc.RootElement.Clone();
    }

    private static async Task Write(HttpContext ctx, Reply reply)
    {
        ctx.Response.StatusCode = reply.Status;
        if (reply.Body is null) return;
        ctx.Response.ContentType = reply.ContentType;
        await ctx.Response.Body.WriteAsync(reply.Body);
    }

    // ---- events WebSocket -----------------------------------------------------------------------------

    private async Task EventsAsync(HttpContext ctx)
    {
        if (!ctx.WebSockets.IsWebSocketRequest || RefuseEvents)
        {
            await Write(ctx, Reply.Message(RefuseEvents ? 503 : 400, "WebSocket upgrade required"));
            return;
        }
        var app = ctx.Request.Query["app"].ToString();
        // Registered before the handshake completes: the client may send REST the moment it sees 101, and the events of that
        // request must reach it (they queue in the outbox until the writer starts). The socket that had the app until now
        // hears ApplicationReplaced, then nothing more (Asterisk 22, probed on the lab's cl2); its close does not unregister it.
        var socket = new EventSocket(ctx, ctx.Request.Query["subscribeAll"].ToString() == "true");
        var (registration, replaced) = _world.RegisterApp(app, socket.SubscribeAll);
        lock (_socketsGate)
        {
            _sockets.Add(socket);
            if (_appSockets.TryGetValue(app, out var old) && replaced is not null && old.Outbox.Writer.TryWrite(replaced)) Interlocked.Increment(ref _eventsDelivered);
            _appSockets[app] = socket;
        }
        try
        {
            using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
            var writer = socket.WriteLoop(ws, _stop.Token);
            var buffer = new byte[1024];
            while (ws.State == WebSocketState.Open)
            {
                var r = await ws.ReceiveAsync(buffer, ctx.RequestAborted);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    Interlocked.Increment(ref _closeFrames);
                    await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
                    break;
                }
            }
            socket.Outbox.Writer.TryComplete();
            await writer;
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or Microsoft.AspNetCore.Connections.ConnectionAbortedException) { }
        finally
        {
            socket.End();
            lock (_socketsGate)
            {
                _sockets.Remove(socket);
                // The app's own socket gone: its events go nowhere until a socket registers it again (its channels stay).
                if (_appSockets.TryGetValue(app, out var current) && current == socket) _appSockets.Remove(app);
            }
            _world.Unregister(app, registration); // a replaced socket's registration is no longer the app's: nothing happens
        }
    }

    /// <summary>One app's event, to the socket that has the app now (none: lost, as Asterisk drops an app's events while nobody listens).</summary>
    private void Deliver(string app, byte[] message)
    {
        Interlocked.Increment(ref _eventsEmitted);
        EventSocket? socket;
        lock (_socketsGate) _appSockets.TryGetValue(app, out socket);
        if (socket is not null && socket.Outbox.Writer.TryWrite(message)) Interlocked.Increment(ref _eventsDelivered);
    }

    private long _eventsEmitted;
    /// <summary>Events (and raw messages) the emulated Asterisk has emitted, a copy per app that hears each.</summary>
    public long EventsEmitted => Interlocked.Read(ref _eventsEmitted);

    private EventSocket[] Snapshot()
    {
        lock (_socketsGate) return [.. _sockets];
    }

    private async Task QualifyLoop(TimeSpan period, TimeProvider time)
    {
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token)) _world.EmitQualify();
        }
        catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _world.Shutdown();
        DropEventSockets();
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2))) await _app.StopAsync(grace.Token);
        await _app.DisposeAsync();
        _stop.Dispose();
    }

    private sealed class EventSocket(HttpContext context, bool subscribeAll)
    {
        private readonly Lock _gate = new();
        private bool _ended;
        public bool SubscribeAll { get; } = subscribeAll;
        public Channel<byte[]> Outbox { get; } = Channel.CreateUnbounded<byte[]>(); // multi-reader kind: it can report Count

        /// <summary>Drops the connection, unless its request has ended: Kestrel then disposes (and reuses) the context.</summary>
        public void Abort()
        {
            lock (_gate)
                if (!_ended) context.Abort();
        }

        /// <summary>The request is ending (its handler returns next): no abort reaches its context after this.</summary>
        public void End()
        {
            lock (_gate) _ended = true;
            Outbox.Writer.TryComplete();
        }

        public async Task WriteLoop(WebSocket ws, CancellationToken ct)
        {
            try
            {
                await foreach (var m in Outbox.Reader.ReadAllAsync(ct))
                    await ws.SendAsync(m, WebSocketMessageType.Text, endOfMessage: true, ct);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException) { }
        }
    }
}
