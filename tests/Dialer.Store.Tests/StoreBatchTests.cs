using System.Diagnostics;
using Dapper;

namespace Dialer.Store.Tests;

/// <summary>
/// <see cref="StoreDb.Batch"/>, the outbox's one transaction per batch, on PostgreSQL (SQLite's one writer would make the
/// second batch wait for the first): a node's campaigns each write through their own outbox thread on one store.
/// </summary>
[Collection("db")]
public class StoreBatchTests(PostgresServer pg)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Each_thread_has_its_own_batch_one_that_fails_undoes_all_its_writes_while_another_thread_s_batch_is_open_and_commits()
    {
        using var t = new TestDb("postgres", pg);
        t.Db.Write((c, tx) => c.Execute("CREATE TABLE probe (who text NOT NULL)", transaction: tx));
        void Insert(string who) => t.Db.Write((c, tx) => c.Execute("INSERT INTO probe (who) VALUES (@who)", new { who }, tx));
        using var aWrote = new ManualResetEventSlim();
        using var bOpen = new ManualResetEventSlim();
        using var aOver = new ManualResetEventSlim();
        // Campaign A's batch writes, campaign B's opens on another thread, A writes again and fails; B writes before and after A's end.
        var a = Task.Factory.StartNew(() => Assert.Throws<InvalidOperationException>(() => t.Db.Batch(() =>
        {
            Insert("a1");
            aWrote.Set();
            Assert.True(bOpen.Wait(Bound));
            Insert("a2");
            throw new InvalidOperationException("campaign A's batch fails");
        })), TaskCreationOptions.LongRunning);
        var b = Task.Factory.StartNew(() => t.Db.Batch(() =>
        {
            Assert.True(aWrote.Wait(Bound));
            bOpen.Set();
            Insert("b1");
            Assert.True(aOver.Wait(Bound));
            Insert("b2");
        }), TaskCreationOptions.LongRunning);
        await a.WaitAsync(Bound);
        aOver.Set();
        await b.WaitAsync(Bound);
        using var c = t.Db.Connect();
        // With one batch field for the store, B's batch replaced A's: A's second write committed alone, outside its failed batch.
        Assert.Equal(["b1", "b2"], c.Query<string>("SELECT who FROM probe ORDER BY who"));
    }

    [Fact]
    public void A_batch_s_writes_reach_PostgreSQL_as_one_command_behind_one_fence_check_and_under_another_epoch_none_lands()
    {
        using var t = new TestDb("postgres", pg);
        var campaign = t.Campaign();
        var lease = new CampaignOwnership(t.Db, "node-a").TryAcquire(campaign, TimeSpan.FromMinutes(1), TestDb.Noon)!;
        t.Db.Write((c, tx) => c.Execute("CREATE TABLE probe (n bigint NOT NULL, note text)", transaction: tx));
        // Npgsql starts one activity per command sent (a batch is one): counted on this thread, the batch's.
        var thread = Environment.CurrentManagedThreadId;
        var commands = 0;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStarted = _ => { if (Environment.CurrentManagedThreadId == thread) Interlocked.Increment(ref commands); },
        };
        ActivitySource.AddActivityListener(listener);
        void Write(CampaignFence fence, int rows) => t.Db.Batch(() =>
        {
            for (var i = 0; i < rows; i++)
                t.Db.Send(fence, new Statement("INSERT INTO probe (n, note) VALUES (@n, @note)", new { n = (long)i, note = i % 2 == 0 ? null : "odd" }));
        });

        Write(new CampaignFence(campaign, lease.Epoch), 300);
        Assert.Equal(1, commands); // was one command per statement and one for the fence: 301
        var stale = new CampaignFence(campaign, lease.Epoch - 1);
        Assert.Throws<CampaignFencedException>(() => Write(stale, 300));
        Assert.True(stale.WasRefused);
        using var c = t.Db.Connect();
        Assert.Equal(300, c.ExecuteScalar<long>("SELECT COUNT(*) FROM probe"));
        Assert.Equal(150, c.ExecuteScalar<long>("SELECT COUNT(*) FROM probe WHERE note IS NULL"));
    }
}
