using System.Diagnostics;
using Dapper;

namespace Dialer.Store.Tests;

[Collection("db")]
public sealed class CrashTests(PostgresServer pg)
{
    private const int Leads = 200;

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public async Task Kill_9_mid_campaign_then_restart_loses_no_lead_and_dials_none_twice(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        // Machines end a lead (no retry for "machine"), so every lead should be dialed exactly once.
        var id = t.Campaign(settings: new CampaignSettings { RetryDelaySeconds = new() { ["busy"] = 600 } });
        t.Import(id, "phone,region,timezone\n" + string.Concat(Enumerable.Range(0, Leads).Select(i => $"+86138{i:D8},CN,UTC\n")));

        // Run 1: slowed down so it is still mid-campaign when it is killed.
        using (var run1 = Worker(t, id, TestDb.Noon, sleepMs: 5, liveFile: null))
        {
            var placed = 0;
            while (placed < 60 && await run1.StandardOutput.ReadLineAsync() is { } line)
                if (line.StartsWith("placed ")) placed++;
            run1.Kill(); // SIGKILL: no cleanup runs
            await run1.WaitForExitAsync();
            Assert.Equal(60, placed);
        }

        using var c = t.Db.Connect();
        var open = c.Query<string>("SELECT channel_id FROM attempts WHERE ended_at IS NULL ORDER BY id").ToList();
        Assert.NotEmpty(open);                                                  // calls were in flight at the kill
        Assert.True(c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 0") > 0); // and leads still to dial
        var leased = c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 0 AND lease_owner = 'node-1'");
        Assert.True(leased > 0, "the killed node held leases on leads it had not dialed yet");
        // The driver reports the last two channels still up in the network; the rest are gone.
        var stillLive = open.TakeLast(Math.Min(2, open.Count)).ToList();
        var liveFile = Path.GetTempFileName();
        File.WriteAllLines(liveFile, stillLive);
        try
        {
            using var run2 = Worker(t, id, TestDb.Noon.AddMinutes(1), sleepMs: 0, liveFile);
            var output = await run2.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
            await run2.WaitForExitAsync();
            Assert.True(run2.ExitCode == 0, output + await run2.StandardError.ReadToEndAsync());
            // The restarted node frees the leases it held on leads it never dialed at once, not after they run out.
            Assert.Contains($"closed={open.Count - stillLive.Count} live={stillLive.Count} released={leased}", output);
        }
        finally { File.Delete(liveFile); }

        var perLead = c.Query<(long LeadId, long Attempts, long Reconciled, long Open)>("""
            SELECT l.id, COUNT(a.id), COALESCE(SUM(a.reconciled), 0), COALESCE(SUM(CASE WHEN a.ended_at IS NULL THEN 1 ELSE 0 END), 0)
            FROM leads l LEFT JOIN attempts a ON a.lead_id = l.id GROUP BY l.id
            """).ToList();
        Assert.Equal(Leads, perLead.Count);
        var liveLeads = c.Query<long>($"SELECT lead_id FROM attempts WHERE channel_id IN ('{string.Join("','", stillLive)}')").ToHashSet();
        foreach (var l in perLead)
        {
            if (liveLeads.Contains(l.LeadId))
                Assert.Equal((1L, 0L, 1L), (l.Attempts, l.Reconciled, l.Open));  // its call may still be up: not dialed again
            else
                Assert.Equal(1 + l.Reconciled, l.Attempts);                     // once, plus once more only if its call was lost in the crash
            Assert.True(l.Attempts >= 1, $"lead {l.LeadId} was never dialed");
        }
        Assert.Equal(Leads - liveLeads.Count, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 2"));
        Assert.Equal(open.Count - stillLive.Count, perLead.Sum(l => l.Reconciled));
    }

    private static Process Worker(TestDb t, long campaign, DateTime start, int sleepMs, string? liveFile)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { typeof(CrashWorker).Assembly.Location, "crash-worker", t.Connection, campaign.ToString(), "node-1", start.Ticks.ToString(), sleepMs.ToString() })
            psi.ArgumentList.Add(a);
        if (liveFile is not null) psi.ArgumentList.Add(liveFile);
        psi.Environment[Pii.EnvVar] = Convert.ToBase64String(TestDb.PiiKey);
        return Process.Start(psi)!;
    }
}
