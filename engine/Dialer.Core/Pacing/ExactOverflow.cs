namespace Dialer.Core.Pacing;

/// <summary>
/// Expected overflow E[(D − S)⁺] of live answers D over free agents S computed exactly, for the small counts where a
/// normal approximation is poor (one ready agent and one call of p = 0.3 overflow exactly 0; the approximation says 0.013,
/// more than a 2% allowance of 0.3 answers, and a 5-agent team dialed below 1:1). D is the callees waiting plus a
/// Poisson-binomial sum over calls (each live with its own chance); S the ready agents plus one over busy agents (each
/// free in time with its own chance). Predictions share one calibration factor whose uncertainty is integrated with a
/// three-point Gauss–Hermite rule (factor · (1 + z·cv), z = 0, ±√3, weights 2/3, 1/6, 1/6).
/// New calls are added one at a time, each an O(terms) update, so the pacer scans n upwards instead of bisecting.
/// Buffers are sized once; nothing is allocated per decision.
/// </summary>
internal sealed class ExactOverflow
{
    /// <summary>Most uncertain terms (busy agents + ringing calls) handled exactly; beyond it the normal approximation is accurate.</summary>
    public const int MaxTerms = 96;
    /// <summary>Most new calls one decision can add on the exact path (a small team never needs more).</summary>
    public const int MaxNew = 160;
    private const int Nodes = 3;
    private static readonly double[] Z = [0, -1.7320508075688772, 1.7320508075688772];
    private static readonly double[] W = [2.0 / 3, 1.0 / 6, 1.0 / 6];
    private const int Width = 2 * MaxTerms + MaxNew + 2;

    // One probability mass function per factor node over Y = Σ live(calls) − Σ free(busy agents), index = value + offset.
    private readonly double[] _pmf = new double[Nodes * Width];
    private readonly double[] _factor = new double[Nodes];
    private int _offset, _length, _added;
    private double _excess; // waiting − ready: D − S = Y + excess
    private double _fixedDemand, _expectedCalls, _factorMean;

    public int Added => _added;

    /// <summary>Starts a decision: <paramref name="free"/> are the busy agents' chances to be free in time, <paramref name="live"/> the ringing calls' chances (uncalibrated).</summary>
    public void Begin(int ready, int waiting, ReadOnlySpan<float> free, ReadOnlySpan<float> live, double factor, double relativeVariance)
    {
        if (free.Length + live.Length > MaxTerms) throw new ArgumentOutOfRangeException(nameof(live), "too many terms for the exact path");
        _offset = free.Length;
        _length = 1;
        _added = 0;
        _excess = waiting - ready;
        _factorMean = factor;
        _fixedDemand = waiting;
        var cv = Math.Sqrt(Math.Max(relativeVariance, 0));
        var pmf = _pmf.AsSpan(0, Width);
        pmf[..(free.Length + 1)].Clear();
        pmf[free.Length] = 1;
        // Agents shift Y down: start at the top and let each free agent move mass one step lower.
        var lo = free.Length;
        foreach (var f in free)
        {
            lo--;
            for (var i = lo; i < free.Length; i++) pmf[i] = pmf[i] * (1 - f) + pmf[i + 1] * f;
            pmf[free.Length] *= 1 - f;
        }
        _length = free.Length + 1;
        for (var j = 1; j < Nodes; j++) pmf[.._length].CopyTo(_pmf.AsSpan(j * Width, _length));
        double sum = 0;
        for (var j = 0; j < Nodes; j++) _factor[j] = Math.Max(0, factor * (1 + Z[j] * cv));
        foreach (var q in live) sum += q;
        _expectedCalls = sum;
        var length = _length;
        for (var j = 0; j < Nodes; j++)
        {
            var node = _pmf.AsSpan(j * Width, Width);
            var len = length;
            foreach (var q in live) len = AddCall(node, len, Math.Min(1, q * _factor[j]));
            _length = len;
        }
    }

    /// <summary>One more call of live chance <paramref name="p"/> (uncalibrated); false when the buffers are full.</summary>
    public bool Add(double p)
    {
        if (_length + 1 > Width) return false;
        var len = _length;
        for (var j = 0; j < Nodes; j++) len = AddCall(_pmf.AsSpan(j * Width, Width), _length, Math.Min(1, p * _factor[j]));
        _length = len;
        _expectedCalls += p;
        _added++;
        return true;
    }

    /// <summary>Expected live answers (calibrated): callees waiting plus every call's chance.</summary>
    public double Demand => _fixedDemand + _factorMean * _expectedCalls;

    /// <summary>E[(D − S)⁺] over the factor's uncertainty.</summary>
    public double Overflow()
    {
        double total = 0;
        // Only values with D − S > 0 count: index i has D − S = i − offset + excess.
        var first = Math.Max(0, (int)Math.Floor(_offset - _excess) + 1);
        for (var j = 0; j < Nodes; j++)
        {
            var node = _pmf.AsSpan(j * Width, _length);
            double e = 0;
            for (var i = first; i < node.Length; i++) e += node[i] * (i - _offset + _excess);
            total += W[j] * e;
        }
        return Math.Max(total, 0);
    }

    /// <summary>P(D − S > <paramref name="threshold"/>) over the factor's uncertainty.</summary>
    public double ChanceAbove(double threshold)
    {
        double total = 0;
        var first = Math.Max(0, (int)Math.Floor(threshold + _offset - _excess) + 1);
        for (var j = 0; j < Nodes; j++)
        {
            var node = _pmf.AsSpan(j * Width, _length);
            double tail = 0;
            for (var i = first; i < node.Length; i++) tail += node[i];
            total += W[j] * tail;
        }
        return total;
    }

    /// <summary>Convolves with Bernoulli(q): the call's live answer moves mass one step up.</summary>
    private static int AddCall(Span<double> pmf, int length, double q)
    {
        pmf[length] = pmf[length - 1] * q;
        for (var i = length - 1; i > 0; i--) pmf[i] = pmf[i] * (1 - q) + pmf[i - 1] * q;
        pmf[0] *= 1 - q;
        return length + 1;
    }
}
