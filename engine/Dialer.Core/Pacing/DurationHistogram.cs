using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dialer.Core.Pacing;

/// <summary>
/// Empirical distribution of a duration (ring time, talk time, wrap-up), learned online, started from a
/// prior worth a few observations so early decisions are sane. Queries are O(1) table look-ups.
/// </summary>
public sealed class DurationHistogram
{
    private readonly double _binWidth;
    private readonly double[] _counts;
    private readonly float[] _survival; // P(T > i·width), rebuilt lazily
    private double _total;
    private double _sum;
    private bool _dirty = true;

    /// <param name="priorShape">Erlang shape of the prior: 1 is memoryless; higher puts little mass near zero
    /// (people pick up after a few rings, not at once).</param>
    public DurationHistogram(double binWidth, double max, double priorMean, double priorWeight, int priorShape = 1)
    {
        if (binWidth <= 0 || max <= binWidth) throw new ArgumentOutOfRangeException(nameof(max));
        if (priorShape < 1) throw new ArgumentOutOfRangeException(nameof(priorShape));
        _binWidth = binWidth;
        var bins = (int)Math.Ceiling(max / binWidth);
        _counts = new double[bins + 1]; // last bin: everything at or beyond max
        _survival = new float[bins + 2];
        var rate = priorShape / priorMean;
        for (var i = 0; i < bins; i++)
            _counts[i] = priorWeight * (ErlangSurvival(i * binWidth * rate, priorShape) - ErlangSurvival((i + 1) * binWidth * rate, priorShape));
        _counts[bins] = priorWeight * ErlangSurvival(bins * binWidth * rate, priorShape);
        _total = priorWeight;
        _sum = priorWeight * priorMean;
    }

    /// <summary>P(T &gt; x / rate) for an Erlang(k) variable: e^−x · Σ_{j&lt;k} x^j / j!.</summary>
    private static double ErlangSurvival(double x, int k)
    {
        double term = 1, sum = 0;
        for (var j = 0; j < k; j++)
        {
            sum += term;
            term *= x / (j + 1);
        }
        return Math.Exp(-x) * sum;
    }

    public double Mean => _sum / _total;
    public double Count => _total;

    public void Observe(double seconds)
    {
        if (!(seconds >= 0)) return;
        var i = Math.Min((int)(seconds / _binWidth), _counts.Length - 1);
        _counts[i] += 1;
        _total += 1;
        _sum += seconds;
        _dirty = true;
    }

    /// <summary>P(T &gt; t).</summary>
    public float Survival(double t) => Curve.Survival(t);

    /// <summary>P(T ≤ e + h | T &gt; e): the chance something already running for <paramref name="elapsed"/> ends within <paramref name="horizon"/>.</summary>
    public float EndsWithin(double elapsed, double horizon) => Curve.EndsWithin(elapsed, horizon);

    /// <summary>The learned curve as a table, current as of now: fetch once, then look up many times in a loop.</summary>
    public SurvivalCurve Curve
    {
        get
        {
            if (_dirty) Rebuild();
            return new SurvivalCurve(_survival, 1 / _binWidth, (float)Mean);
        }
    }

    private void Rebuild()
    {
        var remaining = _total;
        for (var i = 0; i < _counts.Length; i++)
        {
            _survival[i] = (float)(remaining / _total);
            remaining -= _counts[i];
        }
        _survival[^1] = 0f;
        _dirty = false;
    }
}

/// <summary>A survival table P(T &gt; i·width) with linear interpolation; look-ups do not allocate or check for updates.</summary>
public readonly struct SurvivalCurve
{
    private readonly float[] _table;
    private readonly double _perSecond;
    private readonly int _last;
    private readonly float _mean;

    internal SurvivalCurve(float[] table, double perSecond, float mean)
    {
        _table = table;
        _perSecond = perSecond;
        _last = table.Length - 2; // the final entry is the closing zero
        _mean = mean;
    }

    /// <summary>The table itself, P(T &gt; i / <see cref="PerSecond"/>) for i = 0..; its last entry is the closing zero.</summary>
    internal ReadOnlySpan<float> Table => _table;
    internal double PerSecond => _perSecond;

    public float Survival(double t)
    {
        if (t <= 0) return 1f;
        var x = t * _perSecond;
        if (x >= _last) return _table[_last];
        var i = (int)x;
        // i < _last keeps both reads inside the table.
        ref var first = ref MemoryMarshal.GetArrayDataReference(_table);
        var a = Unsafe.Add(ref first, i);
        return a + (Unsafe.Add(ref first, i + 1) - a) * (float)(x - i);
    }

    /// <summary>P(T ≤ e + h | T &gt; e).</summary>
    public float EndsWithin(double elapsed, double horizon)
    {
        if (horizon <= 0) return 0f;
        var s0 = Survival(elapsed);
        // Beyond everything seen: a thin, memoryless tail.
        if (s0 < 1e-6f) return (float)(horizon / (horizon + _mean));
        return 1f - Survival(elapsed + horizon) / s0;
    }
}
