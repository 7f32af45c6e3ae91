namespace Dialer.Models.Training;

/// <summary>Training settings; the defaults are the ones the design measured on 2 cores.</summary>
public sealed record TrainOptions
{
    public int MaxRounds { get; init; } = 400;

    /// <summary>Stop after this many rounds without a better validation log-loss; 0 trains all <see cref="MaxRounds"/>.</summary>
    public int EarlyStoppingRounds { get; init; } = 20;

    public double LearningRate { get; init; } = 0.1;
    public int MaxDepth { get; init; } = 6;
    public double MinChildWeight { get; init; } = 1;
    public double L2 { get; init; } = 1;
    public int MaxBin { get; init; } = 256;
    public int Threads { get; init; } = 2;
    public int Seed { get; init; }

    /// <summary>The latest share of the time span held out for validation and early stopping.</summary>
    public double ValidationFraction { get; init; } = 0.2;

    public int MinUsableRows { get; init; } = 1000;
    public double MaxBadRowFraction { get; init; } = 0.05;
    public int CalibrationBins { get; init; } = 10;

    /// <summary>Largest |managed − native| prediction difference allowed before a model is refused.</summary>
    public double ParityTolerance { get; init; } = 1e-6;

    internal void Validate()
    {
        static void Require(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new ArgumentOutOfRangeException(name, value, $"{name} must be {rule}");
        }
        Require(MaxRounds >= 1, nameof(MaxRounds), MaxRounds, ">= 1");
        Require(EarlyStoppingRounds >= 0, nameof(EarlyStoppingRounds), EarlyStoppingRounds, ">= 0");
        Require(ValidationFraction is > 0 and < 1, nameof(ValidationFraction), ValidationFraction, "between 0 and 1");
        Require(MaxBadRowFraction is >= 0 and <= 1, nameof(MaxBadRowFraction), MaxBadRowFraction, "between 0 and 1");
        Require(CalibrationBins >= 1, nameof(CalibrationBins), CalibrationBins, ">= 1");
        Require(Threads >= 1, nameof(Threads), Threads, ">= 1");
        Require(ParityTolerance >= 0, nameof(ParityTolerance), ParityTolerance, ">= 0");
    }
}
