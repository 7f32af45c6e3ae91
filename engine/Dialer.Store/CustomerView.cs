using Dapper;
using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Store;

/// <summary>One attempt as the audit trail has it.</summary>
public sealed record AttemptRecord(long Id, int AttemptNo, DateTime PlacedUtc, DateTime? AnsweredUtc, DateTime? EndedUtc, string? Outcome, string? Agent);

/// <summary>One disposition an agent recorded.</summary>
public sealed record DispositionRecord(DateTime AtUtc, string Agent, string Code);

/// <summary>One lead of the customer, in any campaign, with its attempts, dispositions and the hopper's last hold.</summary>
public sealed record CustomerLead(
    long LeadId, string Campaign, string Phone, string State, string? PolicyNo, DateOnly? PolicyExpiry, string? ConsentSource, DateTime? ConsentUtc,
    int Attempts, string? LastOutcome, DateTime DueUtc, string? HeldBy, string? HeldReason, DateTime? HeldUtc,
    IReadOnlyList<AttemptRecord> AttemptHistory, IReadOnlyList<DispositionRecord> Dispositions);

/// <summary>
/// One customer everywhere: every number (masked), the ID number (masked to its last 4), every lead in every campaign
/// with its attempts and dispositions, and the do-not-call lists holding any of the numbers.
/// </summary>
public sealed record CustomerRecord(
    long CustomerId, string? ExternalId, string? Name, string? IdNumber, IReadOnlyList<string> Phones, IReadOnlyList<CustomerLead> Leads,
    IReadOnlyList<DncEntry> Blocks);

/// <summary>
/// Why a lead was (not) called at an instant: the attempt then, or the rule (and profile version) that held it; with
/// <see cref="CustomerCall"/> the other lead of the customer that was being called (or about to be) then.
/// </summary>
public sealed record WhyAnswer(
    long LeadId, string Campaign, DateTime AtUtc, string Profile, bool Called, AttemptRecord? Attempt, bool Allowed, string? Rule, string Reason,
    DateTime? HeldUntilUtc, IReadOnlyList<DncEntry> Blocks, string? LastHold, CustomerCall? CustomerCall);

/// <summary>
/// Another lead of the customer, in any campaign, at the instant asked about: <c>dialing</c> (an attempt of it placed and
/// not yet ended then, from the attempts) or <c>leased</c> (a hopper held it to call next: the lead's lease, known only
/// while it lasts, so inferred for an instant within one lease length before its end).
/// </summary>
public sealed record CustomerCall(long LeadId, string Campaign, string State, DateTime? SinceUtc, DateTime? UntilUtc);

/// <summary>
/// The customer view and the "why was this lead (not) called at this time" answer, from the store's audit trail: the
/// lead, its attempts (with their times and outcomes), the do-not-call lists and the campaign's rules. Phone and ID
/// numbers only masked. Plain queries, for the CLI and the API (one call per question; nothing cached).
/// </summary>
public sealed class CustomerViews(StoreDb db, Pii pii)
{
    private readonly Pii _pii = pii.Bind(db); // the key check, before anything is read

    /// <summary>The customer of <paramref name="leadId"/> (blocks in force at <paramref name="utcNow"/>), or null when there is no such lead.</summary>
    public CustomerRecord? ForLead(long leadId, DateTime utcNow)
    {
        using var c = db.Connect();
        var id = c.QuerySingleOrDefault<long?>("SELECT customer_id FROM leads WHERE id = @leadId", new { leadId });
        return id is null ? null : Load(id.Value, utcNow);
    }

    /// <summary>The customer with the file's <paramref name="externalId"/> (customer_id column), or null.</summary>
    public CustomerRecord? ForExternalId(string externalId, DateTime utcNow)
    {
        using var c = db.Connect();
        var id = c.QuerySingleOrDefault<long?>("SELECT id FROM customers WHERE external_id = @externalId", new { externalId });
        return id is null ? null : Load(id.Value, utcNow);
    }

    private sealed class LeadRow
    {
        public long Id { get; set; }
        public string Campaign { get; set; } = "";
        public byte[] PhoneEnc { get; set; } = [];
        public byte[] PhoneHash { get; set; } = [];
        public long State { get; set; }
        public string? PolicyNo { get; set; }
        public long? PolicyExpiry { get; set; }
        public string? ConsentSource { get; set; }
        public long? ConsentAt { get; set; }
        public long Attempts { get; set; }
        public string? LastOutcome { get; set; }
        public long DueAt { get; set; }
        public string? HeldBy { get; set; }
        public string? HeldReason { get; set; }
        public long? HeldAt { get; set; }
    }

    private static readonly string[] States = ["pending", "dialing", "done"];

    private CustomerRecord Load(long customerId, DateTime utcNow)
    {
        using var c = db.Connect();
        var cu = c.QuerySingle<(string? ExternalId, string? Name, string? IdNumberMasked, byte[] PhoneHash)>(
            "SELECT external_id, name, id_number_masked, phone_hash FROM customers WHERE id = @customerId", new { customerId });
        var leads = c.Query<LeadRow>("""
            SELECT l.id, ca.name AS campaign, l.phone_enc, l.phone_hash, l.state, l.policy_no, l.policy_expiry, l.consent_source, l.consent_at,
                   l.attempts, l.last_outcome, l.due_at, l.held_by, l.held_reason, l.held_at
            FROM leads l JOIN campaigns ca ON ca.id = l.campaign_id WHERE l.customer_id = @customerId ORDER BY l.id
            """, new { customerId }).ToList();
        var others = c.Query<(byte[] PhoneHash, byte[] PhoneEnc)>("SELECT phone_hash, phone_enc FROM customer_phones WHERE customer_id = @customerId", new { customerId }).ToList();
        var phones = new List<string>();
        var hashes = new List<byte[]>();
        foreach (var (hash, enc) in leads.Select(l => (l.PhoneHash, l.PhoneEnc)).Concat(others))
        {
            if (hashes.Any(h => h.AsSpan().SequenceEqual(hash))) continue;
            hashes.Add(hash);
            phones.Add(Pii.Mask(_pii.Decrypt(enc, PiiColumn.Phone, hash)));
        }
        var dnc = new Dnc(db, _pii);
        var blocks = hashes.SelectMany(h => dnc.HoldsHash(h, utcNow)).ToList();
        var views = leads.Select(l => new CustomerLead(
            l.Id, l.Campaign, Pii.Mask(_pii.Decrypt(l.PhoneEnc, PiiColumn.Phone, l.PhoneHash)), States[l.State], l.PolicyNo,
            l.PolicyExpiry is { } e ? Time.FromDay((int)e) : null, l.ConsentSource, l.ConsentAt is { } ca ? Time.FromMs(ca) : null,
            (int)l.Attempts, l.LastOutcome, Time.FromMs(l.DueAt), l.HeldBy, l.HeldReason, l.HeldAt is { } h ? Time.FromMs(h) : null,
            Attempts(c, l.Id), Dispositions(c, l.Id))).ToList();
        return new CustomerRecord(customerId, cu.ExternalId, cu.Name, cu.IdNumberMasked, phones, views, blocks);
    }

    private static List<AttemptRecord> Attempts(System.Data.Common.DbConnection c, long leadId) =>
        c.Query<(long Id, long AttemptNo, long PlacedAt, long? AnsweredAt, long? EndedAt, string? Outcome, string? Agent)>(
                "SELECT id, attempt_no, placed_at, answered_at, ended_at, outcome, agent FROM attempts WHERE lead_id = @leadId ORDER BY placed_at, id", new { leadId })
            .Select(a => new AttemptRecord(a.Id, (int)a.AttemptNo, Time.FromMs(a.PlacedAt), a.AnsweredAt is { } an ? Time.FromMs(an) : null,
                a.EndedAt is { } en ? Time.FromMs(en) : null, a.Outcome, a.Agent)).ToList();

    private static List<DispositionRecord> Dispositions(System.Data.Common.DbConnection c, long leadId) =>
        c.Query<(long CreatedAt, string AgentId, string Code)>("SELECT created_at, agent_id, code FROM dispositions WHERE lead_id = @leadId ORDER BY created_at, id", new { leadId })
            .Select(d => new DispositionRecord(Time.FromMs(d.CreatedAt), d.AgentId, d.Code)).ToList();

    /// <summary>
    /// Why <paramref name="leadId"/> was or was not called at <paramref name="atUtc"/>: the attempt placed within a minute
    /// of it, if any, and what the campaign's rules (with the profile's id and version) said of the lead as it stood
    /// then (its attempts before that instant, the do-not-call lists then), naming the rule that held it. Null when
    /// the lead does not exist.
    /// </summary>
    public WhyAnswer? Why(long leadId, DateTime atUtc)
    {
        using var c = db.Connect();
        var row = c.QuerySingleOrDefault<(long CampaignId, string Region, string Timezone, long? PolicyExpiry, string? ConsentSource, long? ConsentAt,
            byte[] PhoneHash, long State, string? HeldBy, string? HeldReason, long? HeldAt, long CustomerId)>("""
            SELECT campaign_id, region, timezone, policy_expiry, consent_source, consent_at, phone_hash, state, held_by, held_reason, held_at, customer_id
            FROM leads WHERE id = @leadId
            """, new { leadId });
        if (row.Region is null) return null;
        var campaign = new Campaigns(db).Get(row.CampaignId)!;
        var config = campaign.Settings.ToConfig(campaign.Name);
        var tz = TimeZoneInfo.FindSystemTimeZoneById(row.Timezone);
        var attempts = Attempts(c, leadId);
        var called = attempts.FirstOrDefault(a => Math.Abs((a.PlacedUtc - atUtc).TotalSeconds) <= 60);
        // The lead as it stood just before the attempt (or the instant) asked about.
        var asOf = called?.PlacedUtc ?? atUtc;
        var before = attempts.Where(a => a.PlacedUtc < asOf).ToList();
        var localDay = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(asOf, tz));
        var lead = new Lead
        {
            Id = leadId, Phone = "", Region = row.Region, TimeZone = tz, PolicyExpiry = row.PolicyExpiry is { } e ? Time.FromDay((int)e) : null,
            ConsentAt = row.ConsentAt is { } ca ? Time.FromMs(ca) : null, ConsentSource = row.ConsentSource,
            Attempts = before.Count, AttemptsDay = localDay,
            AttemptsToday = before.Count(a => DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(a.PlacedUtc, tz)) == localDay),
        };
        if (DbLeadSource.ContactDays(config) is var days and > 0)
            lead.Contacts = ContactHistories.Load(c, null, db.Dialect, [(leadId, row.PhoneHash, row.CustomerId)], Time.Ms(asOf) - days * 86_400_000L, Time.Ms(asOf))[leadId];
        var customerCall = InCall(c, leadId, row.CustomerId, asOf);
        if (customerCall is not null)
        {
            lead.Contacts ??= new(new ContactHistory(), new ContactHistory());
            lead.Contacts.Customer!.InCall = 1;
        }
        var verdict = ComplianceGate.Check(config, lead, asOf);
        var blocks = new Dnc(db, _pii).HoldsHash(row.PhoneHash, asOf).Where(b => b.AddedUtc <= asOf).ToList();
        var profile = config.Profile is { } p ? $"{p.Id} v{p.Version}" : "none (the campaign's window and caps)";
        var (allowed, rule, reason) = blocks.Count > 0
            ? (false, ComplianceProfile.Rules.DoNotCall, $"on the do-not-call list '{blocks[0].Source}' ({blocks[0].Reason}) since {blocks[0].AddedUtc:yyyy-MM-dd}")
            : (verdict.Allowed, verdict.Rule, verdict.Reason);
        var lastHold = row.HeldBy is null ? null : $"{row.HeldBy} at {Time.FromMs(row.HeldAt ?? 0):yyyy-MM-dd HH:mm:ss}Z: {row.HeldReason}";
        return new WhyAnswer(leadId, campaign.Name, atUtc, profile, called is not null, called, allowed, rule, reason,
            blocks.Count > 0 ? null : verdict.Until, blocks, lastHold, customerCall);
    }

    /// <summary>
    /// The other lead of customer <paramref name="customerId"/> being called at <paramref name="atUtc"/> (an attempt placed by
    /// then and not ended, or still open while its lead dials), else one leased to a hopper then (the claim's customer_in_call
    /// hold, <see cref="ContactHistories.Busy"/>), else null.
    /// </summary>
    private static CustomerCall? InCall(System.Data.Common.DbConnection c, long leadId, long customerId, DateTime atUtc)
    {
        var args = new { leadId, customerId, at = Time.Ms(atUtc), lease = (long)DbLeadSource.DefaultLease.TotalMilliseconds };
        var dialing = c.QueryFirstOrDefault<(long LeadId, string Campaign, long PlacedAt, long? EndedAt)>("""
            SELECT a.lead_id, ca.name, a.placed_at, a.ended_at
            FROM attempts a JOIN leads l ON l.id = a.lead_id JOIN campaigns ca ON ca.id = a.campaign_id
            WHERE a.customer_id = @customerId AND a.lead_id <> @leadId AND a.placed_at <= @at AND (a.ended_at > @at OR (a.ended_at IS NULL AND l.state = 1))
            ORDER BY a.placed_at DESC, a.id DESC LIMIT 1
            """, args);
        if (dialing.Campaign is not null)
            return new(dialing.LeadId, dialing.Campaign, "dialing", Time.FromMs(dialing.PlacedAt), dialing.EndedAt is { } e ? Time.FromMs(e) : null);
        var leased = c.QueryFirstOrDefault<(long LeadId, string Campaign, long LeaseUntil)>("""
            SELECT l.id, ca.name, l.lease_until FROM leads l JOIN campaigns ca ON ca.id = l.campaign_id
            WHERE l.customer_id = @customerId AND l.id <> @leadId AND l.state = 0 AND l.lease_owner IS NOT NULL
              AND l.lease_until >= @at AND l.lease_until - @lease <= @at
            ORDER BY l.id LIMIT 1
            """, args);
        return leased.Campaign is null ? null : new(leased.LeadId, leased.Campaign, "leased", null, Time.FromMs(leased.LeaseUntil));
    }
}
