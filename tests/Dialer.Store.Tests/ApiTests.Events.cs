using System.Globalization;
using System.Net;
using System.Net.ServerSentEvents;
using System.Text.Json;
using Dialer.Api;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Store.Tests;

/// <summary>The event stream's ids, its Last-Event-ID resume, the `reset` when the buffer no longer holds the id, and slow clients.</summary>
public sealed partial class ApiTests
{
    /// <summary>Opens /events (optionally resuming) and returns its events as they come.</summary>
    private async Task<(HttpResponseMessage Response, IAsyncEnumerator<SseItem<string>> Events)> OpenEvents(string? lastEventId, CancellationToken ct)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        if (lastEventId is not null) request.Headers.TryAddWithoutValidation(EventHub.LastEventIdHeader, lastEventId);
        var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = SseParser.Create(await response.Content.ReadAsStreamAsync(ct)).EnumerateAsync(ct).GetAsyncEnumerator(ct);
        return (response, events);
    }

    private static async Task<SseItem<string>> Next(IAsyncEnumerator<SseItem<string>> events)
    {
        Assert.True(await events.MoveNextAsync(), "the stream ended early");
        return events.Current;
    }

    private static long Id(SseItem<string> e) => long.Parse(e.EventId!, CultureInfo.InvariantCulture);
    private static int Tick(SseItem<string> e) => JsonDocument.Parse(e.Data).RootElement.GetProperty("n").GetInt32();

    [Fact]
    public async Task A_client_that_reconnects_with_Last_Event_ID_gets_every_event_once_while_events_keep_coming()
    {
        const int total = 1000;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var hub = _app.Services.GetRequiredService<EventHub>();
        var (first, events) = await OpenEvents(null, cts.Token);
        var hello = await Next(events);
        Assert.Equal("hello", hello.EventType);
        Assert.Equal(hub.LastId, Id(hello));

        // Events are published the whole time, through the disconnect and the reconnect.
        var publisher = Task.Run(async () =>
        {
            for (var n = 0; n < total; n++)
            {
                hub.Publish("tick", new { n });
                if (n % 10 == 0) await Task.Delay(1, cts.Token);
            }
        }, cts.Token);
        var seen = new List<(long Id, int N)>();
        while (seen.Count < 300)
        {
            var e = await Next(events);
            seen.Add((Id(e), Tick(e)));
        }
        await events.DisposeAsync();
        first.Dispose(); // the client drops the connection

        var (second, resumed) = await OpenEvents(seen[^1].Id.ToString(CultureInfo.InvariantCulture), cts.Token);
        var again = await Next(resumed);
        Assert.Equal("hello", again.EventType);
        Assert.Equal(seen[^1].Id, Id(again));
        while (seen[^1].N < total - 1)
        {
            var e = await Next(resumed);
            seen.Add((Id(e), Tick(e)));
        }
        await publisher;
        Assert.Equal(Enumerable.Range(0, total), seen.Select(s => s.N)); // nothing lost, nothing twice, in order
        Assert.Equal(Enumerable.Range(0, total).Select(i => Id(hello) + 1 + i), seen.Select(s => s.Id)); // one id per event, each one up
        await resumed.DisposeAsync();
        second.Dispose();
    }

    [Fact]
    public async Task A_Last_Event_ID_that_is_not_a_number_is_a_400_naming_it()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/events");
        request.Headers.TryAddWithoutValidation(EventHub.LastEventIdHeader, "abc");
        var p = await Problem(await _client.SendAsync(request), HttpStatusCode.BadRequest);
        Assert.True(p.GetProperty("errors").TryGetProperty(EventHub.LastEventIdHeader, out _));
    }

    /// <summary>A hub that has sent ids 1..5 and buffers the last 3.</summary>
    private static EventHub FiveSent()
    {
        var hub = new EventHub(DialerApi.Json, replayCapacity: 3, firstId: 1);
        for (var n = 0; n < 5; n++) hub.Publish("tick", new { n });
        return hub;
    }

    [Fact]
    public async Task Ids_the_buffer_still_holds_are_replayed()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var events = FiveSent().Subscribe(2, cts.Token).GetAsyncEnumerator(cts.Token);
        var hello = await Next(events);
        Assert.Equal(("hello", 2L), (hello.EventType, Id(hello)));
        Assert.Equal(new long[] { 3L, 4L, 5L }, new[] { Id(await Next(events)), Id(await Next(events)), Id(await Next(events)) });
        await events.DisposeAsync();
    }

    [Theory]
    [InlineData(1)] // 2 is no longer buffered: lost
    [InlineData(0)]
    [InlineData(6)] // never sent by this hub (another server's, or before a restart)
    public async Task An_id_the_buffer_no_longer_holds_gets_a_reset_and_the_stream_carries_on_from_it(long stale)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var hub = FiveSent();
        var events = hub.Subscribe(stale, cts.Token).GetAsyncEnumerator(cts.Token);
        var reset = await Next(events);
        Assert.Equal("reset", reset.EventType);
        Assert.Equal(5, Id(reset)); // where the client now stands: the newest event
        Assert.Equal(stale, JsonDocument.Parse(reset.Data).RootElement.GetProperty("last_event_id").GetInt64());
        hub.Publish("tick", new { n = 5 });
        Assert.Equal(6, Id(await Next(events))); // then the live events, from the one after the reset's id
        await events.DisposeAsync();
    }

    [Fact]
    public async Task A_client_too_slow_for_its_queue_is_cut_off_and_resumes_from_the_buffer()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var hub = new EventHub(DialerApi.Json, replayCapacity: 100, perClientCapacity: 2, firstId: 1);
        var slow = hub.Subscribe(null, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal("hello", (await Next(slow)).EventType);
        for (var n = 0; n < 5; n++) hub.Publish("tick", new { n }); // its queue holds 2: the third cuts it off
        Assert.Equal(new long[] { 1L, 2L }, new[] { Id(await Next(slow)), Id(await Next(slow)) });
        Assert.False(await slow.MoveNextAsync()); // the stream ends: the engine and the other clients never wait for it
        Assert.Equal(1, hub.ClientsCut);
        Assert.Equal(0, hub.Clients);

        var back = hub.Subscribe(2, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.Equal("hello", (await Next(back)).EventType);
        Assert.Equal(new long[] { 3L, 4L, 5L }, new[] { Id(await Next(back)), Id(await Next(back)), Id(await Next(back)) });
        await back.DisposeAsync();
    }
}
