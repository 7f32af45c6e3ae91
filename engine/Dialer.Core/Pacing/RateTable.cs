using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>
/// Live-answer rate from the campaign's own history, per region × callee-local hour × first attempt or retry, each cell
/// smoothed toward its region's rate for that kind of attempt, that toward the region's rate scaled by how the kind of
/// attempt compares with the campaign's, and that toward the campaign's (Beta priors), so a thin cell borrows from its
/// neighbours. The kind of attempt matters because the mix moves: a morning brings a day's first attempts beside retries
/// whose daily limit reset, an evening mostly retries, and a retry answers less (cn-auto-renewal: −0.2 log-odds an attempt).
/// With <c>perRegionHour: false</c> it is the campaign average alone, the baseline the model must beat.
/// </summary>
public sealed class RateTable(bool perRegionHour, double priorRate = 0.2, double priorWeight = 50) : IAnswerPredictor
{
    /// <summary>Pseudo-attempts at the region's rate in each region × hour cell, and at the campaign's in each region.</summary>
    public const double CellWeight = 30, RegionWeight = 100;
    private const int Hours = 24, Kinds = 2, RegionTotal = Hours * Kinds + Kinds;
    private readonly Dictionary<string, int> _regions = new(StringComparer.Ordinal);
    // Per region: [kind × 24 hours], then [kind] = the region's total per kind, then [RegionTotal] = the region's total.
    private readonly List<(double N, double K)[]> _cells = [];
    private readonly (double N, double K)[] _kinds = new (double, double)[Kinds];
    private double _n, _k;

    public float PredictLive(Lead lead, DateTime utcNow)
    {
        var global = Shrink(_k, _n, priorRate, priorWeight);
        if (!perRegionHour) return (float)global;
        // The attempt about to be made: the lead has made none yet, or some.
        var kind = lead.Attempts == 0 ? 0 : 1;
        var kindRatio = KindRatio(global, _kinds[kind]);
        if (!_regions.TryGetValue(lead.Region, out var r)) return (float)Math.Min(global * kindRatio, 1);
        var cells = _cells[r];
        var regionKind = RegionKindRate(global, kindRatio, cells[RegionTotal], cells[Hours * Kinds + kind]);
        var (n, k) = cells[kind * Hours + LocalHour(lead, utcNow)];
        return (float)Shrink(k, n, regionKind, CellWeight);
    }

    /// <summary>How one kind of attempt (first or retry) answers against the campaign's <paramref name="global"/> rate, from its (attempts, live) counts.</summary>
    public static double KindRatio(double global, (double N, double K) kind) => Shrink(kind.K, kind.N, global, RegionWeight) / global;

    /// <summary>
    /// A region's rate for one kind of attempt: its counts shrunk toward the region's rate times the kind's ratio, the
    /// region's shrunk toward the campaign's. A region × hour cell of that kind shrinks toward it by <see cref="CellWeight"/>.
    /// The fallback model's table (Dialer.Models) shares it, so both predict alike from the same counts.
    /// </summary>
    public static double RegionKindRate(double global, double kindRatio, (double N, double K) region, (double N, double K) regionKind)
    {
        var regionRate = Shrink(region.K, region.N, global, RegionWeight);
        return Shrink(regionKind.K, regionKind.N, Math.Min(regionRate * kindRatio, 1), RegionWeight);
    }

    /// <summary>A rate of <paramref name="live"/> in <paramref name="attempts"/>, shrunk toward <paramref name="prior"/> by <paramref name="weight"/> pseudo-attempts (a Beta prior).</summary>
    public static double Shrink(double live, double attempts, double prior, double weight) => (live + prior * weight) / (attempts + weight);

    /// <summary>An attempt of <paramref name="lead"/> is over (its count includes it: at most one means it was the first).</summary>
    public void Observe(Lead lead, DateTime placedUtc, bool live)
    {
        var y = live ? 1 : 0;
        _n++;
        _k += y;
        if (!perRegionHour) return;
        var kind = lead.Attempts <= 1 ? 0 : 1;
        _kinds[kind] = (_kinds[kind].N + 1, _kinds[kind].K + y);
        if (!_regions.TryGetValue(lead.Region, out var r))
        {
            r = _regions[lead.Region] = _cells.Count;
            _cells.Add(new (double, double)[RegionTotal + 1]);
        }
        var cells = _cells[r];
        Count(cells, kind * Hours + LocalHour(lead, placedUtc), y);
        Count(cells, Hours * Kinds + kind, y);
        Count(cells, RegionTotal, y);
    }

    private static void Count((double N, double K)[] cells, int i, int live) => cells[i] = (cells[i].N + 1, cells[i].K + live);

    private static int LocalHour(Lead lead, DateTime utc) => TimeZoneInfo.ConvertTimeFromUtc(utc, lead.TimeZone).Hour;
}
