namespace Dialer.Core.Metrics;

/// <summary>Durations in whole milliseconds up to a ceiling (the last bin holds everything at or above it): counts, sum, percentiles. No allocation per value.</summary>
public sealed class MillisecondHistogram(int ceilingMs)
{
    private readonly long[] _bins = new long[ceilingMs + 1];

    /// <summary>Counts per whole millisecond (index = ms; the last holds the ceiling and above). Read only.</summary>
    public long[] Bins => _bins;
    public long Count { get; private set; }
    public double SumMs { get; private set; }
    public double MaxMs { get; private set; }

    public void Add(double ms)
    {
        Count++;
        SumMs += ms;
        MaxMs = Math.Max(MaxMs, ms);
        _bins[Bin(ms)]++;
    }

    /// <summary>Takes back a value added earlier (a connect that failed after it was counted).</summary>
    public void Remove(double ms)
    {
        Count--;
        SumMs -= ms;
        _bins[Bin(ms)]--;
    }

    /// <summary>The smallest whole millisecond value at or below which <paramref name="q"/> of the values fell (0 when empty).</summary>
    public double Percentile(double q)
    {
        if (Count == 0) return 0;
        var target = q * Count;
        long seen = 0;
        for (var ms = 0; ms < _bins.Length; ms++)
        {
            seen += _bins[ms];
            if (seen >= target) return ms;
        }
        return _bins.Length - 1;
    }

    private int Bin(double ms) => Math.Clamp((int)Math.Round(ms), 0, _bins.Length - 1);
}
