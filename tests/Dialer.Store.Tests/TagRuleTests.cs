using Dialer.Core.Domain;
using Dapper;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class TagRuleTests(PostgresServer pg)
{
    private static List<(string Tags, string RuleTags, long Priority)> Leads(TestDb t)
    {
        using var c = t.Db.Connect();
        return c.Query<(string, string, long)>("SELECT tags, rule_tags, priority FROM leads ORDER BY id").ToList();
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_files_tags_and_priority_are_kept_and_rule_tags_go_beside_them_and_are_reported(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        // Row 2: the file says high-value though the premium is low; its priority 3 stands although it is a churn risk.
        // Row 3: no tags, no priority: the rules tag it high-value and give it their priority.
        var report = t.Import(id, """
            phone,region,timezone,policy_expiry,premium,claims_3y,tags,priority
            +8613800000001,CN,Asia/Shanghai,2026-11-25,100,2,high-value;vip,3
            +8613800000002,CN,Asia/Shanghai,2027-06-01,900000,0,,
            """);
        Assert.Equal([("churn-risk;high-value;vip", "churn-risk", 3L), ("high-value", "high-value", 10L)], Leads(t));
        Assert.Equal(new SortedDictionary<string, long> { ["churn-risk"] = 1, ["high-value"] = 1 }, report.RuleTagsAdded);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Re_running_the_same_file_changes_no_lead(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        // Rows of one customer in different orders and batches, priorities that differ: the old max-of rule moved these.
        const string csv = """
            phone,region,timezone,customer_id,policy_expiry,premium,claims_3y,tags,priority
            +8613800000001,CN,Asia/Shanghai,C1,2027-05-01,600000,0,a,9
            +8613800000002,CN,Asia/Shanghai,C2,2026-11-28,,,,
            +8613800000001,CN,Asia/Shanghai,,2026-11-30,,,b,2
            +8613800000003,CN,Asia/Shanghai,C2,,,,c,
            """;
        t.Import(id, csv, batchSize: 1);
        using var c = t.Db.Connect();
        const string all = "SELECT id, tags, rule_tags, priority, file_priority, policy_expiry, premium, claims_3y FROM leads ORDER BY id";
        var before = c.Query(all).Select(r => (string)System.Text.Json.JsonSerializer.Serialize(r)).ToList();
        foreach (var batch in new[] { 1, 2, 5000 })
        {
            var again = t.Import(id, csv, batchSize: batch);
            Assert.Equal((0L, 4L, 0L), (again.Accepted, again.Merged, again.Updated));
            Assert.Empty(again.RuleTagsAdded);
            Assert.Equal(before, c.Query(all).Select(r => (string)System.Text.Json.JsonSerializer.Serialize(r)).ToList());
        }
        // The highest priority the file gives wins; C2 gave none, so the rules' default (churn-risk: 20) applies.
        Assert.Equal([("a;b;churn-risk;high-value", "churn-risk;high-value", 9L), ("c;churn-risk", "churn-risk", 20L)], Leads(t));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_rule_tag_goes_when_its_rule_no_longer_holds_but_a_file_tag_stays(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone,policy_expiry,tags\n+8613800000001,CN,Asia/Shanghai,2026-11-25,\n+8613800000002,CN,Asia/Shanghai,2026-11-25,churn-risk\n");
        using (var c = t.Db.Connect()) c.Execute("UPDATE customers SET last_outcome = 'human'"); // reached since: no longer a risk
        var report = t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n");
        Assert.Equal([("", "", 0L), ("churn-risk", "", 20L)], Leads(t));
        Assert.Equal(new SortedDictionary<string, long> { ["churn-risk"] = 1 }, report.RuleTagsRemoved);
        Assert.Equal(1, report.Updated); // the lead whose file gave the tag is as it was
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_rules_are_the_campaigns_settings(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign(settings: new CampaignSettings { TagRules = [new TagRule { Tag = "big", Priority = 7, PremiumOver = 1000 }] });
        t.Import(id, "phone,region,timezone,premium,claims_3y\n+8613800000001,CN,Asia/Shanghai,900000,0\n+8613800000002,CN,Asia/Shanghai,10,0\n");
        Assert.Equal([("big", "big", 7L), ("", "", 0L)], Leads(t));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Prefers_evenings_comes_from_the_customers_past_answers_in_local_time(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        const string csv = "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n";
        t.Import(id, csv);
        using (var c = t.Db.Connect())
        {
            // Lead 1 answered twice at 20:30 and once at 10:00 Shanghai time (UTC+8); lead 2 twice at 10:00.
            var n = 0;
            foreach (var (lead, utcHour, utcMinute) in new[] { (1, 12, 30), (1, 12, 30), (1, 2, 0), (2, 2, 0), (2, 2, 0) })
            {
                var at = new DateTimeOffset(2026, 11, 10 + n, utcHour, utcMinute, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
                c.Execute("""
                    INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at, answered_at, ended_at, outcome)
                    VALUES (@n, @id, @lead, @n, @ch, 'n1', 0, @at, @at, @at, 'human')
                    """, new { n = ++n, id, lead = (long)lead, ch = $"c{n}", at });
            }
        }
        var report = t.Import(id, csv);
        Assert.Equal([("prefers-evenings", "prefers-evenings", 0L), ("", "", 0L)], Leads(t));
        Assert.Equal(1, report.RuleTagsAdded["prefers-evenings"]);
    }

    [Fact]
    public void A_rule_without_a_condition_or_with_a_tag_given_twice_is_refused_naming_it()
    {
        var errors = new CampaignSettings { TagRules = [new TagRule { Tag = "x" }, new TagRule { Tag = "y", PremiumOver = 1 }, new TagRule { Tag = "y", ClaimsAtMost = 0 }] }.Validate();
        Assert.Equal(["tag_rules[0]", "tag_rules[2].tag"], errors.Keys.Order());
    }
}
