namespace Dialer.Core.Metrics;

/// <summary>Counts events in the last <c>n</c> seconds with one bucket a second (no allocation after construction).</summary>
public sealed class WindowCounter(int seconds)
{
    private readonly int[] _buckets = new int[seconds];
    private long _second = long.MinValue;
    private int _sum;

    public void Add(long nowSecond, int n = 1)
    {
        Advance(nowSecond);
        _buckets[(int)(nowSecond % _buckets.Length)] += n;
        _sum += n;
    }

    public int Sum(long nowSecond)
    {
        Advance(nowSecond);
        return _sum;
    }

    private void Advance(long nowSecond)
    {
        if (_second == long.MinValue) { _second = nowSecond; return; }
        if (nowSecond <= _second) return;
        var steps = Math.Min(nowSecond - _second, _buckets.Length);
        for (long s = 1; s <= steps; s++)
        {
            var i = (int)((_second + s) % _buckets.Length);
            _sum -= _buckets[i];
            _buckets[i] = 0;
        }
        _second = nowSecond;
    }
}
