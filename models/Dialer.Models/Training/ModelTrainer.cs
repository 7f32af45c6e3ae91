using System.Diagnostics;
using System.Globalization;
using Dialer.Models.Evaluation;
using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Interop;
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
    /// Trains on the earliest part of the history, early-stops on the latest part, and publishes
    /// model.json, schema.json and metrics.json only if the managed evaluator reproduces XGBoost.
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

        using var dtrain = DMatrix.FromDense(trainMatrix.Values, schema.FeatureCount, trainMatrix.Labels);
        using var dvalid = DMatrix.FromDense(validMatrix.Values, schema.FeatureCount, validMatrix.Labels);
        using var booster = Booster.Create(dtrain, dvalid);
        Configure(booster, options, schema, trainMatrix.Labels.Average());

        double bestLoss = double.PositiveInfinity;
        int bestRounds = 0;
        for (int iteration = 0; iteration < options.MaxRounds; iteration++)
        {
            booster.UpdateOneIter(iteration, dtrain);
            double loss = booster.Evaluate(iteration, dvalid, "logloss");
            if (loss < bestLoss)
            {
                (bestLoss, bestRounds) = (loss, iteration + 1);
            }
            else if (options.EarlyStoppingRounds > 0 && iteration + 1 - bestRounds >= options.EarlyStoppingRounds)
            {
                break;
            }
        }
        if (options.EarlyStoppingRounds == 0) bestRounds = booster.BoostedRounds;

        using var best = bestRounds == booster.BoostedRounds ? null : booster.Slice(bestRounds);
        var final = best ?? booster;
        final.SetFeatureNames(schema.FeatureNames);
        byte[] modelJson = final.SaveJson();
        var managed = TreeEnsembleModel.FromXGBoostJson(modelJson, schema, ModelFiles.Model);
        var predictions = new float[validMatrix.Rows];
        managed.PredictBatch(validMatrix.Values, predictions);
        var parity = CompareWithNative(final.Predict(dvalid), predictions);
        if (parity.MaxAbsDiff > options.ParityTolerance)
        {
            throw new ModelParityException(
                $"managed evaluator differs from XGBoost by up to {parity.MaxAbsDiff:G3} on {parity.Rows - parity.BitIdenticalRows} of {parity.Rows} validation rows " +
                $"(tolerance {options.ParityTolerance:G3}); model not published");
        }

        var rateTable = RateTableModel.FromFeatures(schema, trainMatrix);
        var tablePredictions = new float[validMatrix.Rows];
        rateTable.PredictBatch(validMatrix.Values, tablePredictions);
        float[] truth = history.HasTrueProbabilities ? validation.Select(r => r.PLiveTrue!.Value).ToArray() : [];

        var report = new TrainReport
        {
            OutputDirectory = Path.GetFullPath(outputDirectory),
            XgboostVersion = Booster.Version,
            RowsRead = history.RowsRead,
            BadRowCount = history.BadRowCount,
            BadRows = history.BadRows,
            TrainRows = train.Length,
            ValidationRows = validation.Length,
            ValidationFrom = validationFrom,
            Features = schema.FeatureNames,
            Trees = managed.TreeCount,
            BestValidationLogLoss = bestLoss,
            TrainingSeconds = clock.Elapsed.TotalSeconds,
            Parity = parity,
            RateTableValidation = Scores.Compute(tablePredictions, validMatrix.Labels, options.CalibrationBins).Scores,
            Validation = EvalReport.Compute(schema, validMatrix, predictions, truth, options.CalibrationBins),
        };
        Publish(outputDirectory, modelJson, schema, report);
        return report;
    }

    private static void Configure(Booster booster, TrainOptions o, FeatureSchema schema, double baseRate)
    {
        booster.SetParam("objective", "binary:logistic");
        booster.SetParam("eval_metric", "logloss");
        booster.SetParam("tree_method", "hist");
        booster.SetParam("eta", o.LearningRate);
        booster.SetParam("max_depth", o.MaxDepth);
        booster.SetParam("min_child_weight", o.MinChildWeight);
        booster.SetParam("lambda", o.L2);
        booster.SetParam("max_bin", o.MaxBin);
        booster.SetParam("nthread", o.Threads);
        booster.SetParam("seed", o.Seed);
        // Starting from the observed rate saves the first rounds from learning the intercept.
        booster.SetParam("base_score", baseRate);
        booster.SetFeatureNames(schema.FeatureNames);
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

    private static ParityCheck CompareWithNative(ReadOnlySpan<float> native, ReadOnlySpan<float> managed)
    {
        int identical = 0;
        double maxDiff = 0;
        for (int i = 0; i < native.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(native[i]) == BitConverter.SingleToInt32Bits(managed[i])) identical++;
            maxDiff = Math.Max(maxDiff, Math.Abs((double)native[i] - managed[i]));
        }
        return new ParityCheck(native.Length, identical, maxDiff);
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
