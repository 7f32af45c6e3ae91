using System.Reflection;
using Dialer.Models.Serving;
using Microsoft.ML;
using Microsoft.ML.Calibrators;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using Microsoft.ML.Trainers.FastTree;

namespace Dialer.Models.Training;

/// <summary>ML.NET FastTree behind two calls: train on feature rows, and score rows as ML.NET itself does.</summary>
internal sealed class FastTreeFit
{
    private readonly MLContext _ml;
    private readonly BinaryPredictionTransformer<CalibratedModelParametersBase<FastTreeBinaryModelParameters, PlattCalibrator>> _model;
    private readonly int _columns;

    /// <summary>"ML.NET FastTree 5.0.1": the package version the trainer ran with.</summary>
    public static string Trainer { get; } =
        "ML.NET FastTree " + (typeof(FastTreeBinaryTrainer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "?");

    private FastTreeFit(MLContext ml, BinaryPredictionTransformer<CalibratedModelParametersBase<FastTreeBinaryModelParameters, PlattCalibrator>> model, int columns) =>
        (_ml, _model, _columns) = (ml, model, columns);

    /// <summary>
    /// Trains on row-major <paramref name="values"/>. FastTree drops a row holding a NaN with no more than a
    /// log warning ("Skipped N instances with missing features"); here that is an error, so no row is ever
    /// trained away unnoticed.
    /// </summary>
    public static FastTreeFit Train(float[] values, float[] labels, int columns, TrainOptions options)
    {
        var ml = new MLContext(options.Seed);
        var skipped = new List<string>();
        ml.Log += (_, e) =>
        {
            if (e.Kind == ChannelMessageKind.Warning && e.Message.Contains("Skipped", StringComparison.Ordinal)) skipped.Add(e.Message);
        };
        var trainer = ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
        {
            NumberOfTrees = options.MaxTrees,
            NumberOfLeaves = options.Leaves,
            LearningRate = options.LearningRate,
            MinimumExampleCountPerLeaf = options.MinExamplesPerLeaf,
            MaximumBinCountPerFeature = options.MaxBins,
            NumberOfThreads = options.Threads,
            Seed = options.Seed,
            FeatureSelectionSeed = options.Seed,
        });
        var model = trainer.Fit(Load(ml, values, labels, columns));
        if (skipped.Count > 0)
        {
            throw new InvalidOperationException($"FastTree dropped training rows: {string.Join("; ", skipped)}; every missing value must be encoded as FeatureSchema.Missing");
        }
        return new FastTreeFit(ml, model, columns);
    }

    /// <summary>ML.NET's own probabilities for row-major <paramref name="values"/>.</summary>
    public float[] Predict(float[] values)
    {
        var scored = _model.Transform(Load(_ml, values, new float[values.Length / _columns], _columns));
        return scored.GetColumn<float>(scored.Schema["Probability"]).ToArray();
    }

    /// <summary>The trees and the calibrator as plain arrays, for the managed evaluator.</summary>
    public TreeModelFile Export(IReadOnlyList<string> featureNames)
    {
        var platt = _model.Model.Calibrator;
        var trees = _model.Model.SubModel.TrainedTreeEnsemble.Trees.Select(t => new TreeModelFile.Tree(
            [.. t.LeftChild], [.. t.RightChild], [.. t.NumericalSplitFeatureIndexes], [.. t.NumericalSplitThresholds], [.. t.LeafValues]));
        return new TreeModelFile
        {
            Format = TreeModelFile.CurrentFormat,
            Trainer = Trainer,
            FeatureNames = [.. featureNames],
            PlattSlope = platt.Slope,
            PlattOffset = platt.Offset,
            Trees = [.. trees],
        };
    }

    private sealed class Row
    {
        public bool Label { get; set; }
        public float[] Features { get; set; } = [];
    }

    /// <summary>A lazy view of the rows: each is copied out when ML.NET reads it, so the matrix is never held twice.</summary>
    private static IDataView Load(MLContext ml, float[] values, float[] labels, int columns)
    {
        var definition = SchemaDefinition.Create(typeof(Row));
        definition[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, columns);
        return ml.Data.LoadFromEnumerable(Rows(values, labels, columns), definition);
    }

    private static IEnumerable<Row> Rows(float[] values, float[] labels, int columns)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            yield return new Row { Label = labels[i] > 0.5f, Features = values.AsSpan(i * columns, columns).ToArray() };
        }
    }
}
