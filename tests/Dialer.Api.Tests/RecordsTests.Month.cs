using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Dialer.Store;
using Dialer.Tests;

namespace Dialer.Api.Tests;

/// <summary>The call and attribution reports on a simulated month (opt-in: DIALER_LOAD=1): their run time, and their figures against direct SQL counts.</summary>
public sealed partial class RecordsTests
{
    [LoadFact]
    public async Task A_month_of_half_a_million_attempts_reports_in_seconds_and_matches_a_direct_count()
    {
        const int attempts = 500_000, agents = 40;
        var leads = await Campaign("month", 2000);
        var start = Ms("2026-11-01T00:00:00Z");
        var rng = new Random(12);
        var wall = System.Diagnostics.Stopwatch.StartNew();
        using (var db = StoreDb.Open(Db))
        {
            // Policies expiring over five months from the month's start: every days-to-expiry bucket is filled.
            db.Write((c, tx) => c.Execute("UPDATE leads SET policy_expiry = @expiry WHERE id = @id",
                leads.Select(id => new { id, expiry = int.Parse(new DateOnly(2026, 11, 1).AddDays((int)(id * 37 % 150) - 10).ToString("yyyyMMdd"), System.Globalization.CultureInfo.InvariantCulture) }), tx));
            for (var batch = 0; batch < attempts / 50_000; batch++)
                db.Write((c, tx) =>
                {
                    for (var i = batch * 50_000; i < (batch + 1) * 50_000; i++)
                    {
                        var placed = start + (long)(rng.NextDouble() * 30 * 86_400_000);
                        var roll = rng.NextDouble();
                        var outcome = roll < 0.3 ? "human" : roll < 0.31 ? "abandoned" : roll < 0.45 ? "machine" : roll < 0.6 ? "busy" : "no_answer";
                        string? agent = outcome == "human" ? $"a{rng.Next(agents)}" : null;
                        c.Execute("""
                            INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, agent, placed_at, answered_at, connected_at, ended_at, outcome)
                            VALUES (@id, (SELECT id FROM campaigns WHERE name = 'month'), @lead, 1, @channel, 'n1', 0, @agent, @placed, @answered, @connected, @ended, @outcome)
                            """, new
                        {
                            id = i + 1, lead = leads[i % leads.Length], channel = $"dialer-n1-{i + 1}", agent, placed,
                            answered = outcome is "human" or "abandoned" ? placed + 8000 : (long?)null, connected = agent is null ? (long?)null : placed + 8300,
                            ended = placed + 8300 + (agent is null ? 0 : rng.Next(30_000, 600_000)), outcome,
                        }, tx);
                        if (agent is not null && rng.NextDouble() < 0.2)
                            c.Execute("INSERT INTO dispositions (attempt_id, lead_id, agent_id, code, created_at) VALUES (@a, @l, @agent, @code, @at)",
                                new { a = i + 1, l = leads[i % leads.Length], agent, code = rng.NextDouble() < 0.4 ? "renewed" : "callback", at = placed + 60_000 }, tx);
                    }
                    return 0;
                });
        }
        output.WriteLine($"{attempts:N0} attempts written in {wall.Elapsed.TotalSeconds:0.0} s");
        using var check = StoreDb.Open(Db);
        using var conn = check.Connect();
        var direct = conn.QuerySingle<(long Calls, long Live, long Abandoned, long TalkMs)>("""
            SELECT COUNT(*), SUM(CASE WHEN outcome IN ('human','abandoned') THEN 1 ELSE 0 END), SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN connected_at IS NOT NULL THEN ended_at - connected_at ELSE 0 END) FROM attempts
            """);
        var renewed = conn.ExecuteScalar<long>("SELECT COUNT(*) FROM dispositions WHERE code = 'renewed'");
        foreach (var by in new[] { "day", "hour", "agent" })
        {
            var timer = System.Diagnostics.Stopwatch.StartNew();
            var rows = (await _http.GetFromJsonAsync<JsonElement>($"/reports/calls?campaign=month&by={by}")).GetProperty("rows").EnumerateArray().ToList();
            output.WriteLine($"by={by}: {rows.Count} rows in {timer.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(direct.Calls, rows.Sum(r => r.GetProperty("calls").GetInt64()));
            Assert.Equal(direct.Live, rows.Sum(r => r.GetProperty("live_answers").GetInt64()));
            Assert.Equal(direct.Abandoned, rows.Sum(r => r.GetProperty("abandoned").GetInt64()));
            Assert.Equal(direct.TalkMs / 1000.0, rows.Sum(r => r.GetProperty("talk_seconds").GetDouble()), 3);
            Assert.Equal(renewed, rows.Sum(r => r.GetProperty("conversions").GetInt64()));
        }

        // Attribution by days to expiry at contact, against SQLite's own date arithmetic (Shanghai is UTC+8 all year).
        var direct2 = conn.Query<(string Bucket, long Contacts, long Converted)>("""
            SELECT CASE WHEN days < 0 THEN 'expired' WHEN days <= 7 THEN '0-7 days' WHEN days <= 14 THEN '8-14 days' WHEN days <= 30 THEN '15-30 days'
                        WHEN days <= 60 THEN '31-60 days' WHEN days <= 90 THEN '61-90 days' ELSE '91+ days' END, COUNT(*), SUM(converted)
            FROM (SELECT CAST(julianday(printf('%04d-%02d-%02d', l.policy_expiry / 10000, l.policy_expiry / 100 % 100, l.policy_expiry % 100))
                              - julianday(date(a.placed_at / 1000 + 28800, 'unixepoch')) AS INTEGER) AS days,
                         EXISTS (SELECT 1 FROM dispositions d WHERE d.attempt_id = a.id AND d.code = 'renewed') AS converted
                  FROM attempts a JOIN leads l ON l.id = a.lead_id WHERE a.connected_at IS NOT NULL)
            GROUP BY 1
            """).ToDictionary(r => r.Bucket);
        var attribution = System.Diagnostics.Stopwatch.StartNew();
        var buckets = (await _http.GetFromJsonAsync<JsonElement>("/reports/attribution?campaign=month&by=expiry")).GetProperty("rows").EnumerateArray().ToList();
        output.WriteLine($"attribution by=expiry: {buckets.Count} rows in {attribution.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(7, buckets.Count);
        foreach (var b in buckets)
        {
            var d = direct2[b.GetProperty("key").GetString()!];
            Assert.Equal(d.Contacts, b.GetProperty("contacts").GetInt64());
            Assert.Equal(d.Converted, b.GetProperty("converted").GetInt64());
        }
        foreach (var by in new[] { "hour", "seniority" })
        {
            var timer = System.Diagnostics.Stopwatch.StartNew();
            var rows = (await _http.GetFromJsonAsync<JsonElement>($"/reports/attribution?campaign=month&by={by}")).GetProperty("rows").EnumerateArray().ToList();
            output.WriteLine($"attribution by={by}: {rows.Count} rows in {timer.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(direct2.Values.Sum(d => d.Contacts), rows.Sum(r => r.GetProperty("contacts").GetInt64()));
        }
    }
}
