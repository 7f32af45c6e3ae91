using Dapper;
using Dialer.Core.Domain;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class PacingHistoryTests(PostgresServer pg)
{
    /// <summary>
    /// A starting engine learns from the store's last attempts, each with its number on its lead: the rate table splits first
    /// attempts from retries, which answer differently. Every attempt once came back as a first (a lead with no count).
    /// </summary>
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void The_learned_history_carries_each_attempts_number_on_its_lead(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN-BJ,Asia/Shanghai\n");
        using (var c = t.Db.Connect())
        {
            var lead = c.ExecuteScalar<long>("SELECT id FROM leads WHERE campaign_id = @id", new { id });
            long Ms(DateTime at) => new DateTimeOffset(at).ToUnixTimeMilliseconds();
            foreach (var (n, outcome) in new[] { (1, "no_answer"), (2, "busy"), (3, "human") })
                c.Execute("""
                    INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at, ended_at, outcome)
                    VALUES (@n, @id, @lead, @n, @channel, 'node-a', 0, @placed, @ended, @outcome)
                    """, new { n, id, lead, channel = $"call-{n}", placed = Ms(TestDb.Noon.AddHours(n)), ended = Ms(TestDb.Noon.AddHours(n).AddSeconds(20)), outcome });
        }
        var history = PacingHistory.Load(t.Db, id, TestDb.Noon.AddHours(4));
        Assert.Equal([1, 2, 3], history.Select(a => a.Attempt));
        Assert.Equal([CallOutcome.NoAnswer, CallOutcome.Busy, CallOutcome.Human], history.Select(a => a.Outcome));
        Assert.All(history, a => Assert.Equal("CN-BJ", a.Lead.Region));
    }
}
