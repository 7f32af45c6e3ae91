using Dialer.Models.History;
using Dialer.Models.Synthetic;
using Dialer.Models.Training;

namespace Dialer.Models.Tests;

/// <summary>One small model trained once for all tests that need one.</summary>
public sealed class TrainedModelFixture : IDisposable
{
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "dialer-models-" + Guid.NewGuid().ToString("N"));
    public string HistoryPath => Path.Combine(Directory, "history.csv");
    public string ModelDirectory => Path.Combine(Directory, "model");
    public TrainReport Report { get; }

    public TrainedModelFixture()
    {
        System.IO.Directory.CreateDirectory(Directory);
        CallHistoryCsv.Write(HistoryPath, SyntheticHistory.Generate(20_000, seed: 1).Records);
        Report = ModelTrainer.TrainFromCsv(HistoryPath, ModelDirectory, new TrainOptions { MaxTrees = 60 });
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

[CollectionDefinition(nameof(TrainedModelCollection))]
public sealed class TrainedModelCollection : ICollectionFixture<TrainedModelFixture>;
