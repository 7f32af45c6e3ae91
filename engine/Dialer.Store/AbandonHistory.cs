using Dapper;

namespace Dialer.Store;

/// <summary>
/// The legal cap's record per campaign, from the attempts table: live answers and abandons per campaign-local day
/// over the last 30 days. An engine seeds its <see cref="Dialer.Core.Compliance.AbandonLedger"/> from it at start and at
/// takeover, so the budget is the campaign's — continuous across restarts and nodes — not the process's.
/// </summary>
public static class AbandonHistory
{
    private const long QuarterHourMs = 15 * 60 * 1000;

    /// <summary>
    /// Counts are grouped in SQL by quarter hour of the answer (every UTC offset in use is a multiple of 15 minutes, so
    /// a quarter hour never straddles a local midnight) and folded into local days here: at most 2,880 rows for a month.
    /// </summary>
    public static IReadOnlyList<(DateOnly Day, int Live, int Abandoned)> Load(StoreDb db, long campaignId, TimeZoneInfo zone, DateTime utcNow)
    {
        using var c = db.Connect();
        var rows = c.Query<(long Quarter, long Live, long Abandoned)>("""
            SELECT answered_at / @q AS quarter, COUNT(*) AS live, SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned
            FROM attempts
            WHERE campaign_id = @campaignId AND answered_at >= @since AND outcome IN ('human', 'abandoned')
            GROUP BY answered_at / @q
            """, new { q = QuarterHourMs, campaignId, since = Time.Ms(utcNow.AddDays(-31)) });
        return rows
            .GroupBy(r => DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(Time.FromMs(r.Quarter * QuarterHourMs), zone)))
            .Select(g => (g.Key, (int)g.Sum(r => r.Live), (int)g.Sum(r => r.Abandoned)))
            .OrderBy(d => d.Key)
            .ToList();
    }
}
