using Dialer.Core.Pacing;
using Dialer.Models.Features;
using Dialer.Models.History;

namespace Dialer.Models.Serving;

/// <summary>
/// The fallback when no trained model exists: live-answer rates per region × callee-local hour × first attempt or retry,
/// shrunk as the engine's online <see cref="RateTable"/> shrinks them (a cell toward its region's rate for that kind of
/// attempt, that toward the region's rate scaled by the kind's ratio, the region toward the global rate, with its Beta
/// priors), so thin cells neither read 0% nor 100% and both tables read the same counts alike.
/// </summary>
public sealed class RateTableModel : IAnswerRateModel
{
    private const int Hours = 24, Kinds = 2;

    private readonly float[] _kinds;
    private readonly float[] _regions;
    private readonly float[] _cells;

    public FeatureSchema Schema { get; }
    public bool IsFallback => true;

    private RateTableModel(FeatureSchema schema, float[] kinds, float[] regions, float[] cells) =>
        (Schema, _kinds, _regions, _cells) = (schema, kinds, regions, cells);

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
        // (rows, live) as the engine's table counts them: per kind; per region; per region × kind; per region × kind × hour.
        var kindCounts = new (double N, double K)[Kinds];
        var regionCounts = new (double N, double K)[regions];
        var regionKindCounts = new (double N, double K)[regions * Kinds];
        var cellCounts = new (double N, double K)[regions * Kinds * Hours];
        double rows = 0, live = 0;
        for (int i = 0; i < features.Rows; i++)
        {
            var row = features.Row(i);
            float y = features.Labels[i];
            rows++;
            live += y;
            int kind = Kind(row);
            Count(ref kindCounts[kind], y);
            if (!TryRegion(row, regions, out int region)) continue;
            Count(ref regionCounts[region], y);
            Count(ref regionKindCounts[region * Kinds + kind], y);
            if (TryHour(row, out int hour)) Count(ref cellCounts[(region * Kinds + kind) * Hours + hour], y);
        }
        // With no rows at all the rate is unknown; one half is the least committal guess.
        double global = rows == 0 ? 0.5 : live / rows;
        var kindRatios = new double[Kinds];
        var kindRates = new float[Kinds];
        for (int k = 0; k < Kinds; k++)
        {
            kindRatios[k] = RateTable.KindRatio(global, kindCounts[k]);
            kindRates[k] = (float)Math.Min(global * kindRatios[k], 1);
        }
        var regionRates = new float[regions * Kinds];
        var cellRates = new float[regions * Kinds * Hours];
        for (int r = 0; r < regions; r++)
            for (int k = 0; k < Kinds; k++)
            {
                int rk = r * Kinds + k;
                double regionKind = RateTable.RegionKindRate(global, kindRatios[k], regionCounts[r], regionKindCounts[rk]);
                regionRates[rk] = (float)regionKind;
                for (int h = 0; h < Hours; h++)
                {
                    var c = cellCounts[rk * Hours + h];
                    cellRates[rk * Hours + h] = (float)RateTable.Shrink(c.K, c.N, regionKind, RateTable.CellWeight);
                }
            }
        return new RateTableModel(schema, kindRates, regionRates, cellRates);
    }

    private static void Count(ref (double N, double K) counts, float live) => counts = (counts.N + 1, counts.K + live);

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
        int kind = Kind(row);
        if (!TryRegion(row, _regions.Length / Kinds, out int region)) return _kinds[kind];
        int rk = region * Kinds + kind;
        return TryHour(row, out int hour) ? _cells[rk * Hours + hour] : _regions[rk];
    }

    /// <summary>First attempt (0) or retry (1), as the engine's table splits them; an attempt number not given counts as a first.</summary>
    private static int Kind(ReadOnlySpan<float> row) => row[FeatureSchema.Attempt] > 1 ? 1 : 0;

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
