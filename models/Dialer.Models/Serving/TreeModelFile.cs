using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dialer.Models.Serving;

/// <summary>
/// model.json: a boosted tree ensemble as plain arrays, written by the trainer, read by
/// <see cref="TreeEnsembleModel"/>. The score of a row is the sum, in double, of one leaf value per tree,
/// cast to float; the probability is Platt's 1 / (1 + exp(slope · score + offset)) in double, cast to float.
/// </summary>
public sealed record TreeModelFile
{
    /// <summary>Bumped whenever the layout or the meaning of a field changes; other formats are refused.</summary>
    public const string CurrentFormat = "dialer.answer-rate.trees/1";

    public string? Format { get; init; }

    /// <summary>What trained it (e.g. "ML.NET FastTree 5.0.1"); informational.</summary>
    public string? Trainer { get; init; }
    public string[]? FeatureNames { get; init; }
    public double PlattSlope { get; init; }
    public double PlattOffset { get; init; }
    public Tree[]? Trees { get; init; }

    /// <summary>
    /// One tree: split node i sends a row to <see cref="Left"/>[i] when feature <see cref="Feature"/>[i] ≤
    /// <see cref="Threshold"/>[i] (so NaN goes right), else to <see cref="Right"/>[i]. A child ≥ 0 is a split
    /// node, a child c &lt; 0 is leaf ~c. No split nodes means one leaf.
    /// </summary>
    public sealed record Tree(int[]? Left, int[]? Right, int[]? Feature, float[]? Threshold, double[]? LeafValues);

    /// <summary>The same model with only its first <paramref name="trees"/> trees.</summary>
    public TreeModelFile Prefix(int trees) => this with { Trees = Trees![..trees] };

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, TreeModelFileContext.Default.TreeModelFile);

    public static TreeModelFile FromJson(ReadOnlySpan<byte> json, string source)
    {
        TreeModelFile? file;
        try
        {
            file = JsonSerializer.Deserialize(json, TreeModelFileContext.Default.TreeModelFile);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: not a tree model: {e.Message}", e);
        }
        if (file?.Format != CurrentFormat)
        {
            throw new InvalidDataException($"{source}: model format '{file?.Format}' is not the supported '{CurrentFormat}'; retrain the model");
        }
        return file;
    }
}

// Doubles and floats are written shortest-round-trip, so a saved model scores exactly as the one trained.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(TreeModelFile))]
internal sealed partial class TreeModelFileContext : JsonSerializerContext;
