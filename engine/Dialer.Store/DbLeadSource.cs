using Dapper;
using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Routing;

namespace Dialer.Store;

/// <summary>
/// The hopper on the database, following <see cref="MemoryHopper"/>'s rules: callbacks due first, then
/// priority, then the policy expiring soonest, retries at the best hour when a predictor is given; never a
/// number on DNC, over its attempt caps, in retry back-off or outside its local calling window. Leads are claimed in batches under a lease (with
/// <c>FOR UPDATE SKIP LOCKED</c> on PostgreSQL), so several engine nodes share a campaign without two of
/// them holding the same lead; a lease that runs out (a node died) hands its leads back.
/// Called from the engine loop only, like every <see cref="ILeadSource"/>.
/// </summary>
public sealed class DbLeadSource : ILeadSource
{
    private readonly StoreDb _db;
    private readonly Pii _pii;
    private readonly long _campaignId;
    private readonly CampaignConfig _config;
    private readonly Stack<Lead> _buffer = new();
    private readonly List<Hold> _deferred = [];
    // Next(accept)'s working sets, kept so that a call allocates nothing once they have grown.
    private readonly List<Lead> _passed = [];
    private readonly LeadOrder _order;
    private readonly int _contactDays;
    private readonly HashSet<(ulong Rules, bool Preview)> _passOver = [];
    private long _leaseUntil = long.MaxValue;
    // After a claim found nothing due: no claim before this (ms), unless a write of this node makes a lead due sooner.
    private long _nothingDueBefore = long.MinValue;
    private long? _statusReadAt;
    private bool _running;
    // Leads handed out (net of those given back) in the minute now counting and in the last full one: the claim's size.
    private long _minuteStart;
    private int _thisMinute, _lastMinute;

    public DbLeadSource(StoreDb db, Pii pii, long campaignId, CampaignConfig config, string owner)
    {
        _db = db;
        _pii = pii.Bind(db); // the key check, before a lead is claimed
        _campaignId = campaignId;
        _config = config;
        _order = new LeadOrder(config);
        _contactDays = ContactDays(config);
        Owner = owner;
    }

    /// <summary>How many days of history a claim reads for the profile's attempt caps and whole-customer refusal block (0: none); a day more than the longest span, as lead-local days do not start at UTC midnight.</summary>
    internal static int ContactDays(CampaignConfig config) => config.Profile is not { } p ? 0
        : p.AttemptCaps is { } caps ? caps.LongestDays() + 1 : p.RefusalBlock is { WholeCustomer: true } ? 1 : 0;

    /// <summary>This node's name on the leases it takes (the same name as its <see cref="DbAttemptLog"/>, whose reconciliation frees them).</summary>
    public string Owner { get; }
    /// <summary>The most leads one claim takes; a claim asks for about the last minute's placements (<see cref="MinBatch"/> at least).</summary>
    public int BatchSize { get; init; } = 500;
    public int MinBatch { get; init; } = 8;
    /// <summary>
    /// With nothing due, the next claim waits for the next lead's due time, or this long at most (leads that come due by
    /// others: an import, another node's lease running out). The engine asks every second; without the wait each ask was a
    /// claim, and the outbox's refill asks every 100 ms.
    /// </summary>
    public TimeSpan IdleRecheck { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>A claimed lead's lease: short, and renewed while the lead is buffered here: a dead node's leads come back within it.</summary>
    public static readonly TimeSpan DefaultLease = TimeSpan.FromMinutes(2);
    public TimeSpan Lease { get; init; } = DefaultLease;
    /// <summary>What the next claim asks for: about a minute of placements at the pace of the last minute.</summary>
    public int NextBatch => Math.Clamp(Math.Max(_lastMinute, _thisMinute), Math.Min(MinBatch, BatchSize), BatchSize);
    /// <summary>Sets each claimed lead's skill requirement from the campaign's routing rules (tags computed on import feed them).</summary>
    public RoutingRules? Routing { get; init; }
    /// <summary>When given, retries go to each lead's best hour by this predictor (<see cref="Retry.Next"/>), as in <see cref="MemoryHopper"/>.</summary>
    public IAnswerPredictor? BestTime { get; init; }
    /// <summary>The owner's fencing token, checked inside every claim and lead change (none: a node without ownership leases).</summary>
    public CampaignFence? Fence { get; init; }
    /// <summary>Leads handed out (for stats).</summary>
    public long Claimed { get; private set; }

    public Lead? Next(DateTime utcNow) => Ready(utcNow) ? Take(utcNow, passOver: null) : null;

    /// <summary>
    /// The one rule of lead order (<see cref="LeadOrder"/>, as <see cref="MemoryHopper"/> and the outbox's prefetch): a queue whose
    /// best lead <paramref name="accept"/> refuses is refused whole for this call, its other leads passed over unasked and uncounted.
    /// A claim made meanwhile leaves the refused rule matches in the table: without that, a head of the order bound to a few
    /// senior agents filled every claim and no other lead was ever reached (skill-pools: 328 calls all day).
    /// </summary>
    public Lead? Next(DateTime utcNow, Func<Lead, bool> accept, int lookahead = 64)
    {
        if (!Ready(utcNow)) return null;
        Lead? found = null;
        _order.Begin(accept, lookahead);
        while (_order.Open)
        {
            var lead = Take(utcNow, _passOver);
            if (lead is null) break;
            if (_order.Offer(lead)) { found = lead; break; }
            _passOver.Add((Routing?.MatchMask(lead) ?? 0, _config.PreviewTag is { } tag && lead.HasTag(tag)));
            _passed.Add(lead);
        }
        // Best last: the stack pops them first again, in their order.
        for (var i = _passed.Count - 1; i >= 0; i--) Release(_passed[i], utcNow);
        _passed.Clear();
        _passOver.Clear();
        return found;
    }

    private bool Ready(DateTime utcNow)
    {
        var now = Time.Ms(utcNow);
        if (!Running(now)) return false;
        // A buffered lead is ours only while the lease holds: renewed once a quarter of it is gone, so a lead handed out has
        // three quarters of a lease left (90 s), more than the outbox keeps it before handing it back (StoreOutbox.Cycle, 60 s).
        if (_buffer.Count > 0 && now > _leaseUntil - (long)Lease.TotalMilliseconds * 3 / 4) Renew(now);
        return true;
    }

    /// <param name="passOver">Rule matches (<see cref="RoutingRules.MatchMask"/>) a claim leaves in the table.</param>
    private Lead? Take(DateTime utcNow, IReadOnlySet<(ulong Rules, bool Preview)>? passOver)
    {
        while (true)
        {
            if (_buffer.Count == 0)
            {
                if (Time.Ms(utcNow) < _nothingDueBefore || !Claim(utcNow, dueOnly: false, passOver)) { FlushDeferred(); return null; }
                continue; // a claim of leads all on a do-not-call list buffers none
            }
            if (AdmitTop(utcNow) is { } lead) return lead;
        }
    }

    /// <summary>
    /// Due retries and callbacks, claimed apart from the buffer of fresh leads (at most one claim's worth): the outbox puts
    /// them ahead of its prefetch (StoreOutbox.Due), so a retry is never held behind fresh leads claimed before it was due.
    /// </summary>
    public IReadOnlyList<Lead> ClaimDue(DateTime utcNow)
    {
        if (!Running(Time.Ms(utcNow))) return [];
        var kept = _buffer.Count;
        if (!Claim(utcNow, dueOnly: true, passOver: null)) return [];
        var due = new List<Lead>(_buffer.Count - kept);
        try
        {
            while (_buffer.Count > kept)
                if (AdmitTop(utcNow) is { } lead) due.Add(lead);
            FlushDeferred();
        }
        catch
        {
            // The deferred write failed: the due leads taken so far go back on the buffer, never lost with the list.
            for (var i = due.Count - 1; i >= 0; i--) Release(due[i], utcNow);
            throw;
        }
        return due;
    }

    /// <summary>
    /// The buffer's top lead if its calling window and daily cap let it be dialed now; else it is deferred (null). It leaves
    /// the buffer only after the deferred leads are written: a failed write leaves it there, not lost.
    /// </summary>
    private Lead? AdmitTop(DateTime utcNow)
    {
        var lead = _buffer.Peek();
        if (ComplianceGate.Check(_config, lead, utcNow) is { Allowed: false } held)
        {
            Defer(_buffer.Pop().Id, held, utcNow);
            return null;
        }
        FlushDeferred();
        _buffer.Pop();
        lead.AttemptsToday++;
        Claimed++;
        Count(Time.Ms(utcNow), 1);
        return lead;
    }

    /// <summary>A lead no time opens (no consent yet) is looked at again in a day: a re-import may bring its consent.</summary>
    private void Defer(long id, Verdict held, DateTime utcNow) => _deferred.Add(Held(id, held, utcNow));

    private static Hold Held(long id, Verdict held, DateTime utcNow) => new(id, Time.Ms(held.Until ?? utcNow.AddDays(1)), held.Rule!, held.Reason, Time.Ms(utcNow));

    /// <summary>A lead held back: out of the claim's walk until <see cref="DueAt"/> (ms), with the rule that held it.</summary>
    private readonly record struct Hold(long Id, long DueAt, string Rule, string Reason, long At);

    public void Release(Lead lead, DateTime utcNow)
    {
        lead.AttemptsToday--;
        Claimed--;
        Count(Time.Ms(utcNow), -1);
        _buffer.Push(lead);
    }

    /// <summary>Not dialed (preview: skipped, or a callback asked for): due again at <paramref name="dueUtc"/>; a callback goes first in the claim order.</summary>
    public void Reschedule(Lead lead, DateTime dueUtc, bool callback, DateTime utcNow)
    {
        lead.AttemptsToday--;
        Claimed--; // the claim's size still counts it: an offer used it up, as a placement would
        _db.Send(Fence, new Statement("""
            UPDATE leads SET state = 0, due_at = @due, held_until = @heldUntil, callback_at = @callbackAt, attempts_today = @AttemptsToday, lease_owner = NULL, lease_until = NULL
            WHERE id = @Id
            """, new { due = Time.Ms(dueUtc), heldUntil = HeldUntil(Time.Ms(dueUtc), utcNow), callbackAt = callback ? Time.Ms(dueUtc) : (long?)null, lead.AttemptsToday, lead.Id }));
        DueAt(Time.Ms(dueUtc));
    }

    /// <summary>A lead due later (a retry's back-off, a callback) waits out of the claim's walk (leads_held) until then.</summary>
    private static long? HeldUntil(long dueMs, DateTime utcNow) => dueMs > Time.Ms(utcNow) ? dueMs : null;

    private void Count(long now, int n)
    {
        if (now - _minuteStart >= 60_000)
        {
            _lastMinute = now - _minuteStart < 120_000 ? _thisMinute : 0;
            _thisMinute = 0;
            _minuteStart = now;
        }
        _thisMinute = Math.Max(0, _thisMinute + n);
    }

    public void Finished(Lead lead, CallOutcome outcome, DateTime utcNow)
    {
        var next = Retry.Next(_config, lead, outcome, utcNow, BestTime);
        _db.Send(Fence, new Statement("""
            UPDATE leads SET state = @state, due_at = @due, held_until = @heldUntil, callback_at = NULL, last_outcome = @outcome,
                             attempts = @Attempts, attempts_today = @AttemptsToday, attempts_day = @day, lease_owner = NULL, lease_until = NULL
            WHERE id = @Id
            """, new
        {
            state = next is null ? LeadState.Done : LeadState.Pending, due = Time.Ms(next ?? utcNow), heldUntil = next is { } n ? HeldUntil(Time.Ms(n), utcNow) : null,
            outcome = outcome.ToCsv(), lead.Attempts, lead.AttemptsToday, day = Time.Day(lead.AttemptsDay), lead.Id,
        }));
        if (next is { } due) DueAt(Time.Ms(due));
    }

    /// <summary>
    /// Leads go out only while the campaign's status is running (the API starts, pauses and stops it);
    /// read at most once a second. On pause the buffered leases are handed back at once.
    /// </summary>
    private bool Running(long now)
    {
        if (_statusReadAt is { } t && now >= t && now - t < 1000) return _running;
        _statusReadAt = now;
        using (var c = _db.Connect())
            _running = c.ExecuteScalar<string>("SELECT status FROM campaigns WHERE id = @_campaignId", new { _campaignId }) == "running";
        if (!_running) ReleaseLeases();
        return _running;
    }

    /// <summary>Whether the campaign's status lets leads go out now (read at most once a second); not running, the buffered leases are handed back.</summary>
    public bool IsRunning(DateTime utcNow) => Running(Time.Ms(utcNow));

    /// <summary>Hands back the leases on the leads buffered here (at pause); when the write fails they stay buffered, so a second call hands them back.</summary>
    private void ReleaseLeases()
    {
        FlushDeferred();
        if (_buffer.Count == 0) return;
        var ids = _buffer.Select(l => new { l.Id, Owner }).ToList();
        // Written before the buffer forgets them: a write that fails (a connection killed by a restart) leaves them here
        // for the caller's retry, instead of leased to nobody until the lease runs out.
        _db.Write(Fence, (c, tx) => c.Execute("UPDATE leads SET lease_owner = NULL, lease_until = NULL WHERE id = @Id AND lease_owner = @Owner", ids, tx));
        _buffer.Clear();
        _leaseUntil = long.MaxValue;
        _nothingDueBefore = long.MinValue; // the leads handed back are due
    }

    /// <summary>
    /// At stop, once nothing of this node is in flight (the loop has returned, the outbox has written what it could and handed
    /// its prefetch back): every lead of the campaign leased to this node goes back, found by its name on the lease, not by
    /// the buffer, so a lead this node took and no longer knows (a claim that committed while its reply died with a killed
    /// connection) is not left leased until the lease runs out. A lead in a call is not leased (<see cref="DbAttemptLog.Placed"/>
    /// cleared it), so none is touched. A failed write (a killed connection) keeps the buffer for the caller's retry.
    /// </summary>
    public void ReleaseAllLeases()
    {
        FlushDeferred();
        _db.Write(Fence, (c, tx) => c.Execute("UPDATE leads SET lease_owner = NULL, lease_until = NULL WHERE campaign_id = @_campaignId AND lease_owner = @Owner AND state = 0",
            new { _campaignId, Owner }, tx));
        _buffer.Clear();
        _leaseUntil = long.MaxValue;
        _nothingDueBefore = long.MinValue;
    }

    /// <summary>Extends the lease on the buffered leads; any this node no longer holds (it ran out and another took it) leave the buffer.</summary>
    private void Renew(long now)
    {
        var until = now + (long)Lease.TotalMilliseconds;
        var ids = _buffer.Select(l => l.Id).ToList();
        var kept = _db.Write(Fence, (c, tx) => c.Query<long>(
            $"UPDATE leads SET lease_until = @until WHERE {_db.Dialect.In("id", "@ids")} AND lease_owner = @Owner AND state = 0 RETURNING id",
            new { until, ids, Owner }, tx).ToHashSet());
        var leads = _buffer.Where(l => kept.Contains(l.Id)).Reverse().ToList(); // the stack enumerates top first
        _buffer.Clear();
        foreach (var l in leads) _buffer.Push(l);
        _leaseUntil = until;
    }

    private sealed class ClaimRow
    {
        public long Id { get; set; }
        public long CustomerId { get; set; }
        public byte[] PhoneEnc { get; set; } = [];
        public byte[] PhoneHash { get; set; } = [];
        public string Region { get; set; } = "";
        public string Timezone { get; set; } = "";
        public string? ExternalId { get; set; }
        public string Tags { get; set; } = "";
        public long Priority { get; set; }
        public long? PolicyExpiry { get; set; }
        public long CreatedAt { get; set; }
        public long DueAt { get; set; }
        public long? CallbackAt { get; set; }
        public long Attempts { get; set; }
        public long AttemptsToday { get; set; }
        public long AttemptsDay { get; set; }
        public long? LastAttemptAt { get; set; }
        public string? LastOutcome { get; set; }
        public string? ConsentSource { get; set; }
        public long? ConsentAt { get; set; }
        /// <summary>The claim's do-not-call lookup: the latest expiry among the lists holding the number (long.MaxValue: for good); null: on none.</summary>
        public long? DncUntil { get; set; }
    }

    /// <param name="dueOnly">Only leads dialed before (a retry whose delay is over) or with a callback: see <see cref="ClaimDue"/>.</param>
    /// <param name="passOver">Rule matches whose leads stay in the table (their requirement was refused).</param>
    private bool Claim(DateTime utcNow, bool dueOnly, IReadOnlySet<(ulong Rules, bool Preview)>? passOver)
    {
        var now = Time.Ms(utcNow);
        var until = now + (long)Lease.TotalMilliseconds;
        var batch = NextBatch;
        var args = new DynamicParameters(new { Owner, until, _campaignId, now, max = _config.MaxAttempts, batch });
        var skip = PassOver(passOver, args);
        var (claimed, ready) = _db.Write(Fence, (c, tx) =>
        {
            // The claim's cost estimate (a walk of the campaign's pending leads) is above PostgreSQL's JIT threshold: compiling
            // the plan took ~250 ms of every claim, more than running it; parallel workers for the history read took ~65 ms to
            // start on a busy machine, for a read of 15 ms. Sorting is off for the whole transaction (none of its reads needs
            // one): after an import, with no statistics yet on held_until, PostgreSQL took the leads_due range instead of
            // walking leads_claim and sorted every due lead for each claim (76,154 rows, 250-345 ms a claim).
            // Leads whose hold is over come back into the claim's walk first (index leads_held: none to free costs one probe),
            // in the same round trip.
            var free = "UPDATE leads SET held_until = NULL WHERE campaign_id = @_campaignId AND held_until <= @now";
            c.Execute(_db.Dialect.Name == "postgres" ? "SET LOCAL jit = off; SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL enable_sort = off;\n" + free : free,
                new { _campaignId, now }, tx);
            // The claim walks leads_claim in dialing order: a lead due later is held out of it (held_until), so the walk meets
            // almost only due leads. DNC is looked up per lead by its key, as a scalar subquery: PostgreSQL plans NOT EXISTS as
            // an anti join and, taking the leads' numbers to be among a list with more distinct numbers, expected none to pass
            // and hashed the whole list for every claim (2.5 s a claim with a million entries and 200,000 leads due). A lead
            // found on a list is claimed and held out of the walk, instead of being stepped over and looked up again by every claim.
            var sql = $"""
            UPDATE leads SET lease_owner = @Owner, lease_until = @until
            WHERE id IN (
                SELECT id FROM leads l
                WHERE l.campaign_id = @_campaignId AND l.state = 0 AND l.held_until IS NULL AND l.due_at <= @now
                  AND (l.lease_until IS NULL OR l.lease_until < @now)
                  AND l.attempts < @max{(dueOnly ? " AND (l.attempts > 0 OR l.callback_at IS NOT NULL)" : "")}{skip}
                ORDER BY (l.callback_at IS NULL), l.priority DESC, l.policy_expiry ASC NULLS LAST, l.id
                LIMIT @batch{_db.Dialect.SkipLocked})
            RETURNING {LeadColumns},
                (SELECT MAX(COALESCE(d.expires_at, {long.MaxValue})) FROM dnc d WHERE d.phone_hash = leads.phone_hash AND (d.expires_at IS NULL OR d.expires_at > @now)) AS dnc_until
            """;
            var rows = c.Query<ClaimRow>(sql, args, tx).ToList();
            var holds = new List<Hold>();
            var listed = rows.Where(r => r.DncUntil is not null).ToList();
            // Looked at again when the list lets it go, or in a day (a list removed or re-imported meanwhile); Dnc.Remove frees it at once.
            foreach (var r in listed) holds.Add(new(r.Id, Math.Min(r.DncUntil!.Value, now + 86_400_000L), ComplianceProfile.Rules.DoNotCall, "the number is on a do-not-call list", now));
            var callable = rows.Where(r => r.DncUntil is null).ToList();
            // A customer another lead of theirs is being called for (any campaign, any node) is not called at once by this one.
            var busy = ContactHistories.Busy(c, tx, _db.Dialect, callable.Select(r => (r.Id, r.CustomerId)).ToList(), now);
            foreach (var r in callable.Where(r => busy.Contains(r.CustomerId))) holds.Add(Held(r.Id, ComplianceGate.CustomerInCall(utcNow), utcNow));
            callable.RemoveAll(r => busy.Contains(r.CustomerId));
            // RETURNING order is unspecified: sorted so the stack pops the best lead first.
            callable.Sort((a, b) => Rank(b).CompareTo(Rank(a)));
            // The caps count the attempts of every campaign on these numbers and customers, read in the claim's transaction.
            var contacts = _contactDays > 0 && callable.Count > 0
                ? ContactHistories.Load(c, tx, _db.Dialect, callable.Select(r => (r.Id, r.PhoneHash, r.CustomerId)).ToList(), now - _contactDays * 86_400_000L, now + 1)
                : null;
            // Judged here too (AdmitTop judges again when it hands the lead out): the claim's holds are written in its own
            // transaction, in one statement per hold, not in a transaction of their own nor one write per held lead.
            var ready = new List<Lead>(callable.Count);
            foreach (var r in callable)
            {
                var lead = ToLead(r);
                lead.Contacts = contacts?[r.Id];
                if (ComplianceGate.Check(_config, lead, utcNow) is { Allowed: false } held) holds.Add(Held(r.Id, held, utcNow));
                else ready.Add(lead);
            }
            WriteHolds(c, tx, holds);
            return (rows.Count, ready);
        });
        if (claimed == 0)
        {
            // Nothing due at all (a claim passing refused queues over says nothing of those): wait for the next due lead.
            if (!dueOnly && passOver is not { Count: > 0 }) _nothingDueBefore = Math.Min(NextDue(now) ?? long.MaxValue, now + (long)IdleRecheck.TotalMilliseconds);
            return false;
        }
        // The buffer's oldest lease decides when to renew; due leads go out at once with a whole lease.
        if (!dueOnly && ready.Count > 0) _leaseUntil = _buffer.Count == 0 ? until : Math.Min(_leaseUntil, until);
        foreach (var lead in ready) _buffer.Push(lead);
        return true;
    }

    private LeadStock _stock = LeadStock.Unknown;
    private DateTime _stockAt = DateTime.MinValue;

    /// <summary>
    /// The campaign's pending leads that may be dialed within <see cref="LeadStock.HorizonDays"/>, counted by the rules as the in-memory
    /// hopper counts its own (<see cref="LeadStockTally"/>), read from the table at most every <see cref="LeadStock.RecountSeconds"/>:
    /// the columns the rules look at, no number decrypted. Leased leads count (any node's: they are pending), leads in a call do
    /// not. Numbers on a do-not-call list count until a claim holds them, and other campaigns' attempts on a number are not read
    /// (the claim's lookups), so the stock may read a little deep: the rule it feeds then dials ahead a little sooner, as before it.
    /// Called from the engine loop, like the claims; the outbox asks from its worker (<c>StoreOutbox.Stock</c>).
    /// </summary>
    public LeadStock Stock(DateTime utcNow)
    {
        if (!LeadStock.Stale(_stockAt, utcNow)) return _stock;
        var tally = new LeadStockTally(_config, utcNow);
        using (var c = _db.Connect())
            foreach (var r in c.Query<ClaimRow>("""
                SELECT id, region, timezone, policy_expiry, due_at, attempts, attempts_today, attempts_day, consent_at FROM leads
                WHERE campaign_id = @_campaignId AND state = 0 AND attempts < @max AND due_at <= @until
                """, new { _campaignId, max = _config.MaxAttempts, until = Time.Ms(utcNow.AddDays(LeadStock.HorizonDays)) }, buffered: false))
                tally.Add(FromRow(r, phone: ""), Time.FromMs(r.DueAt));
        _stockAt = utcNow;
        return _stock = tally.Stock;
    }

    /// <summary>When the campaign's next pending lead comes due after <paramref name="now"/> (ms), if any (index leads_due).</summary>
    private long? NextDue(long now)
    {
        using var c = _db.Connect();
        return c.ExecuteScalar<long?>("SELECT MIN(due_at) FROM leads WHERE campaign_id = @_campaignId AND state = 0 AND due_at > @now", new { _campaignId, now });
    }

    /// <summary>A write of this node made a lead due at <paramref name="dueMs"/>: the next claim may not wait past it.</summary>
    private void DueAt(long dueMs) => _nothingDueBefore = Math.Min(_nothingDueBefore, dueMs);

    /// <summary>
    /// The claim's filter leaving out the leads whose rule matches and preview tag (their queue, <see cref="CampaignConfig.QueueOf"/>)
    /// are in <paramref name="passOver"/>: each rule as SQL on region and the <c>;</c>-joined tags, one '0'/'1' per rule in
    /// <see cref="RoutingRules.MatchMask"/>'s order, then one for the preview tag; the values go as parameters.
    /// </summary>
    private string PassOver(IReadOnlySet<(ulong Rules, bool Preview)>? passOver, DynamicParameters args)
    {
        if (passOver is not { Count: > 0 }) return "";
        var rules = Routing?.Rules ?? [];
        var match = new List<string>(rules.Count + 1);
        string HasTag(string name, string tag)
        {
            args.Add(name, $";{tag};");
            return _db.Dialect.Contains("(';' || l.tags || ';')", "@" + name);
        }
        for (var i = 0; i < rules.Count; i++)
        {
            var terms = new List<string>(2);
            if (rules[i].Tag is { } tag) terms.Add(HasTag($"rule{i}_tag", tag));
            if (rules[i].Region is { } region)
            {
                args.Add($"rule{i}_region", region);
                terms.Add($"l.region = @rule{i}_region");
            }
            match.Add(terms.Count == 0 ? "'1'" : $"CASE WHEN {string.Join(" AND ", terms)} THEN '1' ELSE '0' END");
        }
        if (_config.PreviewTag is { } preview) match.Add($"CASE WHEN {HasTag("preview_tag", preview)} THEN '1' ELSE '0' END");
        // No rule and no preview tag: every lead is of the one queue, and it was refused.
        if (match.Count == 0) return " AND 1 = 0";
        var masks = passOver.Select(m => "'" + string.Concat(Enumerable.Range(0, rules.Count).Select(i => (m.Rules >> i & 1) == 1 ? '1' : '0'))
                                        + (_config.PreviewTag is null ? "" : m.Preview ? "1" : "0") + "'");
        return $" AND ({string.Join(" || ", match)}) NOT IN ({string.Join(", ", masks)})";
    }

    private const string LeadColumns = """
        id, customer_id, phone_enc, phone_hash, region, timezone, tags, priority, policy_expiry, created_at, callback_at,
        attempts, attempts_today, attempts_day, last_attempt_at, last_outcome, consent_source, consent_at,
        (SELECT external_id FROM customers cu WHERE cu.id = leads.customer_id) AS external_id
        """;

    /// <summary>
    /// Leads of this campaign by id, as the engine holds them (recovery: the lead of a call a dead process left up, which the
    /// engine adopts and closes). Not leased: such a lead is "dialing" until its call is finished. Unknown ids are left out.
    /// </summary>
    public IReadOnlyDictionary<long, Lead> Load(IReadOnlyCollection<long> ids)
    {
        if (ids.Count == 0) return new Dictionary<long, Lead>();
        using var c = _db.Connect();
        return c.Query<ClaimRow>($"SELECT {LeadColumns} FROM leads WHERE campaign_id = @_campaignId AND {_db.Dialect.In("id", "@ids")}",
            new { _campaignId, ids = ids.ToArray() }).Select(ToLead).ToDictionary(l => l.Id);
    }

    private static (int, long, long, long) Rank(ClaimRow r) =>
        (r.CallbackAt is null ? 1 : 0, -r.Priority, r.PolicyExpiry ?? long.MaxValue, r.Id);

    private Lead ToLead(ClaimRow r)
    {
        var lead = FromRow(r, _pii.Decrypt(r.PhoneEnc, PiiColumn.Phone, r.PhoneHash));
        Routing?.Apply(lead);
        return lead;
    }

    private static Lead FromRow(ClaimRow r, string phone) => new()
    {
        Id = r.Id, Phone = phone, Region = r.Region, TimeZone = TimeZoneInfo.FindSystemTimeZoneById(r.Timezone),
        CustomerId = r.ExternalId, Tags = r.Tags.Split(';', StringSplitOptions.RemoveEmptyEntries), Priority = (int)r.Priority,
        PolicyExpiry = r.PolicyExpiry is { } e ? Time.FromDay((int)e) : null, CreatedAt = Time.FromMs(r.CreatedAt),
        Attempts = (int)r.Attempts, AttemptsToday = (int)r.AttemptsToday, AttemptsDay = r.AttemptsDay == 0 ? default : Time.FromDay((int)r.AttemptsDay),
        LastAttemptAt = r.LastAttemptAt is { } la ? Time.FromMs(la) : null,
        LastOutcome = r.LastOutcome is { } o && CallOutcomes.TryParse(o, out var oc) ? oc : CallOutcome.None,
        ConsentAt = r.ConsentAt is { } ca ? Time.FromMs(ca) : null, ConsentSource = r.ConsentSource,
    };

    /// <summary>Leads held back (window, caps, do-not-call) go back to the table with the time they may next be dialed, out of the claim's walk until then.</summary>
    private void FlushDeferred()
    {
        if (_deferred.Count == 0) return;
        _db.Write(Fence, (c, tx) => WriteHolds(c, tx, _deferred));
        _deferred.Clear();
    }

    /// <summary>
    /// The rule that held each lead is kept with it: the "why (not) called" answer names it. One statement per hold (the
    /// leads a claim holds mostly share it: the same cap until the same local midnight), not a round trip per lead.
    /// </summary>
    private int WriteHolds(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx, IReadOnlyCollection<Hold> holds) =>
        holds.Count == 0 ? 0 : c.Execute($"""
            UPDATE leads SET due_at = @DueAt, held_until = @DueAt, lease_owner = NULL, lease_until = NULL, held_by = @Rule, held_reason = @Reason, held_at = @At
            WHERE {_db.Dialect.In("id", "@ids")}
            """, holds.GroupBy(d => (d.DueAt, d.Rule, d.Reason, d.At), d => d.Id)
                .Select(g => new { g.Key.DueAt, g.Key.Rule, g.Key.Reason, g.Key.At, ids = g.ToArray() }), tx);
}

/// <summary>leads.state values (the SQL spells them as numbers: 0 pending, 1 dialing, 2 done).</summary>
internal static class LeadState
{
    public const short Pending = 0, Done = 2;
}
