using Dapper;
using Dialer.Core.Compliance;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class OwnershipTests(PostgresServer pg)
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(10);

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void One_owner_per_campaign_until_its_lease_runs_out_then_the_next_node_takes_over_with_a_new_epoch(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var a = new CampaignOwnership(t.Db, "node-a");
        var b = new CampaignOwnership(t.Db, "node-b");

        var held = a.TryAcquire(id, Lease, TestDb.Noon)!;
        Assert.Equal(1, held.Epoch);
        Assert.Null(held.TakenFrom);
        Assert.Null(b.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(5)));
        held = a.Renew(held, Lease, TestDb.Noon.AddSeconds(5))!;
        Assert.Null(b.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(12))); // renewed: still a's until 00:15
        Assert.Equal("node-a", a.Owner(id, TestDb.Noon.AddSeconds(12)));

        // a dies (no renewal): b takes over once the lease ran out, and a's next renewal finds it lost.
        var taken = b.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(16))!;
        Assert.Equal(2, taken.Epoch);
        Assert.Equal("node-a", taken.TakenFrom);
        Assert.Null(a.Renew(held, Lease, TestDb.Noon.AddSeconds(17)));
        Assert.Equal("node-b", b.Owner(id, TestDb.Noon.AddSeconds(17)));
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_node_restarted_under_its_name_takes_its_campaign_back_at_once_and_a_release_hands_it_over(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var before = new CampaignOwnership(t.Db, "node-a").TryAcquire(id, Lease, TestDb.Noon)!;
        var restarted = new CampaignOwnership(t.Db, "node-a");
        var again = restarted.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(1))!;
        Assert.Equal(before.Epoch + 1, again.Epoch); // a new process: the old one's writes are stale
        Assert.Equal("node-a", again.TakenFrom);

        var b = new CampaignOwnership(t.Db, "node-b");
        Assert.Null(b.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(2)));
        restarted.Release(again); // drain: hand over on purpose
        var moved = b.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(2))!;
        Assert.Equal(1, moved.Epoch); // a released row is gone: the next owner starts a new row
        Assert.Null(moved.TakenFrom);
    }

    /// <summary>
    /// Each takeover remembers the owners before it until the campaign is handed back: the third owner knows the first (whose
    /// agent lines the second took back under their ids), a restart keeps the chain, and the node itself is never in it.
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void A_lease_names_every_owner_taken_over_since_the_campaign_was_last_handed_back(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        Assert.Empty(new CampaignOwnership(t.Db, "node-a").TryAcquire(id, Lease, TestDb.Noon)!.TakenOver);
        Assert.Equal(["node-a"], new CampaignOwnership(t.Db, "node-b").TryAcquire(id, Lease, TestDb.Noon.AddSeconds(11))!.TakenOver);
        var c = new CampaignOwnership(t.Db, "node-c").TryAcquire(id, Lease, TestDb.Noon.AddSeconds(22))!;
        Assert.Equal("node-b", c.TakenFrom);
        Assert.Equal(["node-b", "node-a"], c.TakenOver);
        var restarted = new CampaignOwnership(t.Db, "node-c").TryAcquire(id, Lease, TestDb.Noon.AddSeconds(23))!;
        Assert.Equal("node-c", restarted.TakenFrom);
        Assert.Equal(["node-b", "node-a"], restarted.TakenOver);
        // a comes back and takes it over: it is not its own predecessor.
        Assert.Equal(["node-c", "node-b"], new CampaignOwnership(t.Db, "node-a").TryAcquire(id, Lease, TestDb.Noon.AddSeconds(34))!.TakenOver);

        var owner = new CampaignOwnership(t.Db, "node-d");
        owner.Release(owner.TryAcquire(id, Lease, TestDb.Noon.AddSeconds(45))!); // drained: every line hung up
        Assert.Empty(new CampaignOwnership(t.Db, "node-e").TryAcquire(id, Lease, TestDb.Noon.AddSeconds(46))!.TakenOver);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_abandon_ledger_is_the_campaigns_a_new_engine_continues_the_days_and_30_days_counts_from_the_attempts(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        var other = t.Campaign("other");
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n");
        t.Import(other, "phone,region,timezone\n+8613800000002,CN,Asia/Shanghai\n");
        var shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");
        var now = TestDb.Noon; // 20:00 in Shanghai, 2026-11-20
        var n = 0;
        void Attempt(long campaign, long lead, DateTime answered, string outcome)
        {
            using var c = t.Db.Connect();
            c.Execute("""
                INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at, answered_at, ended_at, outcome)
                VALUES (@id, @campaign, @lead, 1, @ch, 'node-a', 0, @at, @at, @at, @outcome)
                """, new { id = ++n, campaign, lead, ch = $"c{n}", at = Time.Ms(answered), outcome });
        }
        // Today (local): 3 live, 1 of them abandoned; 16:30 UTC yesterday is 00:30 today in Shanghai.
        Attempt(id, 1, now.AddHours(-1), "human");
        Attempt(id, 1, now.AddHours(-2), "abandoned");
        Attempt(id, 1, now.AddHours(-19.5), "human");
        // Earlier in the 30 days: 2 live, 1 abandoned; a machine does not count; 40 days ago is outside.
        Attempt(id, 1, now.AddDays(-3), "human");
        Attempt(id, 1, now.AddDays(-3), "abandoned");
        Attempt(id, 1, now.AddDays(-3), "machine");
        Attempt(id, 1, now.AddDays(-40), "abandoned");
        Attempt(other, 2, now.AddHours(-1), "abandoned"); // another campaign's budget

        var ledger = new AbandonLedger(shanghai);
        ledger.Seed(AbandonHistory.Load(t.Db, id, shanghai, now), now);
        Assert.Equal((3, 1), (ledger.LiveToday, ledger.AbandonedToday));
        Assert.Equal((5, 2), (ledger.Live30, ledger.Abandoned30));

        // The window goes on rolling from the seeded days: in 28 days the day-3 answers fall out.
        ledger.Roll(now.AddDays(28));
        Assert.Equal((0, 0), (ledger.LiveToday, ledger.AbandonedToday));
        Assert.Equal((3, 1), (ledger.Live30, ledger.Abandoned30));
    }
}
