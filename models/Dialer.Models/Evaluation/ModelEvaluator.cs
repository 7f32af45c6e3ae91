using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;

namespace Dialer.Models.Evaluation;

/// <summary>`dialer model eval`: a published model scored on a history.</summary>
public static class ModelEvaluator
{
    public static EvalReport Evaluate(string modelDirectory, string historyPath, int calibrationBins = 10) =>
        Evaluate(TreeEnsembleModel.Load(modelDirectory), CallHistoryCsv.Read(historyPath), calibrationBins);

    /// <summary>Scores any model (a trained one or the fallback table) on a history.</summary>
    public static EvalReport Evaluate(IAnswerRateModel model, CallHistory history, int calibrationBins = 10)
    {
        var features = FeatureMatrix.Build(model.Schema, history.Records);
        var predictions = new float[features.Rows];
        model.PredictBatch(features.Values, predictions);
        float[] truth = history.HasTrueProbabilities ? history.Records.Select(r => r.PLiveTrue!.Value).ToArray() : [];
        return EvalReport.Compute(model.Schema, features, predictions, truth, calibrationBins);
    }
}
