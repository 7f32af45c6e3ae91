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
}
