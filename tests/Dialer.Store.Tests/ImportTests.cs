using Dapper;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class ImportTests(PostgresServer pg)
{
    private const string Header = "phone,region,timezone,customer_id,name,policy_no,policy_expiry,premium,claims_3y,tags,id_number,priority\n";

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Migrate_is_idempotent(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        Assert.Empty(Migrator.Migrate(t.Db));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Broken_rows_are_rejected_by_row_and_field_and_the_good_rows_are_kept(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var report = t.Import(id, Header +
            "+8613800138000,CN-GD,Asia/Shanghai,C1,Li,P1,2027-01-15,600000,0,vip,110101199003071234,\n" + // row 2 ok
            "138-0013-8001,CN,Asia/Shanghai,C2,Wang,P2,,100,1,,,5\n" +                                       // row 3 ok (national format)
            "12ab,CN,Asia/Shanghai,,,,,,,,,\n" +                                                             // row 4 bad phone
            "+8613800138002,CN,Mars/Olympus,,,,,,,,,\n" +                                                   // row 5 bad time zone
            "+8613800138003,XX,Asia/Shanghai,,,,,,,,,\n" +                                                  // row 6 bad region
            "+8613800138004,CN,Asia/Shanghai,,,,2026-13-40,,,,,\n" +                                        // row 7 bad date
            "+8613800138005,CN,Asia/Shanghai\n" +                                                           // row 8 too few fields
            "\"+8613800138006\"x,CN,Asia/Shanghai,,,,,,,,,\n" +                                               // row 9 broken quoting
            "+86 138 0013 8000,CN,Asia/Shanghai,,,P9,2026-11-25,,,,,\n" +                                   // row 10 same phone as row 2: merged
            "+8613900000000,CN,Asia/Shanghai,C2,,,,,,,,\n");                                                 // row 11 same customer as row 3: merged
        Assert.Equal(10, report.Rows);
        Assert.Equal(2, report.Accepted);
        Assert.Equal(2, report.Merged);
        Assert.Equal(6, report.Rejected);
        Assert.Equal([(4L, "phone"), (5L, "timezone"), (6L, "region"), (7L, "policy_expiry"), (8L, "*"), (9L, "*")],
            report.Errors.Select(e => (e.Row, e.Field)));
        Assert.Contains("Mars/Olympus", report.Errors[1].Reason);

        using var c = t.Db.Connect();
        var leads = c.Query<(long Id, string Tags, long? PolicyExpiry, long Priority, byte[] PhoneEnc, byte[] PhoneHash)>(
            "SELECT id, tags, policy_expiry, priority, phone_enc, phone_hash FROM leads ORDER BY id").ToList();
        Assert.Equal(2, leads.Count);
        Assert.Equal("+8613800138000", TestDb.Pii.Decrypt(leads[0].PhoneEnc, PiiColumn.Phone, leads[0].PhoneHash));
        Assert.Equal("+8613800138001", TestDb.Pii.Decrypt(leads[1].PhoneEnc, PiiColumn.Phone, leads[1].PhoneHash));
        // Row 10 merged into row 2's lead: its sooner expiry (5 days away) makes the customer a churn risk.
        Assert.Equal(20261125, leads[0].PolicyExpiry);
        Assert.Equal("churn-risk;high-value;vip", leads[0].Tags);
        Assert.Equal(30, leads[0].Priority);
        Assert.Equal(5, leads[1].Priority);
        Assert.Equal("**************1234", c.ExecuteScalar<string>("SELECT id_number_masked FROM customers WHERE external_id = 'C1'"));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_second_import_merges_into_the_existing_customer_and_never_duplicates_a_number(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+14155550100,US-CA,America/Los_Angeles\n");
        var again = t.Import(id, "phone,region,timezone,priority\n(415) 555-0100,US-CA,America/Los_Angeles,7\n+14155550101,US,America/New_York,\n");
        Assert.Equal((1L, 1L, 0L), (again.Accepted, again.Merged, again.Rejected));
        using var c = t.Db.Connect();
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads"));
        Assert.Equal(7, c.ExecuteScalar<long>("SELECT MAX(priority) FROM leads"));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Phone_numbers_are_not_stored_in_clear(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        t.Import(t.Campaign(), "phone,region,timezone,id_number\n+8613800138000,CN,Asia/Shanghai,110101199003071234\n");
        using var c = t.Db.Connect();
        foreach (var blob in c.Query<byte[]>("SELECT phone_enc FROM leads UNION ALL SELECT id_number_enc FROM customers"))
        {
            var text = System.Text.Encoding.ASCII.GetString(blob);
            Assert.DoesNotContain("13800138000", text);
            Assert.DoesNotContain("1234", text);
        }
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Batches_merge_into_leads_stored_by_earlier_batches_and_report_errors_in_row_order(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        // Two rows a batch: every merge below reaches a lead an earlier batch committed.
        var report = t.Import(id, batchSize: 2, csv: """
            phone,region,timezone,customer_id,policy_expiry,tags,priority
            +8613800000001,CN,Asia/Shanghai,C1,2027-05-01,a,1
            +8613800000002,CN,Asia/Shanghai,C2,,,
            bad,CN,Asia/Shanghai,,,,
            +8613800000001,CN,Asia/Shanghai,,2027-03-01,b,
            +8613800000009,CN,Asia/Shanghai,C2,,c,4
            +8613800000002,CN,Asia/Shanghai,C1,,,
            +8613800000003,CN,Mars/Olympus,,,,
            """);
        Assert.Equal((7L, 2L, 2L, 3L), (report.Rows, report.Accepted, report.Merged, report.Rejected));
        Assert.Equal([(4L, "phone"), (7L, "customer_id"), (8L, "timezone")], report.Errors.Select(e => (e.Row, e.Field)));
        using var c = t.Db.Connect();
        var leads = c.Query<(long? PolicyExpiry, string Tags, long Priority)>("SELECT policy_expiry, tags, priority FROM leads ORDER BY id").ToList();
        Assert.Equal([(20270301L, "a;b", 1L), (null, "c", 4L)], leads);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_lead_merged_in_batch_after_batch_keeps_every_merge(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        // One row a batch: each batch is looked up while the one before may still be writing, so each merge must
        // build on that batch's result, not on what the database held when the lookup ran.
        var report = t.Import(id, batchSize: 1, csv: """
            phone,region,timezone,customer_id,policy_expiry,tags,priority
            +8613800000001,CN,Asia/Shanghai,C1,2027-05-01,a,1
            +8613800000001,CN,Asia/Shanghai,,2027-04-01,b,
            +8613800000007,CN,Asia/Shanghai,C1,,c,6
            +8613800000001,CN,Asia/Shanghai,,2027-06-01,d,
            +8613800000002,CN,Asia/Shanghai,C2,,,
            +8613800000002,CN,Asia/Shanghai,C1,,,
            """);
        Assert.Equal((6L, 2L, 3L, 1L), (report.Rows, report.Accepted, report.Merged, report.Rejected));
        Assert.Equal([(7L, "customer_id")], report.Errors.Select(e => (e.Row, e.Field)));
        using var c = t.Db.Connect();
        var leads = c.Query<(long? PolicyExpiry, string Tags, long Priority)>("SELECT policy_expiry, tags, priority FROM leads ORDER BY id").ToList();
        Assert.Equal([(20270401L, "a;b;c;d", 6L), (null, "", 0L)], leads);
        Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM customers"));
    }

    [Theory, InlineData("sqlite", 1), InlineData("postgres", 1), InlineData("sqlite", 100), InlineData("postgres", 100)]
    public void A_second_number_given_with_a_customer_id_is_found_again_by_number(string dialect, int batchSize)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var report = t.Import(id, batchSize: batchSize, csv: """
            phone,region,timezone,customer_id
            +8613800000001,CN,Asia/Shanghai,C1
            +8613800000007,CN,Asia/Shanghai,C1
            +8613800000007,CN,Asia/Shanghai,
            +8613800000001,CN,Asia/Shanghai,
            """);
        Assert.Empty(report.Errors);
        Assert.Equal((4L, 1L, 3L), (report.Rows, report.Accepted, report.Merged));
        // Found in the store this time, by either number in one batch: still one customer record, one lead.
        var later = t.Import(id, "phone,region,timezone,tags\n+8613800000007,CN,Asia/Shanghai,vip\n+8613800000001,CN,Asia/Shanghai,\n");
        Assert.Equal((2L, 0L, 2L), (later.Rows, later.Accepted, later.Merged));
        using var c = t.Db.Connect();
        Assert.Equal("vip", c.ExecuteScalar<string>("SELECT tags FROM leads"));
        Assert.Equal(1, c.ExecuteScalar<long>("SELECT COUNT(*) FROM customers"));
        Assert.Equal(1, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads"));
    }

    [Fact]
    public void An_unknown_campaign_is_refused_before_any_row_is_read()
    {
        using var t = new TestDb("sqlite", null!);
        var e = Assert.Throws<LeadImportException>(() => t.Import(42, "phone,region,timezone\n+8613800138000,CN,Asia/Shanghai\n"));
        Assert.Contains("id 42", e.Message);
    }

    [Fact]
    public void A_header_without_required_columns_is_refused_naming_them()
    {
        using var t = new TestDb("sqlite", null!);
        var e = Assert.Throws<LeadImportException>(() => t.Import(t.Campaign(), "phone,zone\n+8613800138000,Asia/Shanghai\n"));
        Assert.Contains("region, timezone", e.Message);
    }
}
