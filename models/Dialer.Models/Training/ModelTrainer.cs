using System.Diagnostics;
using System.Globalization;
using Dialer.Models.Evaluation;
using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;

namespace Dialer.Models.Training;

/// <summary>`dialer model train`: history in, published model directory out.</summary>
public static class ModelTrainer
{
    /// <summary>Reads a call history CSV and trains; see <see cref="Train"/>.</summary>
    public static TrainReport TrainFromCsv(string historyPath, string outputDirectory, TrainOptions? options = null)
    {
        options ??= new TrainOptions();
        return Train(CallHistoryCsv.Read(historyPath, options.MaxBadRowFraction), outputDirectory, options);
    }

    /// <summary>
    /// Trains FastTree on the earliest part of the history, keeps the number of trees with the best log-loss
    /// on the latest part, and publishes model.json, schema.json and metrics.json only if the managed
    /// evaluator reproduces ML.NET's predictions.
    /// </summary>
    public static TrainReport Train(CallHistory history, string outputDirectory, TrainOptions? options = null)
    {
        options ??= new TrainOptions();
        options.Validate();
        var clock = Stopwatch.StartNew();
        var rows = history.Records;
        RequireTrainable(rows, options.MinUsableRows, "history", history.BadRowCount);

        // Records are in time order: validation is everything from the cut instant on.
        var validationFrom = rows[Math.Min(rows.Count - 1, (int)(rows.Count * (1 - options.ValidationFraction)))].StartedAt;
        int cut = 0;
        while (cut < rows.Count && rows[cut].StartedAt < validationFrom) cut++;
        var train = rows.Take(cut).ToArray();
        var validation = rows.Skip(cut).ToArray();
        RequireTrainable(train, 1, "training part", 0);
        RequireTrainable(validation, 1, "validation part", 0);

        var schema = FeatureSchema.Learn(train);
        var trainMatrix = FeatureMatrix.Build(schema, train);
        var validMatrix = FeatureMatrix.Build(schema, validation);

        var fit = FastTreeFit.Train(trainMatrix.Values, trainMatrix.Labels, schema.FeatureCount, options);
        var trained = fit.Export(schema.FeatureNames);
        var all = TreeEnsembleModel.Create(trained, schema, "trained model");
        var allPredictions = new float[validMatrix.Rows];
        all.PredictBatch(validMatrix.Values, allPredictions);
        var parity = CompareWithMlNet(fit.Predict(validMatrix.Values), allPredictions);
        if (parity.MaxAbsDiff > options.ParityTolerance)
        {
            throw new ModelParityException(
                $"managed evaluator differs from ML.NET by up to {parity.MaxAbsDiff:G3} on {parity.Rows - parity.BitIdenticalRows} of {parity.Rows} validation rows " +
                $"(tolerance {options.ParityTolerance:G3}); model not published");
        }

        // FastTree's own early stopping judges the validation error rate; the pacer needs calibrated
        // probabilities, so the number of trees is chosen on log-loss, over every prefix of the verified walk.
        var losses = all.LogLossByTreeCount(validMatrix.Values, validMatrix.Labels);
        int trees = Array.IndexOf(losses, losses.Min()) + 1;
        var published = trained.Prefix(trees);
        var managed = TreeEnsembleModel.Create(published, schema, ModelFiles.Model);
        var predictions = new float[validMatrix.Rows];
        managed.PredictBatch(validMatrix.Values, predictions);

        var rateTable = RateTableModel.FromFeatures(schema, trainMatrix);
        var tablePredictions = new float[validMatrix.Rows];
        rateTable.PredictBatch(validMatrix.Values, tablePredictions);
        float[] truth = history.HasTrueProbabilities ? validation.Select(r => r.PLiveTrue!.Value).ToArray() : [];

        var report = new TrainReport
        {
            OutputDirectory = Path.GetFullPath(outputDirectory),
            Trainer = FastTreeFit.Trainer,
            RowsRead = history.RowsRead,
            BadRowCount = history.BadRowCount,
            BadRows = history.BadRows,
            TrainRows = train.Length,
            ValidationRows = validation.Length,
            ValidationFrom = validationFrom,
            Features = schema.FeatureNames,
            TreesTrained = trained.Trees!.Length,
            Trees = managed.TreeCount,
            BestValidationLogLoss = losses[trees - 1],
            TrainingSeconds = clock.Elapsed.TotalSeconds,
            Parity = parity,
            RateTableValidation = Scores.Compute(tablePredictions, validMatrix.Labels, options.CalibrationBins).Scores,
            Validation = EvalReport.Compute(schema, validMatrix, predictions, truth, options.CalibrationBins),
        };
        Publish(outputDirectory, published.ToJson(), schema, report);
        return report;
    }

    private static void RequireTrainable(IReadOnlyList<CallRecord> rows, int minRows, string what, int badRows)
    {
        int live = rows.Count(r => r.IsLive);
        string bad = badRows > 0 ? string.Create(CultureInfo.InvariantCulture, $" ({badRows} bad rows skipped)") : "";
        if (rows.Count < minRows)
        {
            throw new InsufficientHistoryException($"{what} has {rows.Count} usable rows{bad}; at least {minRows} are needed to train");
        }
        if (live == 0 || live == rows.Count)
        {
            throw new InsufficientHistoryException($"{what} has {live} live answers in {rows.Count} rows; training needs both live and not-live attempts");
        }
    }

    private static ParityCheck CompareWithMlNet(ReadOnlySpan<float> mlNet, ReadOnlySpan<float> managed)
    {
        int identical = 0;
        double maxDiff = 0;
        for (int i = 0; i < mlNet.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(mlNet[i]) == BitConverter.SingleToInt32Bits(managed[i])) identical++;
            maxDiff = Math.Max(maxDiff, Math.Abs((double)mlNet[i] - managed[i]));
        }
        return new ParityCheck(mlNet.Length, identical, maxDiff);
    }

    /// <summary>Writes each file beside its final name and renames it, so a reader never sees half a model.</summary>
    private static void Publish(string directory, byte[] modelJson, FeatureSchema schema, TrainReport report)
    {
        Directory.CreateDirectory(directory);
        void Write(string name, Action<string> write)
        {
            string path = Path.Combine(directory, name), temporary = path + ".tmp";
            write(temporary);
            File.Move(temporary, path, overwrite: true);
        }
        Write(ModelFiles.Schema, p => File.WriteAllText(p, schema.ToJson()));
        Write(ModelFiles.Model, p => File.WriteAllBytes(p, modelJson));
        Write(ModelFiles.Metrics, p => File.WriteAllText(p, ReportJson.Serialize(report)));
    }
}
