using System.Diagnostics;

namespace Dialer.Ari.Client;

/// <summary>
/// How one server's REST interface is answering: requests in a row that got no answer (refused, reset, timed out,
/// 502–504), the latency of the last <see cref="Window"/> requests, and the requests still waiting for their reply.
/// Written by every request, read by the driver's health check; one small lock, no allocation.
/// </summary>
public sealed class RestHealth(int maxInFlight)
{
    public const int Window = 20;
    private readonly Lock _gate = new();
    private readonly double[] _latencyMs = new double[Window];
    // When each request now waiting for its reply was sent (Stopwatch ticks; 0: a free slot). At most as many as the
    // client lets out at once, so a slow Asterisk shows as soon as its requests are late, not when they come back.
    private readonly long[] _sentAt = new long[maxInFlight];
    private int _next, _count, _consecutiveFailures;

    /// <summary>A request leaves: its slot, handed back by <see cref="Returned"/> however it ends (-1: none free, not followed).</summary>
    internal int Sent()
    {
        lock (_gate)
        {
            var slot = Array.IndexOf(_sentAt, 0L);
            if (slot >= 0) _sentAt[slot] = Stopwatch.GetTimestamp();
            return slot;
        }
    }

    /// <summary>The request is over (answered, failed or called off by its caller): no longer waiting.</summary>
    internal void Returned(int slot)
    {
        if (slot < 0) return;
        lock (_gate) _sentAt[slot] = 0;
    }

    internal void Answered(TimeSpan latency)
    {
        lock (_gate)
        {
            _consecutiveFailures = 0;
            Add(latency);
        }
    }

    internal void Failed(TimeSpan latency)
    {
        lock (_gate)
        {
            _consecutiveFailures++;
            Add(latency);
        }
    }

    private void Add(TimeSpan latency)
    {
        _latencyMs[_next] = latency.TotalMilliseconds;
        _next = (_next + 1) % Window;
        if (_count < Window) _count++;
    }

    /// <summary>Requests in a row that got no answer.</summary>
    public int ConsecutiveFailures { get { lock (_gate) return _consecutiveFailures; } }

    /// <summary>Requests measured so far (at most <see cref="Window"/>), with those waiting for their reply.</summary>
    public int Samples
    {
        get
        {
            lock (_gate) return _count + InFlight();
        }
    }

    private int InFlight()
    {
        var n = 0;
        foreach (var sent in _sentAt)
            if (sent != 0) n++;
        return n;
    }

    /// <summary>
    /// 95th percentile of the recent latencies in ms (the second slowest of 20), 0 before any request. A request still
    /// waiting counts with the time it has waited so far: late already is evidence now, not when (or if) it answers.
    /// </summary>
    public double P95Ms()
    {
        Span<double> sorted = stackalloc double[Window + _sentAt.Length];
        var n = 0;
        lock (_gate)
        {
            _latencyMs.AsSpan(0, _count).CopyTo(sorted);
            n = _count;
            foreach (var sent in _sentAt)
                if (sent != 0) sorted[n++] = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
        }
        if (n == 0) return 0;
        sorted = sorted[..n];
        sorted.Sort();
        return sorted[Math.Min(n - 1, (int)Math.Ceiling(0.95 * n) - 1)];
    }
}
