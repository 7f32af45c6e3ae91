using System.Collections.Concurrent;
using System.Net;

namespace Dialer.Api.Tests;

/// <summary>A webhook receiver for tests: answers each POST with the next status given (200 once they run out) and keeps what came.</summary>
internal sealed class Receiver(params HttpStatusCode[] statuses) : HttpMessageHandler
{
    private readonly ConcurrentQueue<HttpStatusCode> _statuses = new(statuses);
    public ConcurrentQueue<(string Event, string Id, string? Timestamp, string? Signature, string Body)> Got { get; } = new();
    public int Calls;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        Interlocked.Increment(ref Calls);
        var status = _statuses.TryDequeue(out var s) ? s : HttpStatusCode.OK;
        string? Header(string name) => request.Headers.TryGetValues(name, out var v) ? v.Single() : null;
        if (status == HttpStatusCode.OK)
            Got.Enqueue((Header("X-Dialer-Event")!, Header("X-Dialer-Event-Id")!, Header("X-Dialer-Timestamp"), Header("X-Dialer-Signature"), await request.Content!.ReadAsStringAsync(ct)));
        return new HttpResponseMessage(status);
    }
}
