using Dapper;

namespace Dialer.Store;

/// <summary>A lead as the API shows it: phone and ID number masked, never in clear.</summary>
public sealed record LeadView(
    long Id, string Phone, string Region, string Timezone, string? CustomerId, string? IdNumber, string[] Tags, int Priority,
    DateOnly? PolicyExpiry, string State, int Attempts, string? LastOutcome, DateTime DueAt, DateTime? CallbackAt);

public sealed class LeadQueries(StoreDb db, Pii pii)
{
    private readonly Pii _pii = pii.Bind(db); // the key check, at start
    private static readonly string[] States = ["pending", "dialing", "done"];

    private sealed class Row
    {
        public long Id { get; set; }
        public byte[] PhoneEnc { get; set; } = [];
        public byte[] PhoneHash { get; set; } = [];
        public string Region { get; set; } = "";
        public string Timezone { get; set; } = "";
        public string? ExternalId { get; set; }
        public string? IdNumberMasked { get; set; }
        public string Tags { get; set; } = "";
        public long Priority { get; set; }
        public long? PolicyExpiry { get; set; }
        public long State { get; set; }
        public long Attempts { get; set; }
        public string? LastOutcome { get; set; }
        public long DueAt { get; set; }
        public long? CallbackAt { get; set; }
    }

    /// <summary>Pending leads of a campaign whose due time has come (the hopper's supply before window, DNC and caps).</summary>
    public static long DueNow(StoreDb db, long campaignId, DateTime utcNow)
    {
        using var c = db.Connect();
        return c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE campaign_id = @campaignId AND state = 0 AND due_at <= @now", new { campaignId, now = Time.Ms(utcNow) });
    }

    /// <summary>Parses an API state name; null when it is not one of pending, dialing, done.</summary>
    public static short? ParseState(string name) => Array.IndexOf(States, name) is var i and >= 0 ? (short)i : null;

    /// <summary>Leads of a campaign in id order after <paramref name="afterId"/> (keyset paging).</summary>
    public IReadOnlyList<LeadView> List(long campaignId, short? state, long afterId, int limit)
    {
        using var c = db.Connect();
        return c.Query<Row>("""
            SELECT l.id, l.phone_enc, l.phone_hash, l.region, l.timezone, cu.external_id, cu.id_number_masked, l.tags, l.priority, l.policy_expiry,
                   l.state, l.attempts, l.last_outcome, l.due_at, l.callback_at
            FROM leads l JOIN customers cu ON cu.id = l.customer_id
            WHERE l.campaign_id = @campaignId AND l.id > @afterId AND (@state IS NULL OR l.state = @state)
            ORDER BY l.id LIMIT @limit
            """, new { campaignId, afterId, state, limit }).Select(r => new LeadView(
            r.Id, Pii.Mask(_pii.Decrypt(r.PhoneEnc, PiiColumn.Phone, r.PhoneHash)), r.Region, r.Timezone, r.ExternalId, r.IdNumberMasked,
            r.Tags.Split(';', StringSplitOptions.RemoveEmptyEntries), (int)r.Priority,
            r.PolicyExpiry is { } e ? Time.FromDay((int)e) : null, States[r.State], (int)r.Attempts, r.LastOutcome,
            Time.FromMs(r.DueAt), r.CallbackAt is { } cb ? Time.FromMs(cb) : null)).ToList();
    }
}
