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
        public long ByCustomer { get; set; }
        public byte[]? PhoneHash { get; set; }
        public long CustomerId { get; set; }
        public long LeadId { get; set; }
        public long PlacedAt { get; set; }
        public string? Outcome { get; set; }
    }

    /// <summary>
    /// For each of <paramref name="leads"/> (id, number hash, customer): attempts placed in [<paramref name="sinceMs"/>,
    /// <paramref name="beforeMs"/>) on its number (by any lead with that number) and on its customer (by any of the customer's
    /// leads), oldest first, and the latest expiry of a refusal in force at <paramref name="beforeMs"/> on any number of the
    /// customer. Read by the keys each attempt carries (migration 281), one index probe per number and per customer.
    /// </summary>
    public static Dictionary<long, LeadContacts> Load(DbConnection c, DbTransaction? tx, SqlDialect dialect,
        IReadOnlyList<(long Id, byte[] PhoneHash, long CustomerId)> leads, long sinceMs, long beforeMs)
    {
        var result = new Dictionary<long, LeadContacts>(leads.Count);
        if (leads.Count == 0) return result;
        var byNumber = new Dictionary<byte[], List<ContactHistory>>(leads.Count, HashKey.Comparer);
        var byCustomer = new Dictionary<long, List<ContactHistory>>(leads.Count);
        foreach (var (id, hash, customer) in leads)
        {
            var contacts = new LeadContacts(new ContactHistory(), new ContactHistory());
            result[id] = contacts;
            Add(byNumber, hash, contacts.Number);
            Add(byCustomer, customer, contacts.Customer!);
        }
        var args = new
        {
            hashes = byNumber.Keys.ToArray(),
            customers = byCustomer.Keys.ToArray(), since = sinceMs, before = beforeMs,
        };
        foreach (var r in c.Query<AttemptRow>($"""
            SELECT 0 AS by_customer, a.phone_hash, 0 AS customer_id, a.lead_id, a.placed_at, a.outcome
            FROM attempts a WHERE {dialect.In("a.phone_hash", "@hashes")} AND a.placed_at >= @since AND a.placed_at < @before
            UNION ALL
            SELECT 1, NULL, a.customer_id, a.lead_id, a.placed_at, a.outcome
            FROM attempts a WHERE {dialect.In("a.customer_id", "@customers")} AND a.placed_at >= @since AND a.placed_at < @before
            ORDER BY placed_at, lead_id
            """, args, tx))
        {
            var outcome = r.Outcome is { } o && CallOutcomes.TryParse(o, out var x) ? x : CallOutcome.None;
            var histories = r.ByCustomer == 1 ? byCustomer[r.CustomerId] : byNumber[r.PhoneHash!];
            foreach (var h in histories) h.Attempts.Add(new(r.LeadId, Time.FromMs(r.PlacedAt), outcome));
        }
        // Each number of the customer (its leads' and customer_phones') looked up among the refusals (index dnc_refusals):
        // a correlated IN list made PostgreSQL scan the whole list once per claim (250 ms with a million entries).
        var inForce = $"d.source = '{Dnc.Refusal}' AND d.added_at < @before AND (d.expires_at IS NULL OR d.expires_at > @before)";
        foreach (var (customer, until) in c.Query<(long Customer, long Until)>($"""
            SELECT o.customer_id, COALESCE(d.expires_at, {long.MaxValue})
            FROM leads o JOIN dnc d ON d.phone_hash = o.phone_hash
            WHERE {dialect.In("o.customer_id", "@customers")} AND {inForce}
            UNION ALL
            SELECT cp.customer_id, COALESCE(d.expires_at, {long.MaxValue})
            FROM customer_phones cp JOIN dnc d ON d.phone_hash = cp.phone_hash
            WHERE {dialect.In("cp.customer_id", "@customers")} AND {inForce}
            """, args, tx))
        {
            var refused = until == long.MaxValue ? DateTime.MaxValue : Time.FromMs(until);
            foreach (var h in byCustomer[customer])
                if (h.RefusedUntil is not { } known || refused > known) h.RefusedUntil = refused;
        }
        return result;
    }

    private static void Add<TKey>(Dictionary<TKey, List<ContactHistory>> by, TKey key, ContactHistory history) where TKey : notnull
    {
        if (!by.TryGetValue(key, out var list)) by[key] = list = [];
        list.Add(history);
    }
}
