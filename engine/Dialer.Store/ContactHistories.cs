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
        public long Refused { get; set; }
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
        // Both reads in one round trip. Each number of the customer (its leads' and customer_phones') is looked up among the
        // refusals (index dnc_refusals): a correlated IN list made PostgreSQL scan the whole list once per claim (250 ms with
        // a million entries).
        using var reads = c.QueryMultiple(History(dialect) + ";\n" + Refusals(dialect), args, tx);
        foreach (var r in reads.Read<AttemptRow>(buffered: false))
        {
            var outcome = r.Outcome is { } o && CallOutcomes.TryParse(o, out var x) ? x : CallOutcome.None;
            var histories = r.ByCustomer == 1 ? byCustomer[r.CustomerId] : byNumber[r.PhoneHash!];
            foreach (var h in histories) h.Attempts.Add(new(r.LeadId, Time.FromMs(r.PlacedAt), outcome, r.Refused != 0));
        }
        foreach (var (customer, until) in reads.Read<(long Customer, long Until)>(buffered: false))
        {
            var refused = until == long.MaxValue ? DateTime.MaxValue : Time.FromMs(until);
            foreach (var h in byCustomer[customer])
                if (h.RefusedUntil is not { } known || refused > known) h.RefusedUntil = refused;
        }
        // Oldest first, sorted here: the claim's transaction plans with sorting off (DbLeadSource.Claim).
        foreach (var contacts in result.Values)
        {
            contacts.Number.Attempts.Sort(ByPlacement);
            contacts.Customer!.Attempts.Sort(ByPlacement);
        }
        return result;
    }

    /// <summary>
    /// Of the customers of <paramref name="leads"/> (leads this claim has just leased, one per customer), those another lead
    /// of theirs, in any campaign, is being called for (dialing) or is leased to a hopper (about to be): two campaigns never
    /// call one customer at once. On PostgreSQL each customer's advisory lock is taken first, in id order, until the claim's
    /// transaction ends: of two claims taking one customer's leads at once (two campaigns, or two nodes), the second waits
    /// for the first to commit and then, its read coming after the lock, sees the first's lease. SQLite has one writer at a time.
    /// </summary>
    public static HashSet<long> Busy(DbConnection c, DbTransaction tx, SqlDialect dialect, IReadOnlyList<(long Lead, long Customer)> leads, long nowMs)
    {
        if (leads.Count == 0) return [];
        var customers = leads.Select(l => l.Customer).Distinct().Order().ToArray();
        var args = new { customers, leadIds = leads.Select(l => l.Lead).ToArray(), now = nowMs };
        var busy = $"""
            SELECT o.customer_id FROM {Keyed(dialect, "leads o", "o.customer_id", "@customers", "o.customer_id, o.id", "(o.state = 1 OR (o.state = 0 AND o.lease_until >= @now))")}
            WHERE NOT ({dialect.In("o.id", "@leadIds")})
            """;
        if (dialect.Name != "postgres") return c.Query<long>(busy, args, tx).ToHashSet();
        // The busy read is a statement of its own after the locks' (its own snapshot, taken once they are held); one round trip.
        using var reads = c.QueryMultiple("SELECT pg_advisory_xact_lock(k) FROM unnest(@customers) k;\n" + busy, args, tx);
        reads.Read();
        return reads.Read<long>().ToHashSet();
    }

    /// <summary>The latest expiry (long.MaxValue: for good) of each refusal in force at @before on a number of the batch's customers (their leads' and customer_phones').</summary>
    private static string Refusals(SqlDialect dialect)
    {
        var inForce = $"d.source = '{Dnc.Refusal}' AND d.added_at < @before AND (d.expires_at IS NULL OR d.expires_at > @before)";
        return $"""
            SELECT o.customer_id, COALESCE(d.expires_at, {long.MaxValue})
            FROM {Keyed(dialect, "leads o", "o.customer_id", "@customers", "o.customer_id, o.phone_hash")} JOIN dnc d ON d.phone_hash = o.phone_hash
            WHERE {inForce}
            UNION ALL
            SELECT o.customer_id, COALESCE(d.expires_at, {long.MaxValue})
            FROM {Keyed(dialect, "customer_phones o", "o.customer_id", "@customers", "o.customer_id, o.phone_hash")} JOIN dnc d ON d.phone_hash = o.phone_hash
            WHERE {inForce}
            """;
    }

    private static readonly Comparison<Contact> ByPlacement = (a, b) => a.PlacedUtc != b.PlacedUtc ? a.PlacedUtc.CompareTo(b.PlacedUtc) : a.LeadId.CompareTo(b.LeadId);

    /// <summary>The attempts on the batch's numbers, then on its customers, in [@since, @before).</summary>
    private static string History(SqlDialect dialect)
    {
        const string range = "a.placed_at >= @since AND a.placed_at < @before";
        return $"""
            SELECT 0 AS by_customer, a.phone_hash, 0 AS customer_id, a.lead_id, a.placed_at, a.outcome, a.refused
            FROM {Keyed(dialect, "attempts a", "a.phone_hash", "@hashes", "a.phone_hash, a.lead_id, a.placed_at, a.outcome, a.refused", range)}
            UNION ALL
            SELECT 1, NULL, a.customer_id, a.lead_id, a.placed_at, a.outcome, a.refused
            FROM {Keyed(dialect, "attempts a", "a.customer_id", "@customers", "a.customer_id, a.lead_id, a.placed_at, a.outcome, a.refused", range)}
            """;
    }

    /// <summary>
    /// <paramref name="columns"/> of the rows of <paramref name="table"/> (<c>name alias</c>) whose <paramref name="key"/> is in
    /// <paramref name="list"/> and that meet <paramref name="where"/>, as a derived table of that alias. On PostgreSQL one
    /// index probe per key, forced: a lateral subquery behind OFFSET 0 is never flattened into a join. As <c>= ANY(list)</c>,
    /// with no statistics yet on a table just loaded, PostgreSQL took 500 keys to match 92% of it: the claim's history read
    /// walked the whole placed_at range of attempts_placed instead (72 ms per claim over 60,000 attempts, 4 ms by key), the
    /// refusal read scanned every lead.
    /// </summary>
    private static string Keyed(SqlDialect dialect, string table, string key, string list, string columns, string? where = null)
    {
        var alias = table[(table.IndexOf(' ') + 1)..];
        var and = where is null ? "" : " AND " + where;
        return dialect.Name == "postgres"
            ? $"unnest({list}) k (v) CROSS JOIN LATERAL (SELECT {columns} FROM {table} WHERE {key} = k.v{and} OFFSET 0) {alias}"
            : $"(SELECT {columns} FROM {table} WHERE {dialect.In(key, list)}{and}) {alias}";
    }

    private static void Add<TKey>(Dictionary<TKey, List<ContactHistory>> by, TKey key, ContactHistory history) where TKey : notnull
    {
        if (!by.TryGetValue(key, out var list)) by[key] = list = [];
        list.Add(history);
    }
}
