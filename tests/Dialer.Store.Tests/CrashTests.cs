using Dialer.Core.Domain;
using System.Diagnostics;
using Dapper;
using Dialer.Sim;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class CrashTests(PostgresServer pg)
{
    private static readonly string ScenarioFile = Path.Combine(AppContext.BaseDirectory, "crash-scenario.yaml");

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public async Task Kill_9_mid_campaign_then_restart_loses_no_lead_and_dials_none_twice(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var scenario = Scenario.Load(ScenarioFile);
        var config = scenario.Campaign;
        var id = t.Campaign(settings: new CampaignSettings { TimeZone = config.TimeZone.Id });
        var imported = t.Import(id, LeadFactory.ToCsv(LeadFactory.Create(scenario, 1)));
        var leads = imported.Accepted;
        Assert.Equal(0, imported.Rejected);

        // Run 1: the simulator on the store, slowed so it is mid-campaign when it is killed.
        const int PlacedBeforeKill = 150;
        using (var run1 = Worker(t, id, msPerMinute: 100))
        {
            var placed = 0;
            while (placed < PlacedBeforeKill && await run1.StandardOutput.ReadLineAsync() is { } line)
                if (line.StartsWith("placed ")) placed++;
            run1.Kill(); // SIGKILL: no cleanup runs
            await run1.WaitForExitAsync();
            Assert.True(placed == PlacedBeforeKill, $"run 1 ended after {placed} calls: {await run1.StandardError.ReadToEndAsync()}");
        }

        using var c = t.Db.Connect();
        var open = c.Query<long>("SELECT lead_id FROM attempts WHERE ended_at IS NULL").ToHashSet();
        Assert.NotEmpty(open);                                                                         // calls were up at the kill
        Assert.True(c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 0 AND attempts = 0") > 0); // and leads never dialed yet

        // Run 2: reconciles (no call survives the simulator's process), then plays the rest of the shift out.
        using (var run2 = Worker(t, id, msPerMinute: 0))
        {
            var output = await run2.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromMinutes(3));
            await run2.WaitForExitAsync();
            Assert.True(run2.ExitCode == 0, output + await run2.StandardError.ReadToEndAsync());
            Assert.Contains($"reconciled closed={open.Count} live=0", output);
            Assert.EndsWith("done", output.TrimEnd());
        }

        var attempts = c.Query<(long Id, string ChannelId, long LeadId, long PlacedAt, long? EndedAt, long Reconciled)>(
            "SELECT id, channel_id, lead_id, placed_at, ended_at, reconciled FROM attempts ORDER BY lead_id, placed_at, id").ToList();
        Assert.Equal(attempts.Count, attempts.Select(a => a.Id).Distinct().Count());        // no call id used twice
        Assert.Equal(attempts.Count, attempts.Select(a => a.ChannelId).Distinct().Count()); // nor any channel id
        Assert.Equal(open.Count, attempts.Count(a => a.Reconciled == 1));
        Assert.All(attempts, a => Assert.NotNull(a.EndedAt));                                 // every call accounted for

        var retryAfterLoss = (long)(config.RetryDelaySeconds[Core.Domain.CallOutcome.Congestion] * 1000);
        foreach (var perLead in attempts.GroupBy(a => a.LeadId))
        {
            var list = perLead.ToList();
            Assert.True(list.Count <= config.MaxAttempts, $"lead {perLead.Key} was dialed {list.Count} times; the cap is {config.MaxAttempts}");
            var perDay = list.CountBy(a => DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(DateTimeOffset.FromUnixTimeMilliseconds(a.PlacedAt).UtcDateTime, config.TimeZone)));
            Assert.All(perDay, d => Assert.True(d.Value <= config.MaxAttemptsPerDay, $"lead {perLead.Key} was dialed {d.Value} times on {d.Key}"));
            for (var i = 1; i < list.Count; i++)
            {
                // Never two calls to one lead at once, and a call lost in the crash is not followed straight away.
                Assert.True(list[i].PlacedAt >= list[i - 1].EndedAt, $"lead {perLead.Key}: attempt {list[i].Id} placed while {list[i - 1].Id} was open");
                if (list[i - 1].Reconciled == 1)
                    Assert.True(list[i].PlacedAt >= list[i - 1].EndedAt + retryAfterLoss, $"lead {perLead.Key} was dialed again straight after its call was lost");
            }
        }

        // No lead lost: each is done or pending again, and its attempt count is the calls it had.
        var states = c.Query<(long Id, long State, long Attempts, long Rows)>("""
            SELECT l.id, l.state, l.attempts, (SELECT COUNT(*) FROM attempts a WHERE a.lead_id = l.id) FROM leads l
            """).ToList();
        Assert.Equal(leads, states.Count);
        Assert.All(states, l =>
        {
            Assert.True(l.State is 0 or 2, $"lead {l.Id} is left in state {l.State}");
            Assert.Equal(l.Rows, l.Attempts);
            if (l.State == 2) Assert.True(l.Attempts > 0, $"lead {l.Id} is done without a call");
        });
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Reconcile_leaves_a_live_call_open_and_sends_a_lost_calls_lead_back_after_the_retry_delay(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        var id = t.Campaign();
        t.Import(id, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai\n");
        var config = new CampaignSettings().ToConfig("renewals");
        var hopper = new DbLeadSource(t.Db, TestDb.Pii, id, config, "node-1");
        var log = new DbAttemptLog(t.Db, id, "node-1");
        var first = log.ReserveCallIds();
        var calls = new[] { hopper.Next(TestDb.Noon)!, hopper.Next(TestDb.Noon)! }.Select((lead, i) =>
        {
            lead.Attempts++;
            var call = new Core.Domain.Call { Id = first + i, Lead = lead, Attempt = 1, Trunk = 0, PlacedAt = TestDb.Noon, PLive = 0.5f };
            log.Placed(call);
            return call;
        }).ToList();

        var restart = TestDb.Noon.AddMinutes(5);
        var r = log.Reconcile(new HashSet<string> { calls[0].ChannelId }, config, restart);
        Assert.Equal(1, r.Closed);
        Assert.Equal([calls[0].ChannelId], r.StillLive);
        using var c = t.Db.Connect();
        var leads = c.Query<(long Id, long State, long DueAt)>("SELECT id, state, due_at FROM leads ORDER BY id").ToDictionary(l => l.Id);
        Assert.Equal(1, leads[calls[0].Lead.Id].State);                                  // its call may still be up: not handed out
        Assert.Equal(0, leads[calls[1].Lead.Id].State);                                  // lost: pending again,
        Assert.Equal(restart.AddSeconds(config.RetryDelaySeconds[Core.Domain.CallOutcome.Congestion]),
            DateTimeOffset.FromUnixTimeMilliseconds(leads[calls[1].Lead.Id].DueAt).UtcDateTime); // after the network-trouble delay
        Assert.Null(new DbLeadSource(t.Db, TestDb.Pii, id, config, "node-1").Next(restart));
    }

    private static Process Worker(TestDb t, long campaign, int msPerMinute)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { typeof(CrashWorker).Assembly.Location, "crash-worker", t.Connection, campaign.ToString(), "node-1", ScenarioFile, msPerMinute.ToString() })
            psi.ArgumentList.Add(a);
        psi.Environment[Pii.EnvVar] = Convert.ToBase64String(TestDb.PiiKey);
        return Process.Start(psi)!;
    }
}
