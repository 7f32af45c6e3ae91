using Dialer.Models.Evaluation;
using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;
using Dialer.Models.Synthetic;
using Dialer.Models.Training;

namespace Dialer.Models.Tests;

[Collection(nameof(TrainedModelCollection))]
public class TrainingTests(TrainedModelFixture model)
{
    [Fact]
    public void PublishesModelSchemaAndMetrics()
    {
        foreach (var file in new[] { ModelFiles.Model, ModelFiles.Schema, ModelFiles.Metrics })
        {
            Assert.True(File.Exists(Path.Combine(model.ModelDirectory, file)), file);
        }
        string metrics = File.ReadAllText(Path.Combine(model.ModelDirectory, ModelFiles.Metrics));
        foreach (var key in new[] { "\"auc\"", "\"log_loss\"", "\"brier\"", "\"ece\"", "\"bayes_auc\"", "\"region_hours\"", "\"parity\"" })
        {
            Assert.Contains(key, metrics);
        }
        Assert.Equal(60, model.Report.TreesTrained);
        Assert.InRange(model.Report.Trees, 1, 60);
        Assert.StartsWith("ML.NET FastTree 5.", model.Report.Trainer);
        Assert.True(model.Report.Validation.Auc > model.Report.RateTableValidation.Auc);
    }

    [Fact]
    public void ManagedEvaluatorIsBitIdenticalToFastTree()
    {
        Assert.True(model.Report.Parity.BitIdentical, $"max diff {model.Report.Parity.MaxAbsDiff}");
        Assert.Equal(model.Report.ValidationRows, model.Report.Parity.Rows);
    }

    [Fact]
    public void PublishedModelIsThePrefixWithTheBestValidationLogLoss()
    {
        // Reloaded from disk and scored on the validation rows, it scores what training chose it for.
        var loaded = TreeEnsembleModel.Load(model.ModelDirectory);
        Assert.Equal(model.Report.Trees, loaded.TreeCount);
        var validation = CallHistoryCsv.Read(model.HistoryPath).Records.Where(r => r.StartedAt >= model.Report.ValidationFrom).ToArray();
        var rows = FeatureMatrix.Build(loaded.Schema, validation);
        var p = new float[rows.Rows];
        loaded.PredictBatch(rows.Values, p);
        Assert.Equal(model.Report.BestValidationLogLoss, Metrics.LogLoss(p, rows.Labels));

        // Every other prefix of the trees trained does no better.
        var train = TrainingRows(loaded.Schema);
        var fit = FastTreeFit.Train(train.Values, train.Labels, train.Columns, new TrainOptions { MaxTrees = 60 });
        var losses = TreeEnsembleModel.Create(fit.Export(loaded.Schema.FeatureNames), loaded.Schema, "refit").LogLossByTreeCount(rows.Values, rows.Labels);
        Assert.Equal(model.Report.BestValidationLogLoss, losses.Min());
        Assert.Equal(model.Report.Trees, Array.IndexOf(losses, losses.Min()) + 1);
    }

    private FeatureMatrix TrainingRows(FeatureSchema schema) =>
        FeatureMatrix.Build(schema, CallHistoryCsv.Read(model.HistoryPath).Records.Where(r => r.StartedAt < model.Report.ValidationFrom).ToArray());

    [Fact]
    public void ServingAllocatesNothing()
    {
        var loaded = TreeEnsembleModel.Load(model.ModelDirectory);
        var history = SyntheticHistory.Generate(300, seed: 4);
        var rows = FeatureMatrix.Build(loaded.Schema, history.Records).Values;
        var context = AttemptContext.FromHistory(history.Records[^1]);
        var row = new float[loaded.Schema.FeatureCount];
        var probabilities = new float[256];
        void Serve()
        {
            loaded.Schema.Extract(context, row);
            loaded.Predict(row);
            loaded.PredictBatch(rows.AsSpan(0, 256 * row.Length), probabilities);
        }
        Serve(); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++) Serve();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void EvaluatorScoresAHistoryFile()
    {
        var report = ModelEvaluator.Evaluate(model.ModelDirectory, model.HistoryPath);
        Assert.Equal(20_000, report.Rows);
        Assert.InRange(report.Auc!.Value, 0.6, 1.0);
        Assert.NotNull(report.BayesAuc);
        Assert.Equal(6, report.Regions.Count);
        Assert.Contains("\"log_loss\"", ReportJson.Serialize(report));
        Assert.Contains("reliability", report.ToText());
    }

    [Fact]
    public void ModelWithMismatchedSchemaIsRefused()
    {
        string copy = CopyModel();
        var schema = FeatureSchema.FromJson(File.ReadAllText(Path.Combine(copy, ModelFiles.Schema)), "schema");
        File.WriteAllText(Path.Combine(copy, ModelFiles.Schema), new FeatureSchema(schema.Regions, [.. schema.Tags, "extra"]).ToJson());
        var e = Assert.Throws<InvalidDataException>(() => TreeEnsembleModel.Load(copy));
        Assert.Contains("features", e.Message);
    }

    [Fact]
    public void ModelOfAnotherSchemaVersionIsRefused()
    {
        string copy = CopyModel();
        string path = Path.Combine(copy, ModelFiles.Schema);
        File.WriteAllText(path, File.ReadAllText(path).Replace(FeatureSchema.CurrentVersion, "dialer.answer-rate.features/99"));
        var e = Assert.Throws<InvalidDataException>(() => TreeEnsembleModel.Load(copy));
        Assert.Contains("features/99", e.Message);
    }

    [Fact]
    public void ModelOfAnotherFormatIsRefused()
    {
        string copy = CopyModel();
        File.WriteAllText(Path.Combine(copy, ModelFiles.Model), """{"learner": {"objective": {"name": "binary:logistic"}}}"""); // an XGBoost model.json
        var e = Assert.Throws<InvalidDataException>(() => TreeEnsembleModel.Load(copy));
        Assert.Contains(TreeModelFile.CurrentFormat, e.Message);
    }

    [Fact]
    public void MissingModelFallsBackToTheRateTable()
    {
        string empty = Path.Combine(model.Directory, "no-model");
        Directory.CreateDirectory(empty);
        var fallback = AnswerRateModels.LoadOrFallback(empty, () => CallHistoryCsv.Read(model.HistoryPath));
        Assert.True(fallback.IsFallback);
        Assert.False(AnswerRateModels.LoadOrFallback(model.ModelDirectory, () => throw new InvalidOperationException("not needed")).IsFallback);
    }

    [Fact]
    public void TrainingReportsTheBadRowsItSkipped()
    {
        var text = new StringWriter();
        CallHistoryCsv.Write(text, SyntheticHistory.Generate(3000, seed: 6).Records);
        var lines = text.ToString().Split('\n').ToList();
        var fields = lines[10].Split(','); // row 11 of the file (row 1 is the header)
        fields[6] = "hung_up";              // the outcome column
        lines[10] = string.Join(',', fields);
        string path = Path.Combine(model.Directory, "with-bad-row.csv");
        File.WriteAllText(path, string.Join('\n', lines));

        var report = ModelTrainer.TrainFromCsv(path, Path.Combine(model.Directory, "bad-row-model"), new TrainOptions { MaxTrees = 5 });
        Assert.Equal(1, report.BadRowCount);
        var bad = Assert.Single(report.BadRows);
        Assert.Equal((11, "outcome"), (bad.Row, bad.Field));
        Assert.Contains("\"bad_rows\"", File.ReadAllText(Path.Combine(model.Directory, "bad-row-model", ModelFiles.Metrics)));
    }

    [Fact]
    public void TooSmallHistoryIsRefused()
    {
        var e = Assert.Throws<InsufficientHistoryException>(() =>
            ModelTrainer.Train(SyntheticHistory.Generate(500, seed: 2), Path.Combine(model.Directory, "small")));
        Assert.Contains("500 usable rows", e.Message);
        Assert.False(Directory.Exists(Path.Combine(model.Directory, "small")));
    }

    [Fact]
    public void HistoryWithoutLiveAnswersIsRefused()
    {
        var records = SyntheticHistory.Generate(2000, seed: 2).Records.Where(r => !r.IsLive).ToArray();
        var e = Assert.Throws<InsufficientHistoryException>(() =>
            ModelTrainer.Train(CallHistory.Create(records, records.Length, 0, []), Path.Combine(model.Directory, "none")));
        Assert.Contains("0 live answers", e.Message);
    }

    private string CopyModel()
    {
        string copy = Path.Combine(model.Directory, "copy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(model.ModelDirectory)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }
}
