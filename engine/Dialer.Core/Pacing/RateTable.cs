using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>
/// Live-answer rate from the campaign's own history, per region × callee-local hour, smoothed toward the
/// region's rate and that toward the campaign's (Beta priors), so a thin cell borrows from its neighbours.
/// With <c>perRegionHour: false</c> it is the campaign average alone, the baseline the model must beat.
/// </summary>
public sealed class RateTable(bool perRegionHour, double priorRate = 0.2, double priorWeight = 50) : IAnswerPredictor
{
    /// <summary>Pseudo-attempts at the region's rate in each region × hour cell, and at the campaign's in each region.</summary>
    public const double CellWeight = 30, RegionWeight = 100;
    private readonly Dictionary<string, int> _regions = new(StringComparer.Ordinal);
    private readonly List<(double N, double K)[]> _cells = []; // per region: [24 hours] + [24] = region total
    private double _n, _k;

    public float PredictLive(Lead lead, DateTime utcNow)
    {
        var global = Shrink(_k, _n, priorRate, priorWeight);
        if (!perRegionHour || !_regions.TryGetValue(lead.Region, out var r)) return (float)global;
        var cells = _cells[r];
        var (rn, rk) = cells[24];
        var region = Shrink(rk, rn, global, RegionWeight);
        var (n, k) = cells[LocalHour(lead, utcNow)];
        return (float)Shrink(k, n, region, CellWeight);
    }

    /// <summary>A rate of <paramref name="live"/> in <paramref name="attempts"/>, shrunk toward <paramref name="prior"/> by <paramref name="weight"/> pseudo-attempts (a Beta prior).</summary>
    public static double Shrink(double live, double attempts, double prior, double weight) => (live + prior * weight) / (attempts + weight);

    public void Observe(Lead lead, DateTime placedUtc, bool live)
    {
        var y = live ? 1 : 0;
        _n++;
        _k += y;
        if (!perRegionHour) return;
        if (!_regions.TryGetValue(lead.Region, out var r))
        {
            r = _regions[lead.Region] = _cells.Count;
            _cells.Add(new (double, double)[25]);
        }
        var cells = _cells[r];
        var h = LocalHour(lead, placedUtc);
        cells[h] = (cells[h].N + 1, cells[h].K + y);
        cells[24] = (cells[24].N + 1, cells[24].K + y);
    }

    private static int LocalHour(Lead lead, DateTime utc) => TimeZoneInfo.ConvertTimeFromUtc(utc, lead.TimeZone).Hour;
}
