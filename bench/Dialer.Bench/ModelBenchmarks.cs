using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Dialer.Models.Evaluation;
using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;
using Dialer.Models.Synthetic;
using Dialer.Models.Training;

namespace Dialer.Bench;

/// <summary>
/// Serving cost of a trained answer-rate model (targets: 10 µs single, 0.5 ms per 256, no allocation): by
/// default one trained with the default options on 100,000 synthetic rows; with DIALER_BENCH_MODEL=DIR and
/// DIALER_BENCH_HISTORY=FILE, the model `dialer model train` published, on the last rows of that history.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*ModelBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class ModelBenchmarks
{
    private const int BatchSize = 256;
    private TreeEnsembleModel _model = null!;
    private RateTableModel _fallback = null!;
    private AttemptContext _context;
    private float[] _row = [];
    private float[] _batch = [];
    private readonly float[] _probabilities = new float[BatchSize];
    private string? _directory;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        string? modelDirectory = Environment.GetEnvironmentVariable("DIALER_BENCH_MODEL"), historyPath = Environment.GetEnvironmentVariable("DIALER_BENCH_HISTORY");
        if ((modelDirectory is null) != (historyPath is null)) throw new InvalidOperationException("set both DIALER_BENCH_MODEL and DIALER_BENCH_HISTORY, or neither");
        var history = historyPath is null ? SyntheticHistory.Generate(100_000, seed: 5) : CallHistoryCsv.Read(historyPath);
        if (modelDirectory is null)
        {
            _directory = modelDirectory = Path.Combine(Path.GetTempPath(), "dialer-bench-model-" + Guid.NewGuid().ToString("N"));
            ModelTrainer.Train(history, modelDirectory);
        }
        _model = TreeEnsembleModel.Load(modelDirectory);
        Console.WriteLine($"// model: {_model.TreeCount} trees, {_model.Schema.FeatureCount} features");
        _fallback = RateTableModel.FromHistory(history);
        var rows = history.Records.Skip(history.Records.Count - BatchSize).ToArray();
        _batch = FeatureMatrix.Build(_model.Schema, rows).Values;
        _row = new float[_model.Schema.FeatureCount];
        _context = AttemptContext.FromHistory(rows[0]);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_directory is not null) Directory.Delete(_directory, recursive: true);
    }

    [Benchmark]
    public void ExtractFeatures() => _model.Schema.Extract(_context, _row);

    // A different row each call, as in serving: the same row every time would let the CPU learn its path.
    [Benchmark]
    public float PredictSingle()
    {
        int width = _model.Schema.FeatureCount;
        _next = (_next + 1) % BatchSize;
        return _model.Predict(_batch.AsSpan(_next * width, width));
    }

    [Benchmark]
    public void PredictBatch256() => _model.PredictBatch(_batch, _probabilities);

    [Benchmark]
    public void FallbackBatch256() => _fallback.PredictBatch(_batch, _probabilities);
}

/// <summary>
/// Training on 1,000,000 synthetic rows with the default options, measured once (target 60 s on 2 cores). The cleanup prints
/// the quality figures: validation AUC against the true-probability AUC and the region × hour table.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*ModelTrainingBenchmarks*'
/// </summary>
[Config(typeof(OnceInProcess))]
public class ModelTrainingBenchmarks
{
    private CallHistory _history = null!;
    private string _directory = "";
    private TrainReport? _report;

    [GlobalSetup]
    public void Setup()
    {
        _history = SyntheticHistory.Generate(1_000_000, seed: 42);
        _directory = Path.Combine(Path.GetTempPath(), "dialer-bench-train-" + Guid.NewGuid().ToString("N"));
    }

    private TimeSpan _cpu;

    [Benchmark]
    public TrainReport Train1M()
    {
        // CPU time beside wall time: on a shared 2-core machine the wall clock also measures the neighbours.
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        _report = ModelTrainer.Train(_history, _directory);
        _cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        return _report;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_report is { } r)
        {
            var v = r.Validation;
            Console.WriteLine(
                $"// quality: {r.Trainer}, trees {r.Trees} of {r.TreesTrained}, train {r.TrainRows}, validation {r.ValidationRows}, auc {v.Auc:F4}, bayes_auc {v.BayesAuc:F4}, " +
                $"gap {v.BayesAuc - v.Auc:F4}, rate_table_auc {r.RateTableValidation.Auc:F4}, lift {v.Auc - r.RateTableValidation.Auc:F4}, " +
                $"ece {v.Ece:F4}, log_loss {v.LogLoss:F4}, brier {v.Brier:F4}, parity bit-identical {r.Parity.BitIdenticalRows}/{r.Parity.Rows} " +
                $"(max diff {r.Parity.MaxAbsDiff:G3}), training {r.TrainingSeconds:F1} s wall, {_cpu.TotalSeconds:F1} s CPU");
            File.Copy(Path.Combine(_directory, ModelFiles.Metrics), Path.Combine(Path.GetTempPath(), "dialer-bench-train-metrics.json"), overwrite: true);
        }
        Directory.Delete(_directory, recursive: true);
    }
}
