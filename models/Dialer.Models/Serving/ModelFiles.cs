namespace Dialer.Models.Serving;

/// <summary>The files of a published model directory.</summary>
public static class ModelFiles
{
    /// <summary>The trained trees and calibrator as a <see cref="TreeModelFile"/> (what the managed evaluator reads).</summary>
    public const string Model = "model.json";

    /// <summary>The <see cref="Features.FeatureSchema"/> the model was trained with.</summary>
    public const string Schema = "schema.json";

    /// <summary>The training report, validation metrics included.</summary>
    public const string Metrics = "metrics.json";
}
