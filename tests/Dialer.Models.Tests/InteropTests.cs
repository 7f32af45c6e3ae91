using Dialer.Models.Interop;

namespace Dialer.Models.Tests;

public class InteropTests
{
    private static DMatrix Tiny() => DMatrix.FromDense([0f, 1f, 1f, 0f, float.NaN, 2f, 3f, float.NaN], 2, [0f, 1f, 1f, 0f]);

    [Fact]
    public void BadParameterSurfacesXGBoostsMessage()
    {
        using var train = Tiny();
        using var booster = Booster.Create(train);
        booster.SetParam("max_depth", "deep");
        var e = Assert.Throws<XGBoostException>(() => booster.UpdateOneIter(0, train));
        Assert.Contains("max_depth", e.Message);
    }

    [Fact]
    public void LoadingGarbageSurfacesXGBoostsMessage()
    {
        var e = Assert.Throws<XGBoostException>(() => Booster.LoadJson("{\"not\": \"a model\"}"u8));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void LabelsMustMatchRows() =>
        Assert.Throws<ArgumentException>(() => DMatrix.FromDense([1f, 2f, 3f, 4f], 2, [1f]));

    [Fact]
    public void EvaluationLineIsParsedInvariantly()
    {
        Assert.Equal(0.6931, Booster.ParseMetric("[3]\teval-logloss:0.6931", "logloss"), 9);
        Assert.Throws<XGBoostException>(() => Booster.ParseMetric("[3]\teval-auc:0.7", "logloss"));
    }

    [Fact]
    public void MissingLibraryNamesTheDebianPackage()
    {
        var e = Assert.Throws<XGBoostException>(() => XGBoostNative.LoadFirst(["libxgboost-not-here.so.0"]));
        Assert.Contains("libxgboost0", e.Message);
    }

    [Fact]
    public void ReportsTheLoadedVersion() => Assert.StartsWith("1.", Booster.Version);
}
