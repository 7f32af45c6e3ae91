using System.Buffers;
using System.Net.WebSockets;
using System.Threading.Channels;

namespace Dialer.Ari.Client;

/// <summary>
/// What the client calls for the events of one server. Calls come one at a time, in arrival order, on the socket's reader:
/// return at once, never block the thread. A call that has to wait returns its pending task; the events after it wait behind it.
/// </summary>
public interface IAriEventSink
{
    ValueTask OnEventAsync(AriClient server, AriEvent e, CancellationToken ct);

    /// <summary>
    /// Events may have been missed: after every (re)connect (before any event of the new connection), and
    /// after the event queue overflowed. Compare your state with GET /channels and GET /bridges.
    /// </summary>
    ValueTask ReconcileAsync(AriClient server, ReconcileReason reason, CancellationToken ct);
}

public enum ReconcileReason : byte { Connected, Reconnected, EventsDropped }

/// <summary>Counters of one connection's event path; read them from any thread.</summary>
public sealed class AriEventStats
{
    internal long _received, _dropped, _malformed, _duplicates, _handlerErrors, _connects;
    public long Received => Volatile.Read(ref _received);
    /// <summary>Events dropped because the queue was full (each overflow triggers a reconciliation).</summary>
    public long Dropped => Volatile.Read(ref _dropped);
    /// <summary>Messages that were not valid JSON.</summary>
    public long Malformed => Volatile.Read(ref _malformed);
    /// <summary>Playback/Recording events Asterisk delivered twice (subscribeAll, bridge targets).</summary>
    public long Duplicates => Volatile.Read(ref _duplicates);
    public long HandlerErrors => Volatile.Read(ref _handlerErrors);
    public long Connects => Volatile.Read(ref _connects);
}

public sealed partial class AriClient
{
    private readonly TimeProvider _time;
    private readonly Channel<QueueItem> _queue;
    private readonly (AriEventType Type, string Id, string? State)[] _recent = new (AriEventType, string, string?)[16];
    private int _recentNext;
    private int _overflowed;
    private readonly Lock _catchUpGate = new();
    private bool _catchingUp; // a reconciliation is queued or running: events queue behind it
    private volatile bool _connected;
    private volatile bool _closing;
    private int _disposed;
    private ClientWebSocket? _ws;
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;

    public AriEventStats EventStats { get; } = new();
    public bool IsConnected => _connected;
    /// <summary>
    /// Another connection registered our app on this server (ApplicationReplaced): Asterisk gives an app one WebSocket and
    /// sends every later event to the newest. The client does not connect again (two engines on one app would take it from
    /// each other in turn): this server stays unheard until the engine stops. Usually a new owner of the campaign took over.
    /// </summary>
    public bool Replaced => _replaced;
    private volatile bool _replaced;
    /// <summary>
    /// Asked before each reconnect (not the first connect): false keeps the client off the app. A node that no longer holds
    /// its campaign must not register the app again: it would take the app's events from the campaign's new owner.
    /// </summary>
    public Func<bool>? MayReconnect { get; set; }
    /// <summary>Why the last connect or read failed (diagnostics for the console and logs).</summary>
    public string? LastError { get; private set; }
    /// <summary>Diagnostic messages (connects, drops, handler failures); never called on the read path's hot loop.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Starts reading events into <paramref name="sink"/> until <see cref="DisposeAsync"/>.</summary>
    public void Start(IAriEventSink sink)
    {
        if (_run is not null) throw new InvalidOperationException($"ARI {ServerId}: events already started");
        _run = Task.WhenAll(Task.Run(() => ReadLoop(sink, _stop.Token)), Task.Run(() => CatchUpLoop(sink, _stop.Token)));
    }

    private Uri EventsUri()
    {
        var b = new UriBuilder(new Uri(_http.BaseAddress!, "events"))
        {
            Scheme = _http.BaseAddress!.Scheme == "https" ? "wss" : "ws",
            Query = $"app={Uri.EscapeDataString(Options.App)}&subscribeAll={(Options.SubscribeAll ? "true" : "false")}",
        };
        return b.Uri;
    }

    /// <summary>
    /// The socket reader: it parses each event and hands it to the sink itself (one thread hop less per event than a
    /// dispatcher: issue 11, 46% of the engine's CPU at 10 calls/s was the kernel's). A reconciliation, which waits on REST,
    /// runs on the catch-up loop instead, and the events that arrive meanwhile queue behind it: the reader never waits on
    /// Asterisk, so Asterisk never finds us slow (websocket_write_timeout).
    /// </summary>
    private async Task ReadLoop(IAriEventSink sink, CancellationToken ct)
    {
        var uri = EventsUri();
        var backoff = Options.ReconnectMin;
        var reason = ReconcileReason.Connected;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                using var ws = new ClientWebSocket();
                _ws = ws;
                ws.Options.KeepAliveInterval = Options.KeepAlive;
                ws.Options.KeepAliveTimeout = Options.KeepAlive;
                ws.Options.SetRequestHeader("Authorization", _auth.ToString());
                try
                {
                    await ws.ConnectAsync(uri, ct);
                    backoff = Options.ReconnectMin;
                    _connected = true;
                    Interlocked.Increment(ref EventStats._connects);
                    Log?.Invoke($"ARI {ServerId}: events connected ({reason})");
                    await Route(sink, new QueueItem(null, reason), ct);
                    reason = ReconcileReason.Reconnected;
                    var filled = 0;
                    while (true)
                    {
                        if (filled == buffer.Length) buffer = Grow(buffer);
                        var r = await ws.ReceiveAsync(buffer.AsMemory(filled), ct);
                        if (r.MessageType == WebSocketMessageType.Close)
                        {
                            LastError = $"close frame {ws.CloseStatus} '{ws.CloseStatusDescription}'";
                            if (!_closing) await CloseQuietly(ws);
                            break;
                        }
                        filled += r.Count;
                        if (!r.EndOfMessage) continue;
                        var e = Parse(buffer.AsSpan(0, filled));
                        if (e is not null) await Route(sink, new QueueItem(e, default), ct);
                        if (e?.Type == AriEventType.ApplicationReplaced)
                        {
                            // The session no longer holds the app (Asterisk took it off): closing it leaves the new owner's alone.
                            _replaced = true;
                            LastError = $"app '{Options.App}' replaced by another connection";
                            Log?.Invoke($"ARI {ServerId}: {LastError}: this engine hears nothing more from this server (another engine, or a new owner of the campaign, has the app)");
                            await CloseQuietly(ws);
                            break;
                        }
                        filled = 0;
                    }
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is WebSocketException or HttpRequestException or IOException or OperationCanceledException)
                {
                    // Asterisk stopped with "core stop now" drops TCP without a close frame; a refused connect lands here too.
                    LastError = e.Message;
                }
                _ws = null;
                if (_connected && !_closing && !_replaced) Log?.Invoke($"ARI {ServerId}: events disconnected: {LastError}");
                _connected = false;
                if (ct.IsCancellationRequested || _closing || _replaced) break;
                // Exponential backoff with ±50 % jitter, so many dialers do not reconnect in lockstep.
                await Task.Delay(backoff * (0.5 + Random.Shared.NextDouble()), _time, ct).ContinueWith(static _ => { }, TaskScheduler.Default);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, Options.ReconnectMax.Ticks));
                while (MayReconnect?.Invoke() == false && !ct.IsCancellationRequested && !_closing)
                {
                    LastError = "not reconnecting: this engine may no longer use the app";
                    await Task.Delay(Options.ReconnectMax, _time, ct).ContinueWith(static _ => { }, TaskScheduler.Default);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _queue.Writer.TryComplete();
        }
    }

    /// <summary>One message parsed and counted; null for a malformed one.</summary>
    private AriEvent? Parse(ReadOnlySpan<byte> message)
    {
        var e = AriEventParser.Parse(message);
        if (e is null)
        {
            Interlocked.Increment(ref EventStats._malformed);
            return null;
        }
        e.ServerId = ServerId;
        Interlocked.Increment(ref EventStats._received);
        return e;
    }

    /// <summary>
    /// On the reader: a reconciliation goes to the catch-up loop, and so does every event after it until that loop has
    /// handled all it was given (order is arrival order); any other event is handled here and now. A handler that has to
    /// wait (the engine's inbox full) is waited for by the catch-up loop, with the events after it queued behind.
    /// </summary>
    private ValueTask Route(IAriEventSink sink, QueueItem item, CancellationToken ct)
    {
        lock (_catchUpGate)
        {
            if (item.Event is null) _catchingUp = true;
            if (_catchingUp) return CatchUp(item);
        }
        var handled = Handle(sink, item, ct);
        if (handled.IsCompleted) return handled;
        lock (_catchUpGate)
        {
            _catchingUp = true;
            return CatchUp(new QueueItem(null, default, handled.AsTask())); // the queue is empty: nothing was queued while not catching up
        }
    }

    /// <summary>Under the gate: queued for the catch-up loop.</summary>
    private ValueTask CatchUp(QueueItem item)
    {
        if (_queue.Writer.TryWrite(item)) return default;
        // Declared overflow policy: drop the newest, count it, and reconcile once the catch-up loop is through the queue
        // (set under the gate: that loop reads the flag after each item, and the queue is full now).
        if (item.Event is not null) Interlocked.Increment(ref EventStats._dropped);
        Interlocked.Exchange(ref _overflowed, 1);
        return default;
    }

    private static byte[] Grow(byte[] buffer)
    {
        var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
        buffer.CopyTo(bigger, 0);
        ArrayPool<byte>.Shared.Return(buffer);
        return bigger;
    }

    private static async Task CloseQuietly(ClientWebSocket ws)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, cts.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException) { }
    }

    /// <summary>Handles what the reader queued behind a reconciliation, in order; then the reader handles events again.</summary>
    private async Task CatchUpLoop(IAriEventSink sink, CancellationToken ct)
    {
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(ct))
            {
                while (true)
                {
                    QueueItem item;
                    lock (_catchUpGate)
                        if (!reader.TryRead(out item))
                        {
                            _catchingUp = false;
                            break;
                        }
                    await Handle(sink, item, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    /// <summary>One item through the sink; one at a time, whoever calls it (the reader, or the catch-up loop while it has items).</summary>
    private async ValueTask Handle(IAriEventSink sink, QueueItem item, CancellationToken ct)
    {
        try
        {
            if (item.Handling is { } handling) await handling;
            else if (item.Event is null) await sink.ReconcileAsync(this, item.Reason, ct);
            else if (IsDuplicate(item.Event)) Interlocked.Increment(ref EventStats._duplicates);
            else await sink.OnEventAsync(this, item.Event, ct);
            if (Interlocked.Exchange(ref _overflowed, 0) == 1)
            {
                Log?.Invoke($"ARI {ServerId}: event queue overflowed ({EventStats.Dropped} dropped so far); reconciling");
                await sink.ReconcileAsync(this, ReconcileReason.EventsDropped, ct);
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref EventStats._handlerErrors);
            Log?.Invoke($"ARI {ServerId}: handler failed on {item.Event?.Type.ToString() ?? item.Reason.ToString()}: {e.Message}");
        }
    }

    /// <summary>With subscribeAll, Asterisk sends bridge playback/recording events twice with the same payload.</summary>
    private bool IsDuplicate(AriEvent e)
    {
        var (id, state) = e.Type switch
        {
            AriEventType.PlaybackStarted or AriEventType.PlaybackContinuing or AriEventType.PlaybackFinished => (e.Playback?.Id, e.Playback?.State),
            AriEventType.RecordingStarted or AriEventType.RecordingFinished or AriEventType.RecordingFailed => (e.Recording?.Name, e.Recording?.State),
            _ => (null, null),
        };
        if (id is null) return false;
        foreach (var r in _recent)
            if (r.Type == e.Type && r.Id == id && r.State == state) return true;
        _recent[_recentNext] = (e.Type, id, state);
        _recentNext = (_recentNext + 1) % _recent.Length;
        return false;
    }

    /// <summary>Once; later calls do nothing (a failed start disposes its clients through the driver and again on the way out).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        // Say goodbye with a close frame (Asterisk then ends the session cleanly); the read loop sees Asterisk's reply and stops.
        _closing = true;
        if (_ws is { State: WebSocketState.Open } ws)
        {
            try
            {
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "dialer stopping", grace.Token);
                if (_run is not null) await _run.WaitAsync(TimeSpan.FromSeconds(1)).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException) { }
        }
        _stop.Cancel();
        if (_run is not null)
        {
            try { await _run; }
            catch (OperationCanceledException) { }
        }
        _http.Dispose();
        _stop.Dispose();
    }

    /// <summary>An event, a reconciliation (no event), or an event's handling that had to wait, to be waited for.</summary>
    private readonly record struct QueueItem(AriEvent? Event, ReconcileReason Reason, Task? Handling = null);
}
