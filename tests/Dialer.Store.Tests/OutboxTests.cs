using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Npgsql;

namespace Dialer.Store.Tests;

/// <summary>The store outbox on a real PostgreSQL whose connections are killed (57P01, as a restart does) or whose table is locked (a stall).</summary>
[Collection("db")]
public class OutboxTests(PostgresServer pg)
{
    private const int Leads = 60;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    /// <summary>A campaign of <see cref="Leads"/> leads behind an outbox, as the runtime wires it; <paramref name="stored"/> hears each AttemptStored.</summary>
    private (TestDb T, StoreOutbox Outbox) Start(List<long> stored)
    {
        var t = new TestDb("postgres", pg);
        var id = t.Campaign();
        var report = t.Import(id, "phone,region,timezone\n" + string.Concat(Enumerable.Range(0, Leads).Select(i => $"+86138{i:D8},CN,Asia/Shanghai\n")));
        Assert.True(report.Accepted == Leads, string.Join("; ", report.Errors.Select(e => $"{e.Row} {e.Field} {e.Reason}")));
        var leads = new DbLeadSource(t.Db, TestDb.Pii, id, new CampaignSettings().ToConfig("renewals"), "node-a");
        var outbox = new StoreOutbox(leads, new DbAttemptLog(t.Db, id, "node-a"), e =>
        {
            if (e.Kind == EventKind.AttemptStored) lock (stored) stored.Add(e.CallId); // not LeadsStocked
            return default;
        }, new AtNoon())
        {
            IsOpen = leads.IsRunning, Due = leads.ClaimDue, Batch = t.Db.Batch, OnStopped = leads.ReleaseAllLeases, MaxLag = TimeSpan.FromMilliseconds(100),
        };
        outbox.Start();
        return (t, outbox);
    }

    /// <summary>The outbox's clock stays at the leads' import day, inside their calling window.</summary>
    private sealed class AtNoon : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => TestDb.Noon;
    }

    /// <summary>Plays the engine: takes each lead the prefetch has, places its call, and reports the attempt over (busy).</summary>
    private static async Task<List<Call>> Dial(StoreOutbox outbox, int count, Action<int>? between = null)
    {
        ILeadSource leads = outbox;
        IAttemptLog log = outbox;
        var calls = new List<Call>();
        var until = DateTime.UtcNow + Bound;
        while (calls.Count < count)
        {
            if (DateTime.UtcNow > until) Assert.Fail($"only {calls.Count} leads came through the prefetch ({outbox.ClaimFailures} claim failures: {outbox.LastError})");
            if (leads.Next(TestDb.Noon) is not { } lead) { await Task.Delay(5); continue; }
            lead.Attempts++;
            var call = new Call { Id = 1000 + calls.Count, Lead = lead, Attempt = lead.Attempts, Trunk = 0, PlacedAt = TestDb.Noon, PLive = 0.3f };
            log.Placed(call);
            leads.Finished(lead, CallOutcome.Busy, TestDb.Noon);
            calls.Add(call);
            between?.Invoke(calls.Count);
        }
        return calls;
    }

    private static void KillConnections(TestDb t)
    {
        using var c = new NpgsqlConnection(t.Connection + ";Pooling=false");
        c.Open();
        c.Execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    }

    [Fact]
    public async Task Connections_killed_as_by_a_restart_hold_placement_then_every_row_is_written_once_and_reported_stored_once()
    {
        var stored = new List<long>();
        var (t, outbox) = Start(stored);
        using var _ = t;
        var calls = await Dial(outbox, 40, n => { if (n % 10 == 0) KillConnections(t); });
        var until = DateTime.UtcNow + Bound;
        while (outbox.Backlog > 0 && DateTime.UtcNow < until) await Task.Delay(20);
        // Killed once more with everything written: nothing uses the pool until the stop, whose hand-back of the leases is
        // the first to meet a dead connection (what failed 1 run in 2, when the last kill came after the last write).
        KillConnections(t);
        Assert.Equal(0, await outbox.StopAsync(TimeSpan.FromSeconds(10)));
        Assert.True(outbox.WriteFailures + outbox.ClaimFailures > 0, "the killed connections never hurt: the test did not test");
        Assert.Equal(calls.Select(c => c.Id), stored); // each row reported durable once, in order
        using var c = t.Db.Connect();
        Assert.Equal(calls.Select(x => x.Id), c.Query<long>("SELECT id FROM attempts ORDER BY id"));
        // Every lead dialed is back pending with its attempt; none is left leased or dialing.
        Assert.Equal(40, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE attempts = 1 AND state = 0 AND last_outcome = 'busy'"));
        // The hand-back at stop meets connections killed while idle in the pool: it is retried, and loses no lead it failed on;
        // nor is a lead lost that a refill took from the source before the source's next claim met a killed connection.
        var leased = c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 1 OR lease_owner IS NOT NULL");
        Assert.True(leased == 0, $"{leased} leads left leased after the stop (last store error: {outbox.LastError})");
    }

    [Fact]
    public async Task A_database_stalled_10_s_holds_new_placements_without_blocking_and_they_resume_by_themselves()
    {
        var stored = new List<long>();
        var (t, outbox) = Start(stored);
        using var _ = t;
        await Dial(outbox, 5);
        var until = DateTime.UtcNow + Bound;
        while (stored.Count < 5 && DateTime.UtcNow < until) await Task.Delay(20);
        IAttemptLog log = outbox;
        Assert.True(log.Accepting);

        await using var locker = new NpgsqlConnection(t.Connection + ";Pooling=false");
        await locker.OpenAsync();
        var tx = await locker.BeginTransactionAsync();
        await locker.ExecuteAsync("LOCK TABLE attempts IN ACCESS EXCLUSIVE MODE", transaction: tx);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await Dial(outbox, 1);
        Assert.True(sw.ElapsedMilliseconds < 1000, $"placing took {sw.ElapsedMilliseconds} ms: the loop was blocked");
        await Task.Delay(500);
        Assert.False(log.Accepting); // no new call while its row cannot be written
        await Task.Delay(9_500);
        Assert.False(log.Accepting);
        await tx.RollbackAsync();
        until = DateTime.UtcNow + Bound;
        // Accepting turns back on with the write; the row's "stored" report to the engine follows it.
        while ((!log.Accepting || stored.Count < 6) && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.True(log.Accepting);
        Assert.Equal(6, stored.Count);
        Assert.Equal(0, await outbox.StopAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>The engine reads the lead stock before every decision from the outbox, which has it from the worker's read of the source: no I/O on the loop.</summary>
    [Fact]
    public async Task The_lead_stock_comes_from_the_source_by_the_worker()
    {
        var (t, outbox) = Start([]);
        using var _ = t;
        ILeadSource leads = outbox;
        var until = DateTime.UtcNow + Bound;
        while (!leads.Stock(TestDb.Noon).Known && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.Equal(new LeadStock(Leads, Leads * 6), leads.Stock(TestDb.Noon));
        Assert.Equal(0, await outbox.StopAsync(TimeSpan.FromSeconds(10)));
    }
}
