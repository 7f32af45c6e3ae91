using System.Data.Common;
using Dapper;
using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Store;

/// <summary>
/// What a profile's <c>attempt_caps</c> and whole-customer refusal block read for leads of the store: the attempts on each
/// lead's number and on its customer in every campaign, and the refusal holding any of the customer's numbers. One reader
/// for the hopper's claim (inside its transaction) and the "why" answer (as of the instant asked about).
/// </summary>
internal static class ContactHistories
{
    private sealed class AttemptRow
    {
        public long Asked { get; set; }
        public long ByCustomer { get; set; }
        public long LeadId { get; set; }
        public long PlacedAt { get; set; }
        public string? Outcome { get; set; }
    }

    /// <summary>
    /// For each of <paramref name="leadIds"/>: attempts placed in [<paramref name="sinceMs"/>, <paramref name="beforeMs"/>) on its
    /// number (any lead with the same number's hash) and its customer (any lead of the same customer), oldest first, and
    /// the latest expiry of a refusal in force at <paramref name="beforeMs"/> on any number of the customer.
    /// </summary>
    public static Dictionary<long, LeadContacts> Load(DbConnection c, DbTransaction? tx, SqlDialect dialect, long[] leadIds, long sinceMs, long beforeMs)
    {
        var result = new Dictionary<long, LeadContacts>(leadIds.Length);
        foreach (var id in leadIds) result[id] = new(new ContactHistory(), new ContactHistory());
        if (leadIds.Length == 0) return result;
        var asked = dialect.In("me.id", "@ids");
        var args = new { ids = leadIds, since = sinceMs, before = beforeMs };
        foreach (var r in c.Query<AttemptRow>($"""
            SELECT me.id AS asked, 0 AS by_customer, a.lead_id, a.placed_at, a.outcome
            FROM leads me JOIN leads o ON o.phone_hash = me.phone_hash JOIN attempts a ON a.lead_id = o.id
            WHERE {asked} AND a.placed_at >= @since AND a.placed_at < @before
            UNION ALL
            SELECT me.id, 1, a.lead_id, a.placed_at, a.outcome
            FROM leads me JOIN leads o ON o.customer_id = me.customer_id JOIN attempts a ON a.lead_id = o.id
            WHERE {asked} AND a.placed_at >= @since AND a.placed_at < @before
            ORDER BY placed_at, lead_id
            """, args, tx))
        {
            var contacts = result[r.Asked];
            var outcome = r.Outcome is { } o && CallOutcomes.TryParse(o, out var x) ? x : CallOutcome.None;
            (r.ByCustomer == 1 ? contacts.Customer! : contacts.Number).Attempts.Add(new(r.LeadId, Time.FromMs(r.PlacedAt), outcome));
        }
        // Each number of the customer (its leads' and customer_phones') looked up in dnc by its key: a correlated IN list
        // made PostgreSQL scan the whole list once per claim (250 ms with a million entries).
        var inForce = $"d.source = '{Dnc.Refusal}' AND d.added_at < @before AND (d.expires_at IS NULL OR d.expires_at > @before)";
        foreach (var (id, until) in c.Query<(long Asked, long Until)>($"""
            SELECT asked, MAX(until) FROM (
                SELECT me.id AS asked, COALESCE(d.expires_at, {long.MaxValue}) AS until
                FROM leads me JOIN leads o ON o.customer_id = me.customer_id JOIN dnc d ON d.phone_hash = o.phone_hash
                WHERE {asked} AND {inForce}
                UNION ALL
                SELECT me.id, COALESCE(d.expires_at, {long.MaxValue})
                FROM leads me JOIN customer_phones cp ON cp.customer_id = me.customer_id JOIN dnc d ON d.phone_hash = cp.phone_hash
                WHERE {asked} AND {inForce}) blocks
            GROUP BY asked
            """, args, tx))
            result[id].Customer!.RefusedUntil = until == long.MaxValue ? DateTime.MaxValue : Time.FromMs(until);
        return result;
    }
}
