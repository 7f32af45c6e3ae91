using Dialer.Models.Evaluation;

namespace Dialer.Models.Tests;

public class MetricsTests
{
    [Fact]
    public void AucCountsCorrectlyOrderedPairs()
    {
        // Pairs (pos, neg): (0.35,0.1) ok, (0.35,0.4) wrong, (0.8,0.1) ok, (0.8,0.4) ok -> 3/4.
        Assert.Equal(0.75, Metrics.Auc([0.1f, 0.4f, 0.35f, 0.8f], [0, 0, 1, 1])!.Value, 12);
    }

    [Fact]
    public void AucCountsTiesAsHalf()
    {
        Assert.Equal(0.5, Metrics.Auc([0.5f, 0.5f], [0, 1])!.Value, 12);
        Assert.Equal(0.75, Metrics.Auc([0.5f, 0.5f, 0.9f], [0, 1, 1])!.Value, 12);
    }

    [Fact]
    public void AucIsUndefinedWithOneClass() => Assert.Null(Metrics.Auc([0.2f, 0.3f], [1, 1]));

    [Fact]
    public void BrierIsMeanSquaredError() => Assert.Equal((0.04 + 0.09) / 2, Metrics.Brier([0.2f, 0.7f], [0, 1]), 6);

    [Fact]
    public void LogLossOfAFairCoinIsLn2() => Assert.Equal(Math.Log(2), Metrics.LogLoss([0.5f, 0.5f], [1, 0]), 9);

    [Fact]
    public void EceWeighsEachBinGapByItsRows()
    {
        // Bin [0.1,0.2): predicted 0.15, observed 0.5 (2 rows). Bin [0.8,0.9): predicted 0.85, observed 1 (2 rows).
        var (ece, bins) = Metrics.Calibration([0.15f, 0.15f, 0.85f, 0.85f], [0, 1, 1, 1], 10);
        Assert.Equal((2 * 0.35 + 2 * 0.15) / 4, ece, 6);
        Assert.Equal(2, bins.Count);
        Assert.Equal(0.1, bins[0].Lower, 9);
        Assert.Equal(0.5, bins[0].ObservedRate, 9);
        Assert.Equal(0.85, bins[1].MeanPredicted, 6);
    }

    [Fact]
    public void ProbabilityOneFallsInTheLastBin()
    {
        var (_, bins) = Metrics.Calibration([1f], [1], 10);
        Assert.Equal(0.9, Assert.Single(bins).Lower, 9);
    }
}
