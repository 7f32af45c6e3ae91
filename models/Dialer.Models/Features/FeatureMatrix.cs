using Dialer.Models.History;

namespace Dialer.Models.Features;

/// <summary>Row-major features and live-answer labels for a set of history rows.</summary>
public sealed class FeatureMatrix
{
    public float[] Values { get; }
    public float[] Labels { get; }
    public int Columns { get; }
    public int Rows => Labels.Length;

    private FeatureMatrix(float[] values, float[] labels, int columns) => (Values, Labels, Columns) = (values, labels, columns);

    public ReadOnlySpan<float> Row(int i) => Values.AsSpan(i * Columns, Columns);

    /// <summary>Extracts every row through <see cref="FeatureSchema.Extract"/>, the same path serving uses.</summary>
    public static FeatureMatrix Build(FeatureSchema schema, IReadOnlyList<CallRecord> rows)
    {
        int columns = schema.FeatureCount;
        var values = new float[checked(rows.Count * columns)];
        var labels = new float[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            schema.Extract(AttemptContext.FromHistory(rows[i]), values.AsSpan(i * columns, columns));
            labels[i] = rows[i].IsLive ? 1f : 0f;
        }
        return new FeatureMatrix(values, labels, columns);
    }
}
