using System.Text;
using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class HopperTests(PostgresServer pg)
{
    private static DbLeadSource Hopper(TestDb t, long campaign, CampaignSettings? s = null, string owner = "node-a", int batch = 500) =>
        new(t.Db, TestDb.Pii, campaign, (s ?? new CampaignSettings()).ToConfig("renewals"), owner) { BatchSize = batch };

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Claims_in_priority_order_skipping_dnc_closed_windows_and_spent_leads(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, """
            phone,region,timezone,policy_expiry,priority
            +8613800000001,CN,Asia/Shanghai,2027-03-01,1
            +8613800000002,CN,Asia/Shanghai,2027-02-01,1
            +8613800000003,CN,Asia/Shanghai,,9
            +8613800000004,CN,Asia/Shanghai,,0
            +14155550100,US,America/Los_Angeles,,50
            +8613800000005,CN,Asia/Shanghai,,0
            """);
        new Dnc(t.Db, TestDb.Pii).Add("+8613800000004", "customer asked", null, TestDb.Noon);
        using (var c = t.Db.Connect()) c.Execute("UPDATE leads SET attempts = 6 WHERE id = 6"); // over max_attempts

        // 12:00 UTC is 20:00 in Shanghai (open) and 04:00 in Los Angeles (closed).
        var h = Hopper(t, id);
        var order = new List<string>();
        while (h.Next(TestDb.Noon) is { } lead) order.Add(lead.Phone);
        Assert.Equal(["+8613800000003", "+8613800000002", "+8613800000001"], order);


        using var c2 = t.Db.Connect();
        var due = c2.ExecuteScalar<long>("SELECT due_at FROM leads WHERE id = 5");
        Assert.Equal(new DateTime(2026, 11, 20, 17, 0, 0, DateTimeKind.Utc), DateTimeOffset.FromUnixTimeMilliseconds(due).UtcDateTime); // 09:00 in LA
    }

    /// <summary>
    /// A lead found on a do-not-call list is held out of the claim's walk (not stepped over and looked up again by every
    /// claim) until the list lets it go, a day at most; removing the number frees it at once.
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_lead_on_a_dnc_list_is_held_out_of_the_claim_until_the_list_lets_it_go(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n+8613800000003,CN,Asia/Shanghai\n");
        var dnc = new Dnc(t.Db, TestDb.Pii);
        dnc.Add("+8613800000001", "asked", null, TestDb.Noon);
        dnc.Add("+8613800000002", "asked", TestDb.Noon.AddMinutes(30), TestDb.Noon);
        var h = Hopper(t, id);
        void Reached(Lead? lead, string phone, DateTime at)
        {
            Assert.Equal(phone, lead?.Phone);
            h.Finished(lead!, CallOutcome.Human, at); // done: it leaves the campaign
        }
        Reached(h.Next(TestDb.Noon), "+8613800000003", TestDb.Noon);
        Assert.Null(h.Next(TestDb.Noon));
        static long Ms(DateTime at) => new DateTimeOffset(at).ToUnixTimeMilliseconds();
        using (var c = t.Db.Connect())
            Assert.Equal([(1L, Ms(TestDb.Noon.AddDays(1))), (2L, Ms(TestDb.Noon.AddMinutes(30)))],
                c.Query<(long, long)>("SELECT id, held_until FROM leads WHERE held_by = 'do_not_call' ORDER BY id"));

        Reached(h.Next(TestDb.Noon.AddMinutes(31)), "+8613800000002", TestDb.Noon.AddMinutes(31)); // its entry expired
        Assert.Null(h.Next(TestDb.Noon.AddMinutes(32)));
        Assert.True(dnc.Remove("+8613800000001"));
        Assert.Equal("+8613800000001", h.Next(TestDb.Noon.AddMinutes(33))?.Phone); // due again at once, not in a day
    }

    /// <summary>
    /// The in-memory hopper's rule: a requirement no free agent can take holds back only its own leads, however many head the
    /// order. Here 100 high-value leads bound to seniors rank first; looking 64 leads down the order found nothing (skill-pools
    /// on the store placed 328 calls all day), and claims sized to need held only the senior-bound head.
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_refused_requirement_holds_back_only_its_own_leads_however_many_head_the_order(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var csv = new StringBuilder("phone,region,timezone,tags,priority\n");
        for (var i = 0; i < 100; i++) csv.Append($"+86138{i:D8},CN-BJ,Asia/Shanghai,high-value,1\n");
        csv.Append("+8613900000001,CN-GD,Asia/Shanghai,,0\n+8613900000002,CN-BJ,Asia/Shanghai,high-valued;churn-risk,0\n+8613900000003,CN-BJ,Asia/Shanghai,High-Value,0\n");
        t.Import(id, csv.ToString());
        var config = new CampaignSettings
        {
            Routing = [new("high-value", null, new Dictionary<string, byte> { ["seniority"] = 2 }), new(null, "CN-GD", new Dictionary<string, byte> { ["lang:cantonese"] = 1 })],
        }.ToConfig("renewals");
        var h = new DbLeadSource(t.Db, TestDb.Pii, id, config, "node-a") { Routing = new RoutingRules(config, new SkillCatalog(), new RequirementTable()) };
        var asked = 0;
        bool NoSeniorFree(Lead l)
        {
            asked++;
            return !l.HasTag("high-value");
        }

        var order = new List<string>();
        while (((ILeadSource)h).Next(TestDb.Noon, NoSeniorFree) is { } lead) order.Add(lead.Phone);
        // The Cantonese lead, then the two the rules bind to no skill (tags match whole and by case, as in the engine).
        Assert.Equal(["+8613900000001", "+8613900000002", "+8613900000003"], order);
        // Each call asked once per requirement it met, never about the refused requirement's other leads.
        Assert.True(asked <= 2 * 3 + 1, $"asked {asked} times");
        using (var c = t.Db.Connect())
        {
            // The claims left the refused requirement's leads in the table: only the first claim (before any refusal) took some.
            var leased = c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE lease_owner = 'node-a' AND tags = 'high-value' AND state = 0");
            Assert.True(leased <= h.MinBatch, $"{leased} senior-bound leads leased");
        }
        // Passed over, the senior-bound leads kept their place: the first of them is next once a senior is free.
        Assert.Equal("+8613800000000", ((ILeadSource)h).Next(TestDb.Noon, _ => true)?.Phone);
    }

    /// <summary>
    /// Two campaigns holding the same 200 customers, claimed at once by two nodes in small batches (both walk them in the same
    /// order): every customer goes to one of them, never to both; the other holds its lead (customer_in_call).
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Two_campaigns_claiming_at_once_never_both_take_one_customer(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var csv = new StringBuilder("phone,region,timezone,customer_id\n");
        for (var i = 0; i < 200; i++) csv.Append($"+86138{i:D8},CN,Asia/Shanghai,C{i}\n");
        var campaigns = new[] { t.Campaign("renewals"), t.Campaign("life") };
        foreach (var c in campaigns) t.Import(c, csv.ToString());
        var taken = new List<string>[] { [], [] };
        using var start = new Barrier(2);
        var nodes = Enumerable.Range(0, 2).Select(n => new Thread(() =>
        {
            var h = Hopper(t, campaigns[n], owner: $"node-{n}", batch: 10);
            start.SignalAndWait();
            while (h.Next(TestDb.Noon) is { } lead) taken[n].Add(lead.CustomerId!);
        })).ToList();
        nodes.ForEach(n => n.Start());
        nodes.ForEach(n => n.Join());
        Assert.Empty(taken[0].Intersect(taken[1]));
        Assert.Equal(200, taken[0].Concat(taken[1]).Distinct().Count());
        using var db = t.Db.Connect();
        Assert.Equal(200L, db.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE held_by = 'customer_in_call'"));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void An_expired_lease_hands_the_lead_to_another_node(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n");
        var a = Hopper(t, id, owner: "a");
        var b = Hopper(t, id, owner: "b");
        Assert.NotNull(a.Next(TestDb.Noon));
        Assert.Null(b.Next(TestDb.Noon.AddMinutes(1)));              // leased to a
        Assert.NotNull(b.Next(TestDb.Noon.AddMinutes(6)));           // a's 5-minute lease ran out
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_slow_node_renews_its_own_leases_instead_of_waiting_them_out(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n");
        var a = Hopper(t, id, owner: "a");
        var first = a.Next(TestDb.Noon)!;
        first.Attempts = 1;
        a.Finished(first, CallOutcome.Human, TestDb.Noon.AddMinutes(1));
        // 4¾ minutes on, the buffered lead's lease is too close to its end to dial on: it is renewed, not lost.
        var second = a.Next(TestDb.Noon.AddMinutes(4.75));
        Assert.NotNull(second);
        a.Release(second, TestDb.Noon.AddMinutes(4.75));
        Assert.Null(Hopper(t, id, owner: "b").Next(TestDb.Noon.AddMinutes(6)));
        Assert.Equal(second.Id, a.Next(TestDb.Noon.AddMinutes(6))?.Id);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_paused_campaign_hands_out_nothing_and_gives_its_buffered_leases_back(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n");
        var a = Hopper(t, id, owner: "a");
        Assert.NotNull(a.Next(TestDb.Noon));                          // claims both, hands out one
        new Campaigns(t.Db).SetStatus(id, CampaignStatus.Paused, TestDb.Noon);
        Assert.Null(a.Next(TestDb.Noon.AddSeconds(2)));
        new Campaigns(t.Db).SetStatus(id, CampaignStatus.Running, TestDb.Noon);
        Assert.NotNull(Hopper(t, id, owner: "b").Next(TestDb.Noon.AddSeconds(3))); // the buffered one is free again
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Finished_schedules_the_retry_or_retires_the_lead_and_a_refusal_adds_dnc(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n");
        var h = Hopper(t, id);
        var busy = h.Next(TestDb.Noon)!;
        var human = h.Next(TestDb.Noon)!;
        busy.Attempts = human.Attempts = 1;
        h.Finished(busy, CallOutcome.Busy, TestDb.Noon);
        h.Finished(human, CallOutcome.Human, TestDb.Noon);
        Assert.Null(h.Next(TestDb.Noon.AddMinutes(5)));                       // busy retries after 600 s
        Assert.Equal(busy.Id, h.Next(TestDb.Noon.AddMinutes(11))?.Id);
        h.Release(busy, TestDb.Noon.AddMinutes(11));

        var dnc = new Dnc(t.Db, TestDb.Pii);
        new Dispositions(t.Db).Record(busy.Id, null, "agent-1", "refused", null, dncDays: 183, TestDb.Noon);
        Assert.Null(h.Next(TestDb.Noon.AddDays(1)));                         // the refusal ended it
        Assert.True(dnc.Contains("+8613800000001", TestDb.Noon.AddDays(182)));
        Assert.False(dnc.Contains("+8613800000001", TestDb.Noon.AddDays(184)));
    }

    /// <summary>
    /// A call that never reached the network (its originate refused, or called off at stop before it left) gives its attempt
    /// back to the lead: its row goes too, so a lead's attempts count and its attempt rows agree (ClusterTests found one
    /// lead with a row more than its count after a stop).
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_call_that_never_left_leaves_no_attempt_row_and_the_lead_keeps_its_count(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n");
        var config = new CampaignSettings().ToConfig("renewals");
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = config,
            Agents = [new Agent { Index = 0, Id = "a1", Skills = new SkillSet() }],
            Trunks = [new TrunkConfig { Name = "t", Channels = 2, CallsPerSecond = 10, RatePerMinute = new Dictionary<string, double> { ["+"] = 0.01 } }],
            Pacer = new RatioPacer(2), Control = new Refusing(), Leads = Hopper(t, id), Log = new DbAttemptLog(t.Db, id, "node-a"), Predictor = new NoPrediction(),
        }, TestDb.Noon);
        engine.Handle(EngineEvent.Login(0), TestDb.Noon);
        engine.Tick(TestDb.Noon);
        var calls = engine.LiveCalls.ToList();
        Assert.Equal(2, calls.Count);
        engine.Handle(EngineEvent.Failed(calls[0].Id, CallCommand.Originate, "ARI: connection refused"), TestDb.Noon.AddSeconds(0.1));
        engine.Handle(EngineEvent.Ended(calls[1].Id, CallOutcome.Busy), TestDb.Noon.AddSeconds(9)); // placed and busy: it keeps its row

        using var c = t.Db.Connect();
        var leads = c.Query<(long Id, long Attempts, long Rows)>(
            "SELECT l.id, l.attempts, (SELECT COUNT(*) FROM attempts a WHERE a.lead_id = l.id) FROM leads l ORDER BY l.id").ToList();
        Assert.Equal([(calls[0].Lead.Id, 0L, 0L), (calls[1].Lead.Id, 1L, 1L)], leads.OrderBy(l => l.Id != calls[0].Lead.Id));
    }

    private sealed class Refusing : ICallControl
    {
        public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout) { }
        public void Connect(Call call, Agent agent) { }
        public void SafeHarbor(Call call) { }
        public void Hangup(Call call) { }
        public void RunScript(Call call, Dialer.Core.Modes.ScriptRun run) { }
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void With_a_predictor_a_retry_is_due_at_the_leads_best_hour_within_its_calling_window(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n");
        var config = new CampaignSettings().ToConfig("renewals");
        var h = new DbLeadSource(t.Db, TestDb.Pii, id, config, "node-a") { BestTime = new PeakHour(10) };
        var lead = h.Next(TestDb.Noon)!;
        lead.Attempts = 1;
        // Busy at 20:00 Shanghai: it may be retried from 20:10; of the open hours after that, 10:10 the next morning rates best.
        h.Finished(lead, CallOutcome.Busy, TestDb.Noon);
        var best = new DateTime(2026, 11, 21, 2, 10, 0, DateTimeKind.Utc);
        using (var c = t.Db.Connect())
            Assert.Equal(best, DateTimeOffset.FromUnixTimeMilliseconds(c.ExecuteScalar<long>("SELECT due_at FROM leads WHERE id = @Id", new { lead.Id })).UtcDateTime);
        Assert.Null(h.Next(TestDb.Noon.AddMinutes(11)));              // the window is still open, but this is not the lead's hour
        Assert.Null(h.Next(best.AddMinutes(-1)));
        Assert.Equal(lead.Id, h.Next(best)?.Id);
    }

    [Fact]
    public async Task Two_nodes_sharing_a_postgres_campaign_of_100000_leads_never_claim_the_same_lead()
    {
        using var t = new TestDb("postgres", pg);
        var id = t.Campaign();
        var csv = new StringBuilder("phone,region,timezone,priority\n");
        for (var i = 0; i < 100_000; i++) csv.Append("+86138").Append(i.ToString("D8")).Append(",CN,Asia/Shanghai,").Append(i % 7).Append('\n');
        Assert.Equal(100_000, t.Import(id, csv.ToString()).Accepted);

        var nodes = new[] { Hopper(t, id, owner: "a"), Hopper(t, id, owner: "b") };
        var claimed = nodes.Select(h => Task.Run(() =>
        {
            var ids = new List<long>();
            // Bounded: a hopper handing out leads twice would otherwise loop forever instead of failing.
            while (ids.Count <= 100_000 && h.Next(TestDb.Noon) is { } lead) ids.Add(lead.Id);
            return ids;
        })).ToArray();
        var results = await Task.WhenAll(claimed).WaitAsync(TimeSpan.FromSeconds(90));
        var (a, b) = (results[0], results[1]);
        Assert.Empty(a.Intersect(b));
        Assert.Equal(100_000, a.Concat(b).Distinct().Count());
        Assert.True(a.Count > 0 && b.Count > 0, $"both nodes should get work: {a.Count} / {b.Count}");
    }

    /// <summary>
    /// The list-bound rule's count (a short list is not dialed ahead of the team), from the table as the in-memory hopper counts
    /// its own: the pending leads the rules let be dialed within two days and their attempts left, recounted every half hour.
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_stock_counts_the_leads_due_within_two_days_and_their_attempts_left_every_half_hour(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n" + string.Concat(Enumerable.Range(1, 6).Select(i => $"+861380000000{i},CN,Asia/Shanghai\n")));
        using (var c = t.Db.Connect())
        {
            c.Execute("UPDATE leads SET due_at = @later WHERE id = 1", new { later = new DateTimeOffset(TestDb.Noon.AddDays(5)).ToUnixTimeMilliseconds() }); // past the horizon
            c.Execute("UPDATE leads SET attempts = 1 WHERE id = 2");
            c.Execute("UPDATE leads SET state = 2 WHERE id = 3"); // done
            c.Execute("UPDATE leads SET attempts = 6 WHERE id = 4"); // every attempt used
        }
        var h = Hopper(t, id);
        Assert.Equal(new LeadStock(3, 5 + 6 + 6), h.Stock(TestDb.Noon));
        using (var c = t.Db.Connect()) c.Execute("UPDATE leads SET state = 2 WHERE id = 5");
        Assert.Equal(new LeadStock(3, 17), h.Stock(TestDb.Noon.AddMinutes(10)));
        Assert.Equal(new LeadStock(2, 11), h.Stock(TestDb.Noon.AddSeconds(LeadStock.RecountSeconds)));
    }
}
