using Dapper;

namespace Dialer.Store;

/// <summary>The internal do-not-call list, keyed by the phone number's keyed hash (the number itself is never needed).</summary>
public sealed class Dnc(StoreDb db, Pii pii)
{
    private readonly Pii _pii = pii.Bind(db); // the store's hash key, after the key check
    /// <summary>Adds or renews an entry; <paramref name="expiresUtc"/> null means permanent.</summary>
    public void Add(string e164, string reason, DateTime? expiresUtc, DateTime utcNow) =>
        db.Write((c, tx) => Add(c, tx, _pii.Hash(e164), reason, expiresUtc, utcNow));

    internal static int Add(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction tx, byte[] hash, string reason, DateTime? expiresUtc, DateTime utcNow) =>
        c.Execute("""
            INSERT INTO dnc (phone_hash, reason, added_at, expires_at) VALUES (@hash, @reason, @at, @expires)
            ON CONFLICT (phone_hash) DO UPDATE SET reason = excluded.reason, added_at = excluded.added_at, expires_at = excluded.expires_at
            """, new { hash, reason, at = Time.Ms(utcNow), expires = expiresUtc is { } e ? Time.Ms(e) : (long?)null }, tx);

    /// <summary>True if an entry was removed.</summary>
    public bool Remove(string e164) =>
        db.Write((c, tx) => c.Execute("DELETE FROM dnc WHERE phone_hash = @hash", new { hash = _pii.Hash(e164) }, tx)) > 0;

    public bool Contains(string e164, DateTime utcNow)
    {
        using var c = db.Connect();
        return c.ExecuteScalar<long>("SELECT COUNT(*) FROM dnc WHERE phone_hash = @hash AND (expires_at IS NULL OR expires_at > @now)",
            new { hash = _pii.Hash(e164), now = Time.Ms(utcNow) }) > 0;
    }
}

/// <summary>What agents record about a lead after a call: dispositions (a refusal puts the number on DNC) and callbacks.</summary>
public sealed class Dispositions(StoreDb db)
{
    /// <summary>Disposition codes that mean "never call me again": the number goes on DNC and the lead ends.</summary>
    public static readonly IReadOnlySet<string> Refusals = new HashSet<string>(StringComparer.Ordinal) { "refused", "dnc" };

    /// <summary>False when the lead does not exist.</summary>
    public bool Record(long leadId, long? attemptId, string agent, string code, string? note, int dncDays, DateTime utcNow) => db.Write((c, tx) =>
    {
        var hash = c.QuerySingleOrDefault<byte[]>("SELECT phone_hash FROM leads WHERE id = @leadId", new { leadId }, tx);
        if (hash is null) return false;
        c.Execute("INSERT INTO dispositions (attempt_id, lead_id, agent_id, code, note, created_at) VALUES (@attemptId, @leadId, @agent, @code, @note, @at)",
            new { attemptId, leadId, agent, code, note, at = Time.Ms(utcNow) }, tx);
        if (Refusals.Contains(code))
        {
            Dnc.Add(c, tx, hash, $"disposition '{code}' by {agent}", utcNow.AddDays(dncDays), utcNow);
            c.Execute("UPDATE leads SET state = 2 WHERE id = @leadId AND state = 0", new { leadId }, tx);
        }
        Audit.Write(c, tx, agent, "disposition", $"lead:{leadId}", code, utcNow);
        return true;
    });

    /// <summary>The lead becomes due at <paramref name="dueUtc"/>, ahead of every other lead; false when it does not exist.</summary>
    public bool ScheduleCallback(long leadId, string agent, DateTime dueUtc, DateTime utcNow) => db.Write((c, tx) =>
    {
        var due = Time.Ms(dueUtc);
        if (c.Execute("UPDATE leads SET callback_at = @due, due_at = @due, state = CASE WHEN state = 2 THEN 0 ELSE state END WHERE id = @leadId",
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
