namespace Dialer.Core.Pacing;

/// <summary>Normal-distribution helpers the pacer (and the simulator's log-normal) need.</summary>
public static class Gaussian
{
    /// <summary>E[max(X, 0)] for X ~ Normal(mean, variance).</summary>
    public static double ExpectedExcess(double mean, double variance)
    {
        if (variance <= 1e-12) return Math.Max(mean, 0);
        var sd = Math.Sqrt(variance);
        var z = mean / sd;
        return mean * Cdf(z) + sd * Math.Exp(-0.5 * z * z) / Math.Sqrt(2 * Math.PI);
    }

    /// <summary>Φ(z) via the complementary error function (Numerical Recipes' erfc, |error| &lt; 1.2e-7).</summary>
    public static double Cdf(double z)
    {
        var x = -z / Math.Sqrt(2);
        var t = 1 / (1 + 0.5 * Math.Abs(x));
        var y = t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                t * (0.27886807 + t * (-1.13520398 + t * (1.48851973 + t * (-0.82215223 + t * 0.17087277)))))))));
        var erfc = x >= 0 ? y : 2 - y;
        return 0.5 * erfc;
    }
}
