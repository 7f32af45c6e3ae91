namespace Dialer.Models.Serving;

/// <summary>The files of a published model directory.</summary>
public static class ModelFiles
{
    /// <summary>XGBoost's own JSON model (loadable by XGBoost and by the managed evaluator).</summary>
    public const string Model = "model.json";

    /// <summary>The <see cref="Features.FeatureSchema"/> the model was trained with.</summary>
    public const string Schema = "schema.json";

    /// <summary>The training report, validation metrics included.</summary>
    public const string Metrics = "metrics.json";
}
