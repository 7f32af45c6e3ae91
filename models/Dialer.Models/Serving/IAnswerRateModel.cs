using Dialer.Models.Features;

namespace Dialer.Models.Serving;

/// <summary>Live-answer probability of an attempt, from a feature row built by <see cref="Schema"/>.</summary>
public interface IAnswerRateModel
{
    /// <summary>The schema whose <see cref="FeatureSchema.Extract"/> builds this model's input rows.</summary>
    FeatureSchema Schema { get; }

    /// <summary>True for the region × hour rate table used when no trained model exists.</summary>
    bool IsFallback { get; }

    /// <summary>One row of <see cref="FeatureSchema.FeatureCount"/> features; allocates nothing.</summary>
    float Predict(ReadOnlySpan<float> features);

    /// <summary>Row-major rows (probabilities.Length × FeatureCount values); allocates nothing.</summary>
    void PredictBatch(ReadOnlySpan<float> rows, Span<float> probabilities);
}

internal static class ModelInput
{
    public static void CheckRow(FeatureSchema schema, ReadOnlySpan<float> features)
    {
        if (features.Length != schema.FeatureCount)
        {
            throw new ArgumentException($"feature row has {features.Length} values, the model expects {schema.FeatureCount}", nameof(features));
        }
    }

    public static void CheckBatch(FeatureSchema schema, ReadOnlySpan<float> rows, Span<float> probabilities)
    {
        if (rows.Length != probabilities.Length * schema.FeatureCount)
        {
            throw new ArgumentException($"{rows.Length} feature values is not {probabilities.Length} rows of {schema.FeatureCount} features", nameof(rows));
        }
    }
}
