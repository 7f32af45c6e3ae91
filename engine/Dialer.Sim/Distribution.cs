namespace Dialer.Sim;

/// <summary>A duration distribution, sampled by inverse transform from one uniform (so draws stay common-random).</summary>
public abstract record Distribution
{
    public abstract double Mean { get; }
    public abstract double Sample(double u);
    /// <summary>P(X ≤ x).</summary>
    public abstract double Cdf(double x);

    public sealed record Fixed(double Value) : Distribution
    {
        public override double Mean => Value;
        public override double Sample(double u) => Value;
        public override double Cdf(double x) => x >= Value ? 1 : 0;
    }

    public sealed record Exponential(double MeanValue) : Distribution
    {
        public override double Mean => MeanValue;
        public override double Sample(double u) => -MeanValue * Math.Log(1 - u);
        public override double Cdf(double x) => x <= 0 ? 0 : 1 - Math.Exp(-x / MeanValue);
    }

    /// <summary>Log-normal given its own mean and standard deviation (not those of the log).</summary>
    public sealed record LogNormal(double MeanValue, double Sd) : Distribution
    {
        private readonly double _sigma = Math.Sqrt(Math.Log(1 + Sd * Sd / (MeanValue * MeanValue)));
        private double Mu => Math.Log(MeanValue) - _sigma * _sigma / 2;
        public override double Mean => MeanValue;
        public override double Sample(double u) => Math.Exp(Mu + _sigma * Normal.Quantile(u));
        public override double Cdf(double x) => x <= 0 ? 0 : Normal.Cdf((Math.Log(x) - Mu) / _sigma);
    }

    /// <summary>Lomax (Pareto II) with the given mean and tail shape α &gt; 1: a heavy tail, a few very long calls.</summary>
    public sealed record Pareto(double MeanValue, double Shape) : Distribution
    {
        private double Scale => MeanValue * (Shape - 1);
        public override double Mean => MeanValue;
        public override double Sample(double u) => Scale * (Math.Pow(1 - u, -1 / Shape) - 1);
        public override double Cdf(double x) => x <= 0 ? 0 : 1 - Math.Pow(1 + x / Scale, -Shape);
    }

    /// <summary>Resampled from observed values (e.g. a platform's CDR export).</summary>
    public sealed record Empirical(double[] Values) : Distribution
    {
        private readonly double[] _sorted = [.. Values.Order()];
        public override double Mean => Values.Average();
        public override double Sample(double u) => _sorted[Math.Min((int)(u * _sorted.Length), _sorted.Length - 1)];
        public override double Cdf(double x)
        {
            var i = Array.BinarySearch(_sorted, x);
            if (i < 0) i = ~i; else while (i < _sorted.Length && _sorted[i] <= x) i++;
            return (double)i / _sorted.Length;
        }
    }
}

internal static class Normal
{
    public static double Cdf(double z) => Dialer.Core.Pacing.Gaussian.Cdf(z);

    /// <summary>Acklam's inverse normal CDF (relative error &lt; 1.2e-9).</summary>
    public static double Quantile(double p)
    {
        ReadOnlySpan<double> a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        ReadOnlySpan<double> b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        ReadOnlySpan<double> c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        ReadOnlySpan<double> d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double low = 0.02425;
        if (p < low)
        {
            var q = Math.Sqrt(-2 * Math.Log(p));
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        if (p > 1 - low)
        {
            var q = Math.Sqrt(-2 * Math.Log(1 - p));
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        var r = p - 0.5;
        var s = r * r;
        return (((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r / (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1);
    }
}
