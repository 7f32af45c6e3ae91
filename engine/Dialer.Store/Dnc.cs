using System.Data.Common;
using System.Diagnostics;
using System.IO.Pipelines;
using Dapper;
using Dialer.Core.Text;

namespace Dialer.Store;

/// <summary>One list's hold on a number: which list, why, since when, until when (null: permanent).</summary>
public sealed record DncEntry(string Source, string Reason, DateTime AddedUtc, DateTime? ExpiresUtc);

/// <summary>One entry as listed: its id (the keyed hash, hex; the number itself is never stored), its list, why, since and until when.</summary>
public sealed record DncListedEntry(string Id, string List, string Reason, DateTime AddedAt, DateTime? ExpiresAt);

/// <summary>One do-not-call list as stored: entries, how many are in force, the newest addition and the last expiry.</summary>
public sealed record DncList(string Source, long Entries, long Active, DateTime? LastAddedUtc, DateTime? LastExpiryUtc, bool HasPermanent);

public sealed class DncImportReport
{
    public required string Source { get; init; }
    public long Rows { get; set; }
    /// <summary>Numbers stored (new to the list, or renewed).</summary>
    public long Stored { get; set; }
    public long Rejected { get; set; }
    public List<ImportError> Errors { get; } = [];
    public double Seconds { get; set; }
}

/// <summary>
/// The do-not-call lists, shared by every campaign and keyed by the number's keyed hash (the number itself is never
/// stored): the company's own (<see cref="Internal"/>), the refusals fed by dispositions (<see cref="Refusal"/>) and
/// any industry-shared list imported from a file under its own name. A number is blocked while any list holds it.
/// The hopper checks it in its claim (on the outbox's thread, never the engine loop). Every change (an entry added or
/// renewed, removed, a list removed or imported) writes an audit row by <paramref name="actor"/>, naming the entry by the
/// start of its id, never the number.
/// </summary>
public sealed class Dnc(StoreDb db, Pii pii, string actor = "cli")
{
    public const string Internal = "internal", Refusal = "refusal";
    private const int ImportBatch = 20_000;
    private readonly Pii _pii = pii.Bind(db); // the store's hash key, after the key check

    /// <summary>Adds or renews <paramref name="e164"/> on <paramref name="source"/>; <paramref name="expiresUtc"/> null means permanent.</summary>
    public void Add(string e164, string reason, DateTime? expiresUtc, DateTime utcNow, string source = Internal) =>
        db.Write((c, tx) => Add(c, tx, actor, _pii.Hash(e164), source, reason, expiresUtc, utcNow));

    /// <summary>Adds or renews one entry, audited as <paramref name="who"/>'s.</summary>
    internal static int Add(DbConnection c, DbTransaction tx, string who, byte[] hash, string source, string reason, DateTime? expiresUtc, DateTime utcNow)
    {
        var n = c.Execute(Upsert, new { hash, source, reason, at = Time.Ms(utcNow), expires = expiresUtc is { } e ? Time.Ms(e) : (long?)null }, tx);
        Audit.Write(c, tx, who, "dnc add", Entity(source, hash), $"{Redact.Numbers(reason)}; " + (expiresUtc is { } until ? $"until {until:yyyy-MM-dd}" : "permanent"), utcNow);
        return n;
    }

    /// <summary>How the audit log names an entry: its list and the first 12 hex digits of its id.</summary>
    private static string Entity(string source, byte[] hash) => $"dnc:{source}:{Convert.ToHexStringLower(hash)[..12]}";

    /// <summary>A list name as the API and CLI take it: 1–64 letters, digits, '-', '_' or '.'; null when fine, else why not.</summary>
    public static string? BadListName(string name) =>
        name.Length is >= 1 and <= 64 && name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.') ? null : "must be 1–64 letters, digits, '-', '_' or '.'";

    /// <summary>
    /// The callee of <paramref name="attemptId"/> (the lead's last attempt when null) refused further calls: the number goes on
    /// the refusal list until <paramref name="untilUtc"/>, and the attempt counts as refused for the attempt caps.
    /// </summary>
    internal static void Refused(DbConnection c, DbTransaction tx, string who, long leadId, long? attemptId, byte[] hash, string reason, DateTime untilUtc, DateTime utcNow)
    {
        Add(c, tx, who, hash, Refusal, reason, untilUtc, utcNow);
        c.Execute(attemptId is null
            ? "UPDATE attempts SET refused = 1 WHERE id = (SELECT id FROM attempts WHERE lead_id = @leadId ORDER BY placed_at DESC, id DESC LIMIT 1)"
            : "UPDATE attempts SET refused = 1 WHERE id = @attemptId", new { leadId, attemptId }, tx);
    }

    private const string Upsert = """
        INSERT INTO dnc (phone_hash, source, reason, added_at, expires_at) VALUES (@hash, @source, @reason, @at, @expires)
        ON CONFLICT (phone_hash, source) DO UPDATE SET reason = excluded.reason, added_at = excluded.added_at, expires_at = excluded.expires_at
        """;

    /// <summary>Removes the number from <paramref name="source"/> (every list when null); true if an entry was removed.</summary>
    public bool Remove(string e164, string? source = null) => RemoveById(_pii.Hash(e164), source, DateTime.UtcNow);

    /// <summary>Removes the entry whose id is <paramref name="hash"/> from <paramref name="source"/> (every list when null), each removal audited; true if one was.</summary>
    public bool RemoveById(byte[] hash, string? source, DateTime utcNow) => db.Write((c, tx) =>
    {
        var removed = c.Query<string>("DELETE FROM dnc WHERE phone_hash = @hash AND (@source IS NULL OR source = @source) RETURNING source", new { hash, source }, tx).ToList();
        foreach (var list in removed) Audit.Write(c, tx, actor, "dnc remove", Entity(list, hash), null, utcNow);
        Unhold(c, tx, "phone_hash = @hash", new { hash });
        return removed.Count > 0;
    });

    /// <summary>Removes a whole list (audited with its count); returns how many entries it had.</summary>
    public long RemoveList(string source) => db.Write((c, tx) =>
    {
        var removed = c.Execute("DELETE FROM dnc WHERE source = @source", new { source }, tx);
        if (removed > 0) Audit.Write(c, tx, actor, "dnc remove list", $"dnc:{source}", $"{removed} entries", DateTime.UtcNow);
        Unhold(c, tx, "1 = 1", null);
        return (long)removed;
    });

    /// <summary>
    /// One page of entries (of <paramref name="source"/>, or every list), ordered by id then list, after the entry
    /// <paramref name="after"/> (its id, and its list: null skips every list of that id).
    /// </summary>
    public IReadOnlyList<DncListedEntry> Page(string? source, (byte[] Hash, string? List)? after, int limit)
    {
        using var c = db.Connect();
        var (from, fromList) = after ?? ([], null);
        return c.Query<(byte[] Hash, string Source, string Reason, long AddedAt, long? ExpiresAt)>("""
                SELECT phone_hash, source, reason, added_at, expires_at FROM dnc
                WHERE (@source IS NULL OR source = @source) AND (phone_hash > @from OR (phone_hash = @from AND @fromList IS NOT NULL AND source > @fromList))
                ORDER BY phone_hash, source LIMIT @limit
                """, new { source, from, fromList, limit })
            .Select(r => new DncListedEntry(Convert.ToHexStringLower(r.Hash), r.Source, r.Reason, Time.FromMs(r.AddedAt), r.ExpiresAt is { } e ? Time.FromMs(e) : null)).ToList();
    }

    /// <summary>
    /// The claim holds a lead found on a list out of its walk for a day at most (DbLeadSource.FlushDeferred): leads so held
    /// (of the number, or all) are due again as they were when held, and the next claim looks their number up afresh.
    /// </summary>
    private static void Unhold(DbConnection c, DbTransaction tx, string which, object? args) =>
        c.Execute($"UPDATE leads SET held_until = NULL, due_at = held_at WHERE held_until IS NOT NULL AND held_by = '{Core.Compliance.ComplianceProfile.Rules.DoNotCall}' AND {which}", args, tx);

    public bool Contains(string e164, DateTime utcNow) => Holds(e164, utcNow).Count > 0;

    /// <summary>The lists holding <paramref name="e164"/> at <paramref name="utcNow"/>.</summary>
    public IReadOnlyList<DncEntry> Holds(string e164, DateTime utcNow) => HoldsHash(_pii.Hash(e164), utcNow);

    internal IReadOnlyList<DncEntry> HoldsHash(byte[] hash, DateTime utcNow)
    {
        using var c = db.Connect();
        return c.Query<(string Source, string Reason, long AddedAt, long? ExpiresAt)>(
                "SELECT source, reason, added_at, expires_at FROM dnc WHERE phone_hash = @hash AND (expires_at IS NULL OR expires_at > @now) ORDER BY source",
                new { hash, now = Time.Ms(utcNow) })
            .Select(r => new DncEntry(r.Source, r.Reason, Time.FromMs(r.AddedAt), r.ExpiresAt is { } e ? Time.FromMs(e) : null)).ToList();
    }

    /// <summary>Every list with its counts (numbers are never listed: the store has only their hashes).</summary>
    public IReadOnlyList<DncList> Lists(DateTime utcNow)
    {
        using var c = db.Connect();
        return c.Query<(string Source, long Entries, long Active, long? LastAdded, long? LastExpiry, long Permanent)>("""
            SELECT source, COUNT(*), SUM(CASE WHEN expires_at IS NULL OR expires_at > @now THEN 1 ELSE 0 END), MAX(added_at), MAX(expires_at),
                   SUM(CASE WHEN expires_at IS NULL THEN 1 ELSE 0 END)
            FROM dnc GROUP BY source ORDER BY source
            """, new { now = Time.Ms(utcNow) })
            .Select(r => new DncList(r.Source, r.Entries, r.Active, r.LastAdded is { } a ? Time.FromMs(a) : null, r.LastExpiry is { } e ? Time.FromMs(e) : null, r.Permanent > 0))
            .ToList();
    }

    /// <summary>
    /// Streams a list file into <paramref name="source"/>: a CSV with a <c>phone</c> column (optionally <c>region</c>, the
    /// default being <paramref name="region"/>, for numbers written nationally), each number normalised as the leads
    /// importer does, hashed, and stored with <paramref name="expiresUtc"/>. A bad row costs that row (reported by row
    /// number and rule, never the number); each batch commits on its own, so a failure keeps the batches before it.
    /// The reading thread normalises and hashes the next batch while the one before is written.
    /// </summary>
    public DncImportReport Import(string source, Stream input, string region, DateTime? expiresUtc, DateTime utcNow, string reason = "imported list") =>
        CsvReader.Run(input, pipe => ImportAsync(source, pipe, region, expiresUtc, utcNow, reason));

    /// <summary><see cref="Import"/> from a pipe (a file's, a request body's), awaiting the input rather than blocking on it.</summary>
    public async Task<DncImportReport> ImportAsync(string source, PipeReader input, string region, DateTime? expiresUtc, DateTime utcNow, string reason = "imported list")
    {
        var report = new DncImportReport { Source = source };
        var watch = Stopwatch.StartNew();
        var csv = new CsvReader(input);
        var record = new List<string>();
        if (!await csv.ReadAsync(record)) throw new LeadImportException("dnc csv: the file is empty; a header row with a 'phone' column is required");
        var header = record.Select(h => h.Trim().ToLowerInvariant()).ToList();
        var phoneAt = header.IndexOf("phone");
        var regionAt = header.IndexOf("region");
        if (phoneAt < 0 || csv.Malformed is not null)
            throw new LeadImportException($"dnc csv: header (line 1) has no 'phone' column; it has {header.Count} column(s), none shown (a file without a header has a number there)");
        var defaultRegion = PhoneNumbers.NormaliseRegion(region) ?? throw new ArgumentException($"--region: {Redact.Echo(region)} is not a known region (ISO 3166 code such as CN)");
        var at = Time.Ms(utcNow);
        long? expires = expiresUtc is { } e ? Time.Ms(e) : null;
        // One batch written while the next is read; a write failure surfaces at the next hand-over, and nothing after it is read.
        var writing = Task.CompletedTask;
        var batch = new List<byte[]>(ImportBatch);
        async Task Hand()
        {
            await writing;
            var full = batch;
            writing = full.Count == 0 ? Task.CompletedTask : Task.Run(() => { Store(full, source, reason, at, expires); report.Stored += full.Count; });
            batch = new List<byte[]>(ImportBatch);
        }
        void Reject(string field, string why)
        {
            report.Rejected++;
            if (report.Errors.Count < LeadImporter.MaxReportedErrors) report.Errors.Add(new ImportError(csv.Row, field, why));
        }
        try
        {
            while (await csv.ReadAsync(record))
            {
                report.Rows++;
                if (csv.Malformed is { } bad) { Reject("*", bad); continue; }
                if (record.Count <= phoneAt || (regionAt >= 0 && record.Count <= regionAt)) { Reject("*", $"has {record.Count} fields, the header has {header.Count}"); continue; }
                var r = defaultRegion;
                if (regionAt >= 0 && record[regionAt].Length > 0)
                {
                    if (PhoneNumbers.NormaliseRegion(record[regionAt]) is not { } given) { Reject("region", $"{Redact.Echo(record[regionAt])} is not a known region"); continue; }
                    r = given;
                }
                if (!PhoneNumbers.TryNormalise(record[phoneAt], r, out var e164, out var error)) { Reject("phone", error); continue; }
                batch.Add(_pii.Hash(e164));
                if (batch.Count >= ImportBatch) await Hand();
            }
            await Hand();
        }
        finally
        {
            await writing;
            var kept = report; // a file refused at its header changed nothing and has no row
            if (kept.Rows > 0)
                db.Write((c, tx) => { Audit.Write(c, tx, actor, "dnc import", $"dnc:{source}", $"{kept.Rows} rows, {kept.Stored} stored, {kept.Rejected} rejected", utcNow); return 0; });
        }
        report.Seconds = watch.Elapsed.TotalSeconds;
        return report;
    }

    /// <summary>One batch of hashes upserted in one transaction: COPY into a staging table then one statement on PostgreSQL, a prepared upsert on SQLite.</summary>
    private void Store(List<byte[]> hashes, string source, string reason, long at, long? expires) => db.Write((c, tx) =>
    {
        if (db.Dialect.Name == "postgres")
        {
            c.Execute("CREATE TEMP TABLE IF NOT EXISTS dnc_import (phone_hash BYTEA) ON COMMIT DELETE ROWS", transaction: tx);
            db.Dialect.BulkInsert(c, tx, "dnc_import", ["phone_hash"], hashes, (w, h) => w.Write(h));
            return c.Execute("""
                INSERT INTO dnc (phone_hash, source, reason, added_at, expires_at) SELECT DISTINCT phone_hash, @source, @reason, @at, @expires FROM dnc_import
                ON CONFLICT (phone_hash, source) DO UPDATE SET reason = excluded.reason, added_at = excluded.added_at, expires_at = excluded.expires_at
                """, new { source, reason, at, expires }, tx);
        }
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO dnc (phone_hash, source, reason, added_at, expires_at) VALUES ($h, $s, $r, $a, $e) " +
                          "ON CONFLICT (phone_hash, source) DO UPDATE SET reason = excluded.reason, added_at = excluded.added_at, expires_at = excluded.expires_at";
        var h = cmd.CreateParameter(); h.ParameterName = "$h"; cmd.Parameters.Add(h);
        foreach (var (name, value) in new (string, object?)[] { ("$s", source), ("$r", reason), ("$a", at), ("$e", expires) })
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }
        cmd.Prepare();
        foreach (var hash in hashes)
        {
            h.Value = hash;
            cmd.ExecuteNonQuery();
        }
        return hashes.Count;
    });
}

/// <summary>What agents record about a lead after a call: dispositions (a refusal puts the number on DNC) and callbacks.</summary>
public sealed class Dispositions(StoreDb db)
{
    /// <summary>Disposition codes that mean "never call me again": the number goes on DNC and the lead ends.</summary>
    public static readonly IReadOnlySet<string> Refusals = new HashSet<string>(StringComparer.Ordinal) { "refused", "dnc" };

    /// <summary>False when the lead does not exist. <paramref name="script"/>: the script the agent followed, for the conversion report.</summary>
    public bool Record(long leadId, long? attemptId, string agent, string code, string? note, int dncDays, DateTime utcNow, string? script = null) => db.Write((c, tx) =>
    {
        var hash = c.QuerySingleOrDefault<byte[]>("SELECT phone_hash FROM leads WHERE id = @leadId", new { leadId }, tx);
        if (hash is null) return false;
        c.Execute("INSERT INTO dispositions (attempt_id, lead_id, agent_id, code, note, script, created_at) VALUES (@attemptId, @leadId, @agent, @code, @note, @script, @at)",
            new { attemptId, leadId, agent, code, note, script, at = Time.Ms(utcNow) }, tx);
        if (Refusals.Contains(code))
        {
            Dnc.Refused(c, tx, agent, leadId, attemptId, hash, $"disposition '{code}' by {agent}", utcNow.AddDays(dncDays), utcNow);
            c.Execute("UPDATE leads SET state = 2 WHERE id = @leadId AND state = 0", new { leadId }, tx);
        }
        Audit.Write(c, tx, agent, "disposition", $"lead:{leadId}", code, utcNow);
        return true;
    });

    /// <summary>The lead becomes due at <paramref name="dueUtc"/>, ahead of every other lead; false when it does not exist.</summary>
    public bool ScheduleCallback(long leadId, string agent, DateTime dueUtc, DateTime utcNow) => db.Write((c, tx) =>
    {
        var due = Time.Ms(dueUtc);
        if (c.Execute("UPDATE leads SET callback_at = @due, due_at = @due, held_until = NULL, state = CASE WHEN state = 2 THEN 0 ELSE state END WHERE id = @leadId",
                new { due, leadId }, tx) == 0) return false;
        c.Execute("INSERT INTO callbacks (lead_id, agent_id, due_at, created_at) VALUES (@leadId, @agent, @due, @at)",
            new { leadId, agent, due, at = Time.Ms(utcNow) }, tx);
        Audit.Write(c, tx, agent, "callback", $"lead:{leadId}", dueUtc.ToString("O"), utcNow);
        return true;
    });
}

internal static class Audit
{
    public static void Write(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx, string actor, string action, string entity, string? detail, DateTime utcNow) =>
        c.Execute("INSERT INTO audit_log (at, actor, action, entity, detail) VALUES (@at, @actor, @action, @entity, @detail)",
            new { at = Time.Ms(utcNow), actor, action, entity, detail }, tx);
}
