using System.Collections.Concurrent;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Threading.Channels;
using Dialer.Core.Domain;

namespace Dialer.Api;

/// <summary>
/// Fans call, agent and campaign events out to every Server-Sent Events client. Each client has a bounded
/// queue; a client too slow to keep up loses its oldest events (counted in <see cref="Dropped"/>), and never
/// slows the engine or the other clients.
/// </summary>
public sealed class EventHub(JsonSerializerOptions json, int perClientCapacity = 1024)
{
    private readonly ConcurrentDictionary<long, Channel<SseItem<string>>> _clients = new();
    private long _nextId;
    private long _dropped;

    public long Dropped => Interlocked.Read(ref _dropped);
    public int Clients => _clients.Count;

    public void Publish(string type, object data)
    {
        var item = new SseItem<string>(JsonSerializer.Serialize(data, json), type);
        foreach (var ch in _clients.Values) ch.Writer.TryWrite(item);
    }

    /// <summary>Streams a campaign's attempts as `call` events: one when placed, one when over.</summary>
    public void Follow(string campaign, Store.DbAttemptLog log) => log.Written += CallEvents(campaign);

    /// <summary>What publishes a campaign's attempt (placed: false, ended: true) as a `call` event.</summary>
    public Action<Call, bool> CallEvents(string campaign) => (call, ended) => Publish("call", new
    {
        campaign,
        call_id = call.Id,
        channel_id = call.ChannelId,
        lead_id = call.Lead.Id,
        attempt = call.Attempt,
        trunk = call.Trunk,
        phase = ended ? "ended" : "placed",
        outcome = ended ? call.Outcome.ToCsv() : null,
        cause = ended ? call.Cause : (int?)null,
        agent = call.Agent?.Id,
    });

    /// <summary>The events published from now on, until <paramref name="ct"/> ends the subscription.</summary>
    public async IAsyncEnumerable<SseItem<string>> Subscribe([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var id = Interlocked.Increment(ref _nextId);
        var ch = Channel.CreateBounded<SseItem<string>>(
            new BoundedChannelOptions(perClientCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped));
        _clients[id] = ch;
        try
        {
            yield return new SseItem<string>("{}", "hello"); // lets the client know the stream is live
            await foreach (var item in ch.Reader.ReadAllAsync(ct)) yield return item;
        }
        finally { _clients.TryRemove(id, out _); }
    }
}
