using System.Globalization;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Threading.Channels;
using Dialer.Core.Domain;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>
/// Fans call, agent and campaign events out to every Server-Sent Events client, each with an `id:` one above the
/// last. The first id is the hub's start time in microseconds since the Unix epoch, so a restarted server's ids
/// follow the old one's and a client cannot mistake one for the other. The last <c>replayCapacity</c> events are
/// kept: a client that reconnects with Last-Event-ID gets what it missed, once, then the live events. An id this
/// hub no longer holds (older than the buffer, or from before a restart) gets a `reset` event instead: events were
/// lost, re-read the state (/stats/live) and carry on from the reset's id. Each client has a bounded queue; a client
/// too slow to keep up is cut off (counted in <see cref="ClientsCut"/>) rather than slowing the engine or the others,
/// and its reconnect resumes from the replay buffer.
/// </summary>
public sealed class EventHub
{
    public const string LastEventIdHeader = "Last-Event-ID";
    /// <summary>Agent states as events and the dashboard name them (snake_case, <see cref="AgentState"/> order).</summary>
    public static readonly string[] AgentStates = AgentStateLog.StateNames;

    private readonly JsonSerializerOptions _json;
    private readonly int _perClientCapacity;
    private readonly object _lock = new(); // ids, the buffer and the clients change together: no event is both replayed and queued
    private readonly SseItem<string>[] _replay;
    private int _replayNext, _replayCount;
    private long _lastId;
    private readonly Dictionary<long, Channel<SseItem<string>>> _clients = [];
    private long _nextClient;
    private long _clientsCut;

    /// <param name="firstId">The first event's id; by default the current time in microseconds since the Unix epoch.</param>
    public EventHub(JsonSerializerOptions json, int replayCapacity = 10_000, int perClientCapacity = 1024, long? firstId = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replayCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(perClientCapacity, 1);
        _json = json;
        _perClientCapacity = perClientCapacity;
        _replay = new SseItem<string>[replayCapacity];
        _lastId = (firstId ?? DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000) - 1;
    }

    /// <summary>Slow clients whose stream was closed because their queue was full (they resume with Last-Event-ID).</summary>
    public long ClientsCut => Interlocked.Read(ref _clientsCut);
    public int Clients { get { lock (_lock) return _clients.Count; } }
    /// <summary>The id of the newest event (one below the first id before any).</summary>
    public long LastId { get { lock (_lock) return _lastId; } }

    /// <summary>
    /// Every event as it is published, in id order (under the hub's lock: a listener only queues, it never blocks or
    /// throws): type, id, JSON payload, the object it was made from and its kind within the type (a call's phase, an
    /// agent's state, an alert's raised or cleared; null for none). The webhooks listen.
    /// </summary>
    public event Action<string, long, string, object, string?>? Published;

    /// <param name="kind">What the event is within its type (see <see cref="Published"/>): webhooks can take only some kinds.</param>
    public void Publish(string type, object data, string? kind = null)
    {
        var payload = JsonSerializer.Serialize(data, _json); // outside the lock: publishers on other threads do not wait on it
        List<long>? cut = null;
        lock (_lock)
        {
            var item = new SseItem<string>(payload, type) { EventId = (++_lastId).ToString(CultureInfo.InvariantCulture) };
            _replay[_replayNext] = item;
            _replayNext = (_replayNext + 1) % _replay.Length;
            _replayCount = Math.Min(_replayCount + 1, _replay.Length);
            Published?.Invoke(type, _lastId, payload, data, kind);
            foreach (var (key, ch) in _clients)
                if (!ch.Writer.TryWrite(item)) (cut ??= []).Add(key);
            if (cut is null) return;
            foreach (var key in cut)
            {
                _clients.Remove(key, out var ch);
                ch!.Writer.TryComplete(); // the client reads what is queued, its stream ends, it reconnects from its last id
                _clientsCut++;
            }
        }
    }

    /// <summary>Streams a campaign's attempts as `call` events: one when placed, one when over.</summary>
    public void Follow(string campaign, Store.DbAttemptLog log) => log.Written += CallEvents(campaign);

    /// <summary>What publishes a campaign's attempt (placed: false, ended: true) as a `call` event; the trunk by name.</summary>
    public Action<Call, bool> CallEvents(string campaign) => (call, ended) => Publish("call", new
    {
        campaign,
        call_id = call.Id,
        channel_id = call.ChannelId,
        lead_id = call.Lead.Id,
        attempt = call.Attempt,
        trunk = call.TrunkName,
        phase = ended ? "ended" : "placed",
        outcome = ended ? call.Outcome.ToCsv() : null,
        cause = ended ? call.Cause : (int?)null,
        agent = call.Agent?.Id,
    }, ended ? "ended" : "placed");

    /// <summary>Reads a Last-Event-ID value: empty is none; anything but a whole number is false.</summary>
    public static bool TryParseId(string? value, out long? id)
    {
        id = null;
        if (string.IsNullOrEmpty(value)) return true;
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed)) return false;
        id = parsed;
        return true;
    }

    /// <summary>
    /// The stream for one client until <paramref name="ct"/> ends it. It opens with `hello` (id: where it starts), then
    /// with <paramref name="lastEventId"/> the buffered events after it; or `reset` when that id is not in the buffer.
    /// </summary>
    public async IAsyncEnumerable<SseItem<string>> Subscribe(long? lastEventId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var ch = Channel.CreateBounded<SseItem<string>>(
            new BoundedChannelOptions(_perClientCapacity) { FullMode = BoundedChannelFullMode.Wait, SingleReader = true, SingleWriter = true });
        SseItem<string> opening;
        SseItem<string>[] missed;
        long key;
        lock (_lock)
        {
            (opening, missed) = Open(lastEventId);
            key = ++_nextClient;
            _clients[key] = ch;
        }
        try
        {
            yield return opening;
            foreach (var item in missed) yield return item;
            await foreach (var item in ch.Reader.ReadAllAsync(ct)) yield return item;
        }
        finally { lock (_lock) _clients.Remove(key); }
    }

    /// <summary>Under the lock: the opening event and the buffered events the client missed.</summary>
    private (SseItem<string> Opening, SseItem<string>[] Missed) Open(long? last)
    {
        var oldest = _lastId - _replayCount + 1;
        string Id(long id) => id.ToString(CultureInfo.InvariantCulture);
        if (last is not { } from)
            return (new SseItem<string>(JsonSerializer.Serialize(new { resumed = false }, _json), "hello") { EventId = Id(_lastId) }, []);
        if (from < oldest - 1 || from > _lastId)
        {
            var reason = from > _lastId ? "the id is not one this server sent (it restarted, or another node sent it)" : "the events after that id are no longer buffered";
            var reset = new { last_event_id = from, oldest_id = oldest, reason };
            return (new SseItem<string>(JsonSerializer.Serialize(reset, _json), "reset") { EventId = Id(_lastId) }, []);
        }
        var missed = new SseItem<string>[_lastId - from];
        for (var i = 0; i < missed.Length; i++)
            missed[i] = _replay[(_replayNext - missed.Length + i + _replay.Length) % _replay.Length];
        return (new SseItem<string>(JsonSerializer.Serialize(new { resumed = true, replayed = missed.Length }, _json), "hello") { EventId = Id(from) }, missed);
    }
}
