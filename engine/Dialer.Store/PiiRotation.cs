using System.Diagnostics;
using System.Security.Cryptography;
using Dapper;

namespace Dialer.Store;

public sealed record RotationReport(long Rewritten, long AlreadyCurrent, long Failed, double Seconds);

/// <summary>
/// `dialer pii rotate`: from the old master key to a new one, online. (1) A new data key is made and every store key
/// is wrapped under the new master key; the new data key also under the old one, so processes still running on the
/// old key read what is rewritten (they reload the ring on a key id they have not seen). (2) Every cipher text is
/// rewritten under the new data key, bound to its row, in batches of one short transaction each, so a campaign keeps
/// dialing; a row changed meanwhile is left to the next pass. (3) The old master key's wrappings are deleted: from
/// then on only the new key opens the store. Old data keys stay in the ring (wrapped under the new key) so a row a
/// stale process writes late is still readable; a second rotate moves it.
/// </summary>
public sealed class PiiRotation(StoreDb db, Pii oldKey, Pii newKey)
{
    public int BatchSize { get; init; } = 5000;

    private sealed record Table(string Name, string Key, string Enc, string Hash, PiiColumn Column);

    private static readonly Table[] Tables =
    [
        new("leads", "id", "phone_enc", "phone_hash", PiiColumn.Phone),
        new("customer_phones", "phone_hash", "phone_enc", "phone_hash", PiiColumn.Phone),
        new("customers", "id", "id_number_enc", "id_number_hash", PiiColumn.IdNumber),
    ];

    public RotationReport Run(Action<string>? progress = null)
    {
        if (oldKey.Fingerprint.AsSpan().SequenceEqual(newKey.Fingerprint)) throw new ArgumentException("pii rotate: the new key is the old key");
        var clock = Stopwatch.StartNew();
        oldKey.Bind(db); // the key check: the old key must open the store
        var (hash, data) = oldKey.Export(db);
        var id = NewKeyId(data);
        var key = RandomNumberGenerator.GetBytes(32);
        db.Write((c, tx) =>
        {
            var at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            void Put(uint keyId, Pii under, byte[] k) => c.Execute(
                "INSERT INTO pii_keys (id, kek, wrapped, created_at) VALUES (@id, @kek, @wrapped, @at)",
                new { id = (long)keyId, kek = under.Fingerprint, wrapped = under.Wrap(k, keyId), at = keyId == id ? at + 1 : at }, tx);
            c.Execute("DELETE FROM pii_keys WHERE kek = @kek", new { kek = newKey.Fingerprint }, tx); // a rotation to this key cut short before
            Put(0, newKey, hash);
            foreach (var (oldId, k) in data) Put(oldId, newKey, k);
            Put(id, newKey, key);
            Put(id, oldKey, key);
            return 0;
        });
        newKey.Bind(db);
        oldKey.Bind(db); // now writes under the new data key too
        long rewritten = 0, current = 0, failed = 0;
        foreach (var t in Tables)
        {
            var (r, cur, f) = Rewrite(t, id);
            (rewritten, current, failed) = (rewritten + r, current + cur, failed + f);
            progress?.Invoke($"{t.Name}.{t.Enc}: {r} rewritten, {cur} already on the new key, {f} unreadable");
        }
        if (failed == 0)
            db.Write((c, tx) => c.Execute("DELETE FROM pii_keys WHERE kek = @kek", new { kek = oldKey.Fingerprint }, tx));
        return new RotationReport(rewritten, current, failed, clock.Elapsed.TotalSeconds);
    }

    private static uint NewKeyId(IReadOnlyList<(uint Id, byte[] Key)> existing)
    {
        uint id;
        do id = (uint)RandomNumberGenerator.GetInt32(2, int.MaxValue); while (existing.Any(e => e.Id == id));
        return id;
    }

    /// <summary>
    /// One page's new cipher texts in one statement: bulk-loaded into a temporary table (COPY on PostgreSQL) and
    /// applied by one UPDATE … FROM, only where the row still holds the cipher text read (a row a campaign changed
    /// meanwhile keeps its own and is looked at again by the next rotate). One round trip per page, not per row.
    /// </summary>
    private long Apply(Table t, List<(object Key, byte[] Old, byte[] New)> updates) => db.Write((c, tx) =>
    {
        c.Execute(db.Dialect.TempTable("pii_rewrite", $"k {(t.Key == "id" ? "BIGINT" : "BYTEA")}, old BYTEA, new BYTEA"), transaction: tx);
        db.Dialect.BulkInsert(c, tx, "pii_rewrite", ["k", "old", "new"], updates, (w, u) =>
        {
            if (u.Key is long id) w.Write(id); else w.Write((byte[])u.Key);
            w.Write(u.Old);
            w.Write(u.New);
        });
        return (long)c.Execute($"UPDATE {t.Name} SET {t.Enc} = r.new FROM pii_rewrite r WHERE {t.Name}.{t.Key} = r.k AND {t.Name}.{t.Enc} = r.old", transaction: tx);
    });

    /// <summary>Keyset pages by the table's key; each page rewritten in its own transaction, only where the cipher text is still the one read.</summary>
    private (long Rewritten, long Current, long Failed) Rewrite(Table t, uint id)
    {
        long rewritten = 0, current = 0, failed = 0;
        object after = t.Key == "id" ? 0L : Array.Empty<byte>();
        while (true)
        {
            List<(object Key, byte[] Enc, byte[] Hash)> page;
            using (var c = db.Connect())
                page = c.Query($"""
                    SELECT {t.Key} AS k, {t.Enc} AS enc, {t.Hash} AS hash FROM {t.Name}
                    WHERE {t.Key} > @after AND {t.Enc} IS NOT NULL ORDER BY {t.Key} LIMIT @limit
                    """, new { after, limit = BatchSize })
                    .Select(r => ((object)(r.k is byte[] b ? b : Convert.ToInt64(r.k)), (byte[])r.enc, (byte[])r.hash)).ToList();
            if (page.Count == 0) return (rewritten, current, failed);
            after = page[^1].Key;
            var updates = new List<(object Key, byte[] Old, byte[] New)>(page.Count);
            foreach (var (k, enc, hash) in page)
            {
                if (Pii.KeyIdOf(enc) == id) { current++; continue; }
                try { updates.Add((k, enc, newKey.Encrypt(newKey.Decrypt(enc, t.Column, hash), t.Column, hash))); }
                catch (CryptographicException) { failed++; }
            }
            if (updates.Count > 0) rewritten += Apply(t, updates);
        }
    }
}
