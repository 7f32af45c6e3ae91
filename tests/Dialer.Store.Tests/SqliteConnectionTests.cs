using Dapper;
using Microsoft.Data.Sqlite;

namespace Dialer.Store.Tests;

/// <summary>The embedded store's connections: pooled, each database handle set up (WAL, busy timeout, foreign keys) once.</summary>
public sealed class SqliteConnectionTests : IDisposable
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"dialer-conn-{Guid.NewGuid():N}.db");

    [Fact]
    public void A_pooled_connection_is_set_up_when_its_handle_is_new_and_not_again_at_every_open()
    {
        using var db = StoreDb.Open("sqlite:" + _file);
        using (var c = db.Connect())
        {
            Assert.Equal(10_000, c.ExecuteScalar<long>("PRAGMA busy_timeout"));
            c.Execute("PRAGMA busy_timeout = 1234"); // a mark on this handle: set up again, it would read 10,000
        }
        using (var c = db.Connect())
        {
            Assert.Equal(1234, c.ExecuteScalar<long>("PRAGMA busy_timeout"));
            SqliteConnection.ClearPool((SqliteConnection)c); // its handle is closed when it goes back
        }
        using (var c = db.Connect())
        {
            Assert.Equal(10_000, c.ExecuteScalar<long>("PRAGMA busy_timeout"));
            Assert.Equal(1, c.ExecuteScalar<long>("PRAGMA foreign_keys"));
            Assert.Equal("wal", c.ExecuteScalar<string>("PRAGMA journal_mode"));
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var f in new[] { _file, _file + "-wal", _file + "-shm" }) File.Delete(f);
    }
}
