namespace Dialer.Ari.Client;

/// <summary>
/// How one server's REST interface is answering: requests in a row that got no answer (refused, reset, timed out,
/// 502–504) and the latency of the last <see cref="Window"/> requests. Written by every request, read by the
/// driver's housekeeping; one small lock, no allocation.
/// </summary>
public sealed class RestHealth
{
    public const int Window = 20;
    private readonly Lock _gate = new();
    private readonly double[] _latencyMs = new double[Window];
    private int _next, _count, _consecutiveFailures;

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

    /// <summary>Requests measured so far, at most <see cref="Window"/>.</summary>
    public int Samples { get { lock (_gate) return _count; } }

    /// <summary>95th percentile of the recent latencies in ms (the second slowest of 20), 0 before any request.</summary>
    public double P95Ms()
    {
        Span<double> sorted = stackalloc double[Window];
        int n;
        lock (_gate)
        {
            n = _count;
            _latencyMs.AsSpan(0, n).CopyTo(sorted);
        }
        if (n == 0) return 0;
        sorted = sorted[..n];
        sorted.Sort();
        return sorted[Math.Min(n - 1, (int)Math.Ceiling(0.95 * n) - 1)];
    }
}
