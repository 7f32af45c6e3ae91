using Dialer.Models.History;

namespace Dialer.Models.Serving;

/// <summary>What the engine calls at start-up to get a model.</summary>
public static class AnswerRateModels
{
    /// <summary>
    /// The trained model in <paramref name="modelDirectory"/>, or the region × hour fallback learned
    /// from <paramref name="history"/> when the directory holds no model (check <see cref="IAnswerRateModel.IsFallback"/>).
    /// A model that exists but is damaged or mismatched is an error, never silently replaced.
    /// </summary>
    public static IAnswerRateModel LoadOrFallback(string? modelDirectory, Func<CallHistory> history)
    {
        bool exists = modelDirectory is not null && File.Exists(Path.Combine(modelDirectory, ModelFiles.Model));
        return exists ? TreeEnsembleModel.Load(modelDirectory!) : RateTableModel.FromHistory(history());
    }
}
