using Dialer.Core.Pacing;
using Dialer.Models.Features;
using Dialer.Models.History;

namespace Dialer.Models.Serving;

/// <summary>
/// The fallback when no trained model exists: live-answer rates per region × callee-local hour,
/// each cell shrunk toward its region's rate, and each region toward the global rate, with the same
/// Beta priors as the engine's online <see cref="RateTable"/>, so thin cells neither read 0% nor 100%.
/// </summary>
public sealed class RateTableModel : IAnswerRateModel
{
    private const int Hours = 24;

    private readonly float _global;
    private readonly float[] _regions;
    private readonly float[] _cells;

    public FeatureSchema Schema { get; }
    public bool IsFallback => true;

    private RateTableModel(FeatureSchema schema, float global, float[] regions, float[] cells) =>
        (Schema, _global, _regions, _cells) = (schema, global, regions, cells);

    /// <summary>Learns a schema and the table from a whole history.</summary>
    public static RateTableModel FromHistory(CallHistory history)
    {
        var schema = FeatureSchema.Learn(history.Records);
        return FromFeatures(schema, FeatureMatrix.Build(schema, history.Records));
    }

    /// <summary>The table of rows already extracted with <paramref name="schema"/>.</summary>
    public static RateTableModel FromFeatures(FeatureSchema schema, FeatureMatrix features)
    {
        int regions = schema.Regions.Count;
        var regionCounts = new (double Rows, double Live)[regions];
        var cellCounts = new (double Rows, double Live)[regions * Hours];
        double rows = 0, live = 0;
        for (int i = 0; i < features.Rows; i++)
        {
            var row = features.Row(i);
            float y = features.Labels[i];
            rows++;
            live += y;
            if (!TryRegion(row, regions, out int region)) continue;
            regionCounts[region].Rows++;
            regionCounts[region].Live += y;
            if (!TryHour(row, out int hour)) continue;
            cellCounts[region * Hours + hour].Rows++;
            cellCounts[region * Hours + hour].Live += y;
        }
        // With no rows at all the rate is unknown; one half is the least committal guess.
        double global = rows == 0 ? 0.5 : live / rows;
        var regionRates = new float[regions];
        var cellRates = new float[regions * Hours];
        for (int r = 0; r < regions; r++)
        {
            double regionRate = RateTable.Shrink(regionCounts[r].Live, regionCounts[r].Rows, global, RateTable.RegionWeight);
            regionRates[r] = (float)regionRate;
            for (int h = 0; h < Hours; h++)
            {
                var c = cellCounts[r * Hours + h];
                cellRates[r * Hours + h] = (float)RateTable.Shrink(c.Live, c.Rows, regionRate, RateTable.CellWeight);
            }
        }
        return new RateTableModel(schema, (float)global, regionRates, cellRates);
    }

    public float Predict(ReadOnlySpan<float> features)
    {
        ModelInput.CheckRow(Schema, features);
        return Lookup(features);
    }

    public void PredictBatch(ReadOnlySpan<float> rows, Span<float> probabilities)
    {
        ModelInput.CheckBatch(Schema, rows, probabilities);
        int width = Schema.FeatureCount;
        for (int r = 0; r < probabilities.Length; r++) probabilities[r] = Lookup(rows.Slice(r * width, width));
    }

    private float Lookup(ReadOnlySpan<float> row)
    {
        if (!TryRegion(row, _regions.Length, out int region)) return _global;
        return TryHour(row, out int hour) ? _cells[region * Hours + hour] : _regions[region];
    }

    private static bool TryRegion(ReadOnlySpan<float> row, int regions, out int region)
    {
        float code = row[FeatureSchema.Region];
        region = float.IsNaN(code) ? -1 : (int)code;
        return (uint)region < (uint)regions;
    }

    private static bool TryHour(ReadOnlySpan<float> row, out int hour)
    {
        float h = row[FeatureSchema.LocalHour];
        hour = float.IsNaN(h) ? -1 : (int)h;
        return (uint)hour < Hours;
    }
}
