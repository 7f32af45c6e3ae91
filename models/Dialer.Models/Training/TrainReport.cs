using Dialer.Models.Evaluation;
using Dialer.Models.History;

namespace Dialer.Models.Training;

/// <summary>How the managed evaluator compared with ML.NET's own predictions (all trees trained) on the validation rows.</summary>
public sealed record ParityCheck(int Rows, int BitIdenticalRows, double MaxAbsDiff)
{
    public bool BitIdentical => BitIdenticalRows == Rows;
}

/// <summary>What training did; saved as metrics.json in the model directory.</summary>
public sealed record TrainReport
{
    public required string OutputDirectory { get; init; }
    /// <summary>What trained the model, with its version ("ML.NET FastTree 5.0.1").</summary>
    public required string Trainer { get; init; }
    public required int RowsRead { get; init; }
    public required int BadRowCount { get; init; }
    public required IReadOnlyList<BadRow> BadRows { get; init; }
    public required int TrainRows { get; init; }
    public required int ValidationRows { get; init; }
    public required DateTimeOffset ValidationFrom { get; init; }
    public required IReadOnlyList<string> Features { get; init; }
    /// <summary>Trees grown; <see cref="Trees"/> of them, the prefix with the best validation log-loss, are published.</summary>
    public required int TreesTrained { get; init; }
    public required int Trees { get; init; }
    public required double BestValidationLogLoss { get; init; }
    public required double TrainingSeconds { get; init; }
    public required ParityCheck Parity { get; init; }

    /// <summary>The fallback region × hour table, trained on the same rows, scored on the same validation rows.</summary>
    public required Scores RateTableValidation { get; init; }
    public required EvalReport Validation { get; init; }
}
