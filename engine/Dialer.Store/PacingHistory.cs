using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Store;

/// <summary>
/// What a campaign's pacing had learned, from the attempts table: its most recent finished attempts, which a starting or
/// taking-over engine learns from (<see cref="DialerEngine.Learn"/>), beside the abandon ledger <see cref="AbandonHistory"/> seeds.
/// </summary>
public static class PacingHistory
{
    /// <summary>About the live-answer calibration's memory (<see cref="Dialer.Core.Pacing.LiveCalibration.MemoryCalls"/>).</summary>
    public const int Calls = 1000;
    /// <summary>Older attempts say little about how the campaign's calls go now.</summary>
    public static readonly TimeSpan Since = TimeSpan.FromDays(1);

    /// <summary>
    /// The last <see cref="Calls"/> attempts of the campaign placed within <see cref="Since"/> and ended by a hang-up (those
    /// closed by reconciliation have no real times), oldest first. A lead carries its region and time zone only, the attempt its
    /// number on the lead (first attempts and retries answer differently, and the engine's rate table tells them apart).
    /// </summary>
    public static IReadOnlyList<PastAttempt> Load(StoreDb db, long campaignId, DateTime utcNow)
    {
        using var c = db.Connect();
        var rows = c.Query<(long Lead, string Region, string Timezone, long Attempt, long Placed, long? Answered, long? Connected, long Ended, string Outcome)>("""
            SELECT a.lead_id, l.region, l.timezone, a.attempt_no, a.placed_at, a.answered_at, a.connected_at, a.ended_at, a.outcome
            FROM attempts a JOIN leads l ON l.id = a.lead_id
            WHERE a.campaign_id = @campaignId AND a.placed_at >= @since AND a.ended_at IS NOT NULL AND a.outcome IS NOT NULL AND a.reconciled = 0
            ORDER BY a.placed_at DESC
            LIMIT @limit
            """, new { campaignId, since = Time.Ms(utcNow - Since), limit = Calls }).ToList();
        var zones = new Dictionary<string, TimeZoneInfo>(StringComparer.Ordinal);
        var history = new List<PastAttempt>(rows.Count);
        for (var i = rows.Count - 1; i >= 0; i--)
        {
            var r = rows[i];
            if (!CallOutcomes.TryParse(r.Outcome, out var outcome)) continue;
            if (!zones.TryGetValue(r.Timezone, out var zone)) zones[r.Timezone] = zone = TimeZoneInfo.FindSystemTimeZoneById(r.Timezone);
            var lead = new Lead { Id = r.Lead, Phone = "", Region = r.Region, TimeZone = zone };
            history.Add(new PastAttempt(lead, Time.FromMs(r.Placed), r.Answered is { } a ? Time.FromMs(a) : null,
                r.Connected is { } k ? Time.FromMs(k) : null, Time.FromMs(r.Ended), outcome, (int)r.Attempt));
        }
        return history;
    }
}
