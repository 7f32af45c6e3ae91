using Dialer.Core.Text;
using Dialer.Core.Domain;
using System.Text;
using System.Text.Json;
using Dapper;
using Dialer.Core.Compliance;

namespace Dialer.Store.Tests;

/// <summary>Profiles chosen per campaign, DNC lists as data, the customer view and the "why" answer, on both databases.</summary>
[Collection("db")]
public sealed class ComplianceStoreTests(PostgresServer pg)
{
    private static readonly CampaignSettings CnAuto = new() { ComplianceProfile = "cn-auto-renewal", TimeZone = "Asia/Shanghai" };

    private static DbLeadSource Hopper(TestDb t, long campaign, CampaignSettings s) => new(t.Db, TestDb.Pii, campaign, s.ToConfig("renewals"), "node-a");

    [Fact]
    public void The_shipped_profiles_read_and_validate_and_a_campaign_names_them_by_id()
    {
        Assert.Equal(["cn-auto-renewal", "cn-life", "us-tsr"], ComplianceProfiles.Names);
        var p = CnAuto.Profile()!;
        Assert.Equal(("CN", 40, 3, 365), (p.Country, p.EarliestBeforeExpiry!.Days, p.DailyCap!.Max, p.RefusalBlock!.Days));
        Assert.All(ComplianceProfiles.Names, n => Assert.False(string.IsNullOrWhiteSpace(ComplianceProfiles.Get(n)!.CallingHours.Source)));
        Assert.Equal(365, CnAuto.RefusalBlockDays()); // the profile's block is longer than dnc_days' 183
        Assert.Empty(CnAuto.Validate());
        var errors = (CnAuto with { ComplianceProfile = "cn-auto" }).Validate();
        Assert.Contains("not a shipped profile", errors["compliance_profile"]);
        var own = CnAuto.Profile()! with { Id = "", DailyCap = new() { Max = 0 } };
        errors = new CampaignSettings { CustomProfile = own }.Validate();
        Assert.Equal(["custom_profile.daily_cap.max", "custom_profile.id"], errors.Keys.Order());
        // The settings round-trip through their JSON (the store's and the API's) with a custom profile.
        var json = JsonSerializer.Serialize(new CampaignSettings { CustomProfile = p with { Id = "house" } }, CampaignSettings.Json);
        Assert.Equal("house", JsonSerializer.Deserialize<CampaignSettings>(json, CampaignSettings.Json)!.Profile()!.Id);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_hopper_holds_what_the_profile_forbids_and_records_the_rule_the_why_answer_names(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign(settings: CnAuto);
        // TestDb.Noon is 20:00 in Shanghai: Guangzhou is open (until 21:00), Shenzhen closed (until 20:00).
        t.Import(id, """
            phone,region,timezone,policy_expiry
            +8613800000001,CN-GD,Asia/Shanghai,2026-12-20
            +8613800000002,CN-GD-SZ,Asia/Shanghai,2026-12-20
            +8613800000003,CN-GD,Asia/Shanghai,2027-03-01
            """);
        var h = Hopper(t, id, CnAuto);
        var got = new List<string>();
        while (h.Next(TestDb.Noon) is { } lead) got.Add(lead.Phone);
        Assert.Equal(["+8613800000001"], got);
        using var c = t.Db.Connect();
        Assert.Equal(["", "cn-auto-renewal/v4/calling_hours:CN-GD-SZ", "cn-auto-renewal/v4/earliest_before_expiry"],
            c.Query<string?>("SELECT held_by FROM leads ORDER BY id").Select(r => r ?? ""));

        var views = new CustomerViews(t.Db, TestDb.Pii);
        var why = views.Why(3, TestDb.Noon)!;
        Assert.Equal((false, false, "cn-auto-renewal/v4/earliest_before_expiry", "cn-auto-renewal v4"), (why.Called, why.Allowed, why.Rule, why.Profile));
        Assert.Equal(new DateTime(2027, 1, 20, 1, 0, 0, DateTimeKind.Utc), why.HeldUntilUtc); // 40 days before 2027-03-01, 09:00 Shanghai
        Assert.Contains("earliest_before_expiry", why.LastHold ?? "");
        Assert.True(views.Why(1, TestDb.Noon)!.Allowed);
        Assert.Null(views.Why(99, TestDb.Noon));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_dnc_list_is_imported_as_data_blocks_its_numbers_in_every_campaign_and_goes_away_whole(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var a = t.Campaign("a");
        var b = t.Campaign("b");
        const string leads = "phone,region,timezone,customer_id\n+8613800000001,CN,Asia/Shanghai,C1\n+8613800000002,CN,Asia/Shanghai,C2\n";
        t.Import(a, leads);
        t.Import(b, leads);
        var dnc = new Dnc(t.Db, TestDb.Pii);
        // National and bracketed forms normalise as in a leads file; a bad row costs its row and is reported without its number.
        var report = dnc.Import("industry-2026", CsvReader.Text("phone\n(+86) 138-0000-0002\n13800000009\nnot a number 13800000008\n\"open\n"), "CN", null, TestDb.Noon);
        Assert.Equal((4L, 2L, 2L), (report.Rows, report.Stored, report.Rejected));
        Assert.Equal([4L, 5L], report.Errors.Select(e => e.Row));
        Assert.DoesNotContain("13800000008", string.Join(" ", report.Errors.Select(e => e.Reason)));
        dnc.Add("+8613800000002", "asked on the phone", null, TestDb.Noon); // the same number on the company's own list too
        Assert.Equal(["industry-2026", "internal"], dnc.Holds("+8613800000002", TestDb.Noon).Select(e => e.Source));
        Assert.Equal([("industry-2026", 2L), ("internal", 1L)], dnc.Lists(TestDb.Noon).Select(l => (l.Source, l.Active)));

        foreach (var campaign in new[] { a, b })
        {
            Assert.Equal(["+8613800000001"], Drain(Hopper(t, campaign, new CampaignSettings())));
            ReleaseLeases(t); // else campaign b holds customer C1 back while a's hopper has them (customer_in_call)
        }
        var why = new CustomerViews(t.Db, TestDb.Pii).Why(2, TestDb.Noon.AddMinutes(1))!;
        Assert.Equal(("do_not_call", false), (why.Rule, why.Allowed));
        Assert.Contains("industry-2026", why.Reason);

        Assert.Equal(2, dnc.RemoveList("industry-2026"));
        Assert.True(dnc.Contains("+8613800000002", TestDb.Noon)); // still on the company's own list
        Assert.True(dnc.Remove("+8613800000002"));
        Assert.Contains("+8613800000002", Drain(Hopper(t, a, new CampaignSettings()), TestDb.Noon.AddMinutes(10)));
    }

    private static void Attempt(TestDb t, long id, long campaign, long lead, DateTime placed, string? outcome)
    {
        using var c = t.Db.Connect();
        c.Execute("INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at, ended_at, outcome) VALUES (@id, @campaign, @lead, 1, @ch, 'n', 0, @at, @at, @outcome)",
            new { id, campaign, lead, ch = $"ch-{id}", at = new DateTimeOffset(placed).ToUnixTimeMilliseconds(), outcome });
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_claim_caps_a_number_and_a_customer_across_campaigns_and_the_why_answer_names_the_cap(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var (a, b, c, d) = (t.Campaign("a", CnAuto), t.Campaign("b", CnAuto), t.Campaign("c", CnAuto), t.Campaign("d", CnAuto));
        // Customer C1: number 1 in campaigns a and b, number 2 in c, number 3 in d (TestDb.Noon is 20:00 in Shanghai).
        const string header = "phone,region,timezone,policy_expiry,customer_id\n";
        t.Import(a, header + "+8613800000001,CN-GD,Asia/Shanghai,2026-12-20,C1\n"); // lead 1
        t.Import(b, header + "+8613800000001,CN-GD,Asia/Shanghai,2026-12-20,C1\n"); // lead 2
        t.Import(c, header + "+8613800000002,CN-GD,Asia/Shanghai,2026-12-20,C1\n"); // lead 3
        t.Import(d, header + "+8613800000003,CN-GD,Asia/Shanghai,2026-12-20,C1\n"); // lead 4
        // Campaign a called number 1 twice today, unanswered: under the number's cap of 3 unanswered.
        Attempt(t, 1, a, 1, TestDb.Noon.AddHours(-3), "no_answer");
        Attempt(t, 2, a, 1, TestDb.Noon.AddHours(-2), "busy");
        Assert.Equal(["+8613800000001"], Drain(Hopper(t, b, CnAuto)));
        Attempt(t, 3, b, 2, TestDb.Noon.AddMinutes(1), "no_answer");
        ReleaseLeases(t);
        using var db = t.Db.Connect();
        // Campaign b's call filled number 1's cap: campaign a may not call it again today.
        var later = TestDb.Noon.AddMinutes(5);
        Assert.Empty(Drain(Hopper(t, a, CnAuto), later));
        Assert.Equal("cn-auto-renewal/v4/attempt_caps:number:1d", db.QuerySingle<string>("SELECT held_by FROM leads WHERE id = 1"));
        var views = new CustomerViews(t.Db, TestDb.Pii);
        var why = views.Why(1, later)!;
        Assert.Equal((false, "cn-auto-renewal/v4/attempt_caps:number:1d"), (why.Allowed, why.Rule));
        Assert.Equal(new DateTime(2026, 11, 21, 1, 0, 0, DateTimeKind.Utc), why.HeldUntilUtc); // 09:00 Shanghai tomorrow
        Assert.Contains("every campaign", why.Reason);
        Assert.True(views.Why(1, TestDb.Noon)!.Allowed); // as it stood before b's call
        // The customer's other numbers are under the customer's cap (4 a day, every number and outcome) until a fourth call.
        Assert.Equal(["+8613800000002"], Drain(Hopper(t, c, CnAuto), later));
        Attempt(t, 4, c, 3, later.AddMinutes(1), "human");
        ReleaseLeases(t);
        var evenLater = later.AddMinutes(5);
        Assert.Empty(Drain(Hopper(t, d, CnAuto), evenLater));
        why = views.Why(4, evenLater)!;
        Assert.Equal((false, "cn-auto-renewal/v4/attempt_caps:customer:1d"), (why.Allowed, why.Rule));
        Assert.Contains("every number and campaign", why.Reason);
        // Tomorrow both caps let go.
        var tomorrow = new DateTime(2026, 11, 21, 2, 0, 0, DateTimeKind.Utc);
        Assert.Equal(["+8613800000001"], Drain(Hopper(t, a, CnAuto), tomorrow));
        Assert.Empty(Drain(Hopper(t, d, CnAuto), tomorrow)); // the customer is in campaign a's hopper: not called by two at once
        ReleaseLeases(t);
        Assert.Equal(["+8613800000003"], Drain(Hopper(t, d, CnAuto), tomorrow.AddMinutes(1)));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_refusal_blocks_every_number_and_campaign_of_the_customer_when_the_profile_says_so(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var noWhole = CnAuto with { ComplianceProfile = null, CustomProfile = CnAuto.Profile()! with { Id = "per-number", RefusalBlock = new() { Days = 365 } } };
        var (a, b, c) = (t.Campaign("a", CnAuto), t.Campaign("b", CnAuto), t.Campaign("c", noWhole));
        t.Import(a, "phone,region,timezone,policy_expiry,customer_id\n+8613800000001,CN-GD,Asia/Shanghai,2026-12-20,C1\n"); // lead 1
        t.Import(b, "phone,region,timezone,policy_expiry,customer_id\n+8613800000002,CN-GD,Asia/Shanghai,2026-12-20,C1\n+8613800000003,CN-GD,Asia/Shanghai,2026-12-20,C2\n");
        t.Import(c, "phone,region,timezone,policy_expiry,customer_id\n+8613800000002,CN-GD,Asia/Shanghai,2026-12-20,C1\n");
        Attempt(t, 1, a, 1, TestDb.Noon.AddHours(-1), "human");
        new Dispositions(t.Db).Record(1, 1, "agent7", "refused", null, CnAuto.RefusalBlockDays(), TestDb.Noon.AddMinutes(-50));
        // The customer's other number in b is held; the other customer is not; c's profile blocks the refused number only.
        Assert.Equal(["+8613800000003"], Drain(Hopper(t, b, CnAuto)));
        Assert.Equal(["+8613800000002"], Drain(Hopper(t, c, noWhole)));
        var why = new CustomerViews(t.Db, TestDb.Pii).Why(2, TestDb.Noon)!;
        Assert.Equal((false, "cn-auto-renewal/v4/refusal_block:customer"), (why.Allowed, why.Rule));
        Assert.Equal(TestDb.Noon.AddMinutes(-50).AddDays(365), why.HeldUntilUtc);
        Assert.DoesNotContain("13800000001", why.Reason);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_call_refused_by_its_disposition_counts_toward_the_numbers_daily_cap_of_unanswered_or_refused_attempts(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var (a, b) = (t.Campaign("a", CnAuto), t.Campaign("b", CnAuto));
        const string lead = "phone,region,timezone,policy_expiry,customer_id\n+8613800000001,CN-GD,Asia/Shanghai,2026-12-20,C1\n";
        t.Import(a, lead); // lead 1
        t.Import(b, lead); // lead 2: the same number in another campaign
        // Today (Shanghai) campaign a's calls to number 1: two unanswered, then an answer the callee refused.
        Attempt(t, 1, a, 1, TestDb.Noon.AddHours(-3), "no_answer");
        Attempt(t, 2, a, 1, TestDb.Noon.AddHours(-2), "busy");
        Attempt(t, 3, a, 1, TestDb.Noon.AddHours(-1), "human");
        new Dispositions(t.Db).Record(1, 3, "agent7", "refused", null, CnAuto.RefusalBlockDays(), TestDb.Noon.AddMinutes(-50));
        using var db = t.Db.Connect();
        Assert.Equal([0L, 0L, 1L], db.Query<long>("SELECT refused FROM attempts ORDER BY id"));
        // The refusal is withdrawn the same day (taken off the list): the day's cap still counts the refused call, the third.
        Assert.True(new Dnc(t.Db, TestDb.Pii).Remove("+8613800000001"));
        Assert.Empty(Drain(Hopper(t, b, CnAuto)));
        Assert.Equal("cn-auto-renewal/v4/attempt_caps:number:1d", db.QuerySingle<string>("SELECT held_by FROM leads WHERE id = 2"));
        var why = new CustomerViews(t.Db, TestDb.Pii).Why(2, TestDb.Noon)!;
        Assert.Equal((false, "cn-auto-renewal/v4/attempt_caps:number:1d"), (why.Allowed, why.Rule));
        // A span that lists no "refused" does not count it; one that lists only "refused" counts only it.
        var caps = CnAuto.Profile()!.AttemptCaps!;
        Assert.Equal(2, caps.PerNumber[0].Outcomes!.Count(o => o is "refused" or "no_answer"));
        var onlyRefused = new Core.Compliance.CapSpan { Days = 1, Max = 1, Outcomes = ["refused"] };
        Assert.Equal([false, true], new[] { false, true }.Select(r => onlyRefused.Counts(new Contact(1, TestDb.Noon, CallOutcome.Human, r))));
        Assert.Empty(new CampaignSettings { CustomProfile = CnAuto.Profile()! with { Id = "own", AttemptCaps = caps with { PerCustomer = [onlyRefused] } } }.Validate());
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Why_re_derives_the_customer_in_call_hold_from_the_other_leads_call_or_lease(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var (a, b) = (t.Campaign("a"), t.Campaign("b"));
        t.Import(a, "phone,region,timezone,customer_id\n+8613800000001,CN,Asia/Shanghai,C1\n"); // lead 1
        t.Import(b, "phone,region,timezone,customer_id\n+8613800000002,CN,Asia/Shanghai,C1\n"); // lead 2: the customer's other number
        using (var db = t.Db.Connect())
            db.Execute("INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at, ended_at, outcome) VALUES (1, @a, 1, 1, 'ch-1', 'n', 0, @placed, @ended, 'human')",
                new { a, placed = Time.Ms(TestDb.Noon.AddMinutes(-1)), ended = Time.Ms(TestDb.Noon.AddMinutes(3)) });
        var views = new CustomerViews(t.Db, TestDb.Pii);
        // While campaign a talks to the customer, lead 2 waits: the why answer says so and names the other lead's call.
        var why = views.Why(2, TestDb.Noon)!;
        Assert.Equal((false, ComplianceProfile.Rules.CustomerInCall, TestDb.Noon.AddSeconds(30)), (why.Allowed, why.Rule, why.HeldUntilUtc));
        Assert.Equal(new CustomerCall(1, "a", "dialing", TestDb.Noon.AddMinutes(-1), TestDb.Noon.AddMinutes(3)), why.CustomerCall);
        Assert.Contains("\"customer_call\":{\"lead_id\":1,\"campaign\":\"a\",\"state\":\"dialing\"", JsonSerializer.Serialize(why, CampaignSettings.Json));
        Assert.Null(views.Why(1, TestDb.Noon)!.CustomerCall); // a lead's own call is not its customer's other call
        var after = TestDb.Noon.AddMinutes(10);
        Assert.Equal((true, null), (views.Why(2, after)!.Allowed, views.Why(2, after)!.CustomerCall));
        // Campaign a's hopper leases lead 1 to call next: lead 2 is held while the lease lasts (inferred within one lease of its end).
        Assert.Equal(["+8613800000001"], Drain(Hopper(t, a, new CampaignSettings()), after));
        why = views.Why(2, after.AddMinutes(1))!;
        Assert.Equal((false, ComplianceProfile.Rules.CustomerInCall), (why.Allowed, why.Rule));
        Assert.Equal(new CustomerCall(1, "a", "leased", null, after + DbLeadSource.DefaultLease), why.CustomerCall);
        Assert.Null(views.Why(2, after.AddMinutes(-5))!.CustomerCall); // before the lease's first possible start
        Assert.True(views.Why(2, after.AddMinutes(3))!.Allowed);
    }

    /// <summary>As if the drained hoppers' leases had run out: their leads are nobody's again.</summary>
    private static void ReleaseLeases(TestDb t)
    {
        using var c = t.Db.Connect();
        c.Execute("UPDATE leads SET lease_owner = NULL, lease_until = NULL");
    }

    private static List<string> Drain(DbLeadSource h, DateTime? at = null)
    {
        var got = new List<string>();
        while (h.Next(at ?? TestDb.Noon) is { } lead) got.Add(lead.Phone);
        return got;
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void One_customer_shows_every_lead_attempt_and_block_across_campaigns_with_numbers_masked(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var a = t.Campaign("a");
        var b = t.Campaign("b");
        t.Import(a, "phone,region,timezone,customer_id,id_number,consent_source,consent_at\n+8613800000001,CN,Asia/Shanghai,C1,110105199001011234,renewal form,2026-10-01\n");
        t.Import(b, "phone,region,timezone,customer_id\n+8613900000002,CN,Asia/Shanghai,C1\n");
        using (var c = t.Db.Connect())
            c.Execute("INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at, ended_at, outcome) VALUES (1, @a, 1, 1, 'ch-1', 'n', 0, @at, @at, 'no_answer')",
                new { a, at = new DateTimeOffset(TestDb.Noon).ToUnixTimeMilliseconds() });
        new Dispositions(t.Db).Record(1, 1, "agent7", "refused", null, CnAuto.RefusalBlockDays(), TestDb.Noon);

        var view = new CustomerViews(t.Db, TestDb.Pii).ForExternalId("C1", TestDb.Noon)!;
        Assert.Equal(["a", "b"], view.Leads.Select(l => l.Campaign));
        Assert.Equal(["**********0001", "**********0002"], view.Phones);
        Assert.Equal("**************1234", view.IdNumber);
        Assert.Equal(("no_answer", "refused"), (view.Leads[0].AttemptHistory.Single().Outcome, view.Leads[0].Dispositions.Single().Code));
        Assert.Equal(("renewal form", Dnc.Refusal), (view.Leads[0].ConsentSource, view.Blocks.Single().Source));
        Assert.Equal(TestDb.Noon.AddDays(365), view.Blocks.Single().ExpiresUtc);
        var json = JsonSerializer.Serialize(view, CampaignSettings.Json);
        Assert.DoesNotContain("13800000001", json);
        Assert.DoesNotContain("199001011234", json);
        // The attempt is the call asked about; the number is blocked since the refusal.
        var why = new CustomerViews(t.Db, TestDb.Pii).Why(1, TestDb.Noon.AddSeconds(20))!;
        Assert.True(why.Called);
        Assert.Equal(1, why.Attempt!.AttemptNo);
    }

    [Fact]
    public void A_lookup_batch_larger_than_sqlites_parameter_limit_imports_and_re_imports_unchanged()
    {
        // 40,000 keys in one lookup: an expanded IN list would pass SQLite's 32,766 parameters (and bind in n²).
        using var t = new TestDb("sqlite", null!);
        var id = t.Campaign();
        var csv = new StringBuilder("phone,region,timezone,customer_id\n");
        for (var i = 0; i < 40_000; i++) csv.Append("+86138").Append(i.ToString("D8")).Append(",CN,Asia/Shanghai,C").Append(i).Append('\n');
        var first = t.Import(id, csv.ToString(), batchSize: 40_000);
        var again = t.Import(id, csv.ToString(), batchSize: 40_000);
        Assert.Equal((40_000L, 40_000L, 0L), (first.Accepted, again.Merged, again.Updated));
    }
}
