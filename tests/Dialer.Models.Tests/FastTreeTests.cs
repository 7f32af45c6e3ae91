using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;
using Dialer.Models.Synthetic;
using Dialer.Models.Training;

namespace Dialer.Models.Tests;

public class FastTreeTests
{
    [Fact]
    public void ExportedTreesScoreEveryRowAsMlNetDoes()
    {
        var history = SyntheticHistory.Generate(6000, seed: 11);
        var schema = FeatureSchema.Learn(history.Records);
        var train = FeatureMatrix.Build(schema, history.Records);
        var fit = FastTreeFit.Train(train.Values, train.Labels, train.Columns, new TrainOptions { MaxTrees = 40, Leaves = 16 });
        // Through the file format, as serving gets it.
        var managed = TreeEnsembleModel.Create(TreeModelFile.FromJson(fit.Export(schema.FeatureNames).ToJson(), "model.json"), schema, "model.json");

        // History rows, then rows history never shows: values anywhere in or beyond range, Missing, and NaN.
        int width = schema.FeatureCount, odd = 3999; // not a whole number of 8-row blocks
        var random = new Random(9);
        var arbitrary = new float[odd * width];
        for (int i = 0; i < arbitrary.Length; i++)
        {
            double u = random.NextDouble();
            arbitrary[i] = u < 0.1 ? float.NaN : u < 0.3 ? FeatureSchema.Missing : (float)(random.NextDouble() * 400 - 100);
        }
        foreach (var rows in new[] { train.Values, arbitrary })
        {
            float[] expected = fit.Predict(rows);
            var batch = new float[expected.Length];
            managed.PredictBatch(rows, batch);
            Assert.Equal(expected, batch);
            for (int i = 0; i < expected.Length; i += 97) Assert.Equal(expected[i], managed.Predict(rows.AsSpan(i * width, width)));
        }
    }

    [Fact]
    public void RowsWithNaNAreAnErrorNotSilentlyDropped()
    {
        // FastTree itself would train on the other rows and only log "Skipped 1 instances with missing features".
        var history = SyntheticHistory.Generate(2000, seed: 12);
        var schema = FeatureSchema.Learn(history.Records);
        var m = FeatureMatrix.Build(schema, history.Records);
        m.Values[5 * m.Columns + FeatureSchema.MinutesSinceLastAttempt] = float.NaN;
        var e = Assert.Throws<InvalidOperationException>(() => FastTreeFit.Train(m.Values, m.Labels, m.Columns, new TrainOptions { MaxTrees = 3 }));
        Assert.Contains("Skipped", e.Message);
    }

    [Fact]
    public void FirstAttemptsAreAllTrainedOn()
    {
        // Every row lacks minutes since the last attempt and the last outcome; none may be dropped.
        var firsts = SyntheticHistory.Generate(8000, seed: 13).Records.Where(r => r.Attempt == 1).ToArray();
        string directory = Path.Combine(Path.GetTempPath(), "dialer-first-attempts-" + Guid.NewGuid().ToString("N"));
        try
        {
            var report = ModelTrainer.Train(CallHistory.Create(firsts, firsts.Length, 0, []), directory, new TrainOptions { MaxTrees = 10 });
            Assert.Equal(firsts.Length, report.TrainRows + report.ValidationRows);
            Assert.True(report.Parity.BitIdentical);
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void WalkFollowsTheFileFormat()
    {
        // Tree 0: f0 <= 1 ? leaf 0 (0.5) : (f1 <= -2 ? leaf 1 (-1) : leaf 2 (2)). Tree 1: a single leaf (0.25).
        var schema = new FeatureSchema(["a"], []);
        var names = schema.FeatureNames.ToArray();
        var file = new TreeModelFile
        {
            Format = TreeModelFile.CurrentFormat,
            FeatureNames = names,
            PlattSlope = -1,
            PlattOffset = 0,
            Trees =
            [
                new([~0, ~1], [1, ~2], [0, 1], [1f, -2f], [0.5, -1, 2]),
                new([], [], [], [], [0.25]),
            ],
        };
        var model = TreeEnsembleModel.Create(file, schema, "test");
        float P(float f0, float f1)
        {
            var row = new float[schema.FeatureCount];
            (row[0], row[1]) = (f0, f1);
            return model.Predict(row);
        }
        static float Sigmoid(double score) => (float)(1 / (1 + Math.Exp(-score)));
        Assert.Equal(Sigmoid(0.75), P(1f, 0));            // x equal to the threshold goes left
        Assert.Equal(Sigmoid(-0.75), P(1.5f, -2f));
        Assert.Equal(Sigmoid(2.25), P(1.5f, 0));
        Assert.Equal(Sigmoid(2.25), P(float.NaN, float.NaN)); // NaN goes right, as in ML.NET
    }

    [Fact]
    public void LinksThatDoNotFormATreeAreRefused()
    {
        var schema = new FeatureSchema(["a"], []);
        var file = new TreeModelFile
        {
            Format = TreeModelFile.CurrentFormat,
            FeatureNames = schema.FeatureNames.ToArray(),
            Trees = [new([0], [~0], [0], [1f], [0.5, 1])], // node 0 is its own left child
        };
        var e = Assert.Throws<InvalidDataException>(() => TreeEnsembleModel.Create(file, schema, "model.json"));
        Assert.Contains("tree 0", e.Message);
    }
}
