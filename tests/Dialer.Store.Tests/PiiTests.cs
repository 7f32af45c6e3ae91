using Dialer.Core.Text;
using System.Security.Cryptography;
using Dapper;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class PiiTests(PostgresServer pg)
{
    private const string Csv = "phone,region,timezone,id_number\n+8613800000001,CN,Asia/Shanghai,110101199003071234\n+8613800000002,CN,Asia/Shanghai,\n";

    private static Pii NewKey() => new(RandomNumberGenerator.GetBytes(32));

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_wrong_key_is_refused_before_anything_is_read_or_written(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, Csv);
        var wrong = NewKey();
        var e = Assert.Throws<InvalidOperationException>(() => new LeadImporter(t.Db, wrong).Import(id, "renewals", CsvReader.Text(Csv + "+8613800000003,CN,Asia/Shanghai,\n"), TestDb.Noon));
        Assert.Contains("key check failed", e.Message);
        Assert.Throws<InvalidOperationException>(() => new LeadQueries(t.Db, wrong));
        Assert.Throws<InvalidOperationException>(() => new Dnc(t.Db, wrong));
        using var c = t.Db.Connect();
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads"));
    }

    [Fact]
    public void A_store_from_before_the_key_ring_is_checked_against_its_cipher_texts_at_first_use()
    {
        using var t = new TestDb("sqlite", null!);
        t.Import(t.Campaign(), Csv);
        using (var c = t.Db.Connect())
        {
            // As the store was before: v1 cipher texts (nonce, tag, text under the derived key) and no key ring.
            var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, TestDb.PiiKey, 32, info: "dialer pii aes-gcm"u8.ToArray());
            using var aes = new AesGcm(key, 16);
            var plain = "+8613800000001"u8.ToArray();
            var v1 = new byte[28 + plain.Length];
            RandomNumberGenerator.Fill(v1.AsSpan(0, 12));
            aes.Encrypt(v1.AsSpan(0, 12), plain, v1.AsSpan(28), v1.AsSpan(12, 16));
            c.Execute("UPDATE leads SET phone_enc = @v1 WHERE id = 1; DELETE FROM pii_keys;", new { v1 });
        }
        Assert.Throws<InvalidOperationException>(() => new LeadQueries(t.Db, NewKey()));
        using (var c = t.Db.Connect()) Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM pii_keys"));
        var leads = new LeadQueries(t.Db, new Pii(TestDb.PiiKey)).List(1, null, 0, 10);
        Assert.Equal(["**********0001", "**********0002"], leads.Select(l => l.Phone));
    }

    [Fact]
    public void A_cipher_text_carries_its_key_id_and_does_not_open_in_another_row()
    {
        using var t = new TestDb("sqlite", null!);
        t.Import(t.Campaign(), Csv);
        using var c = t.Db.Connect();
        var rows = c.Query<(byte[] Enc, byte[] Hash)>("SELECT phone_enc, phone_hash FROM leads ORDER BY id").ToList();
        Assert.All(rows, r => Assert.Equal(1u, Pii.KeyIdOf(r.Enc)));
        Assert.Equal("+8613800000001", TestDb.Pii.Decrypt(rows[0].Enc, PiiColumn.Phone, rows[0].Hash));
        Assert.ThrowsAny<CryptographicException>(() => TestDb.Pii.Decrypt(rows[0].Enc, PiiColumn.Phone, rows[1].Hash));
        Assert.ThrowsAny<CryptographicException>(() => TestDb.Pii.Decrypt(rows[0].Enc, PiiColumn.IdNumber, rows[0].Hash));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public async Task Rotate_rewrites_every_cipher_text_while_reads_go_on_and_then_only_the_new_key_opens_the_store(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var csv = "phone,region,timezone,customer_id,id_number\n" + string.Concat(Enumerable.Range(0, 300).Select(i => $"+86138{i:D8},CN,Asia/Shanghai,C{i % 250},11010119900307{i:D4}\n"));
        t.Import(id, csv);
        var oldKey = new Pii(TestDb.PiiKey);
        new Dnc(t.Db, oldKey).Add("+8613800000007", "refused", null, TestDb.Noon);
        var reader = new LeadQueries(t.Db, oldKey); // a process still on the old key
        var newKey = NewKey();
        long reads = 0, failed = 0;
        using var stop = new CancellationTokenSource();
        var reading = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
                try { reads += reader.List(id, null, 0, 1000).Count; }
                catch (CryptographicException) { failed++; }
        });
        var report = new PiiRotation(t.Db, oldKey, newKey) { BatchSize = 40 }.Run();
        stop.Cancel();
        await reading;
        Assert.Equal(0, failed);
        Assert.True(reads > 0);
        Assert.Equal((250L + 50 + 250, 0L), (report.Rewritten, report.Failed)); // 250 leads, 50 further numbers, 250 customers' ID numbers
        Assert.Throws<InvalidOperationException>(() => new LeadQueries(t.Db, new Pii(TestDb.PiiKey)));
        var after = new LeadQueries(t.Db, newKey).List(id, null, 0, 1000);
        Assert.Equal(250, after.Count);
        Assert.True(new Dnc(t.Db, newKey).Contains("+8613800000007", TestDb.Noon)); // hashes survive a rotation
        using var c = t.Db.Connect();
        var newId = Pii.KeyIdOf(c.QueryFirst<byte[]>("SELECT phone_enc FROM leads"));
        Assert.NotEqual(1u, newId);
        Assert.All(c.Query<byte[]>("SELECT phone_enc FROM leads UNION ALL SELECT phone_enc FROM customer_phones UNION ALL SELECT id_number_enc FROM customers"),
            b => Assert.Equal(newId, Pii.KeyIdOf(b)));
        // Importing again with the new key merges into the same customers: nothing new.
        var again = new LeadImporter(t.Db, newKey).Import(id, "renewals", CsvReader.Text(csv), TestDb.Noon);
        Assert.Equal((0L, 300L, 0L), (again.Accepted, again.Merged, again.Updated));
    }
}
