using System.Collections.Concurrent;
using System.Data.Common;
using System.Reflection;
using System.Runtime.CompilerServices;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace Dialer.Store;

/// <summary>
/// The one store: Dapper queries shared by both databases, with the few places they differ
/// (connections, bulk insert, row locking) in <see cref="SqlDialect"/>.
/// </summary>
public sealed class StoreDb : IDisposable
{
    /// <summary>Environment variable holding the connection string when --db is not given.</summary>
    public const string EnvVar = "DIALER_DB";

    static StoreDb() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    private StoreDb(SqlDialect dialect) => Dialect = dialect;

    public SqlDialect Dialect { get; }

    /// <summary>
    /// <c>sqlite:PATH</c> opens (and creates) an embedded database file; anything else is a PostgreSQL
    /// connection string (<c>Host=...;Database=...</c>).
    /// </summary>
    public static StoreDb Open(string connection)
    {
        if (string.IsNullOrWhiteSpace(connection))
            throw new ArgumentException($"database: empty connection string (pass --db or set {EnvVar})");
        if (connection.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            var path = connection["sqlite:".Length..];
            if (path.Length == 0) throw new ArgumentException("database: 'sqlite:' needs a file path, e.g. sqlite:dialer.db");
            return new StoreDb(new SqliteDialect(path));
        }
        try { return new StoreDb(new PostgresDialect(connection)); }
        catch (ArgumentException e) { throw new ArgumentException($"database: not 'sqlite:PATH' and not a valid PostgreSQL connection string ({e.Message})", e); }
    }

    /// <summary>--db if given, else <see cref="EnvVar"/>, else the embedded default file.</summary>
    public static string Resolve(string? option) =>
        option ?? (Environment.GetEnvironmentVariable(EnvVar) is { Length: > 0 } env ? env : "sqlite:dialer.db");

    public DbConnection Connect() => Dialect.Open();

    // The batch each thread has open (an outbox's worker): that thread's writes join its transaction. One per thread, never
    // a shared field: a node's campaigns each have an outbox writing on its own thread through this one store, and one
    // field let a campaign's batch end (or take over) another's, whose later writes then each committed alone.
    private readonly ThreadLocal<OpenBatch?> _batch = new();

    private sealed record OpenBatch(DbConnection Connection, DbTransaction Transaction, StatementQueue? Queue)
    {
        /// <summary>The fence this transaction checked already (or queued the check of): one check (and one share lock) per batch.</summary>
        public CampaignFence? Checked;
    }

    /// <summary>
    /// Runs <paramref name="work"/> with every <see cref="Write{T}"/> and <see cref="Send"/> it makes on this thread in one
    /// transaction, committed at the end (rolled back whole if anything throws). Other threads' writes are not part of it.
    /// On PostgreSQL what it <see cref="Send"/>s goes in one round trip (an NpgsqlBatch) before the commit.
    /// </summary>
    public void Batch(Action work)
    {
        using var c = Connect();
        using var tx = c.BeginTransaction();
        var batch = new OpenBatch(c, tx, Dialect.Queue(c, tx));
        _batch.Value = batch;
        try
        {
            work();
            batch.Queue?.Flush();
            tx.Commit();
        }
        finally { _batch.Value = null; }
    }

    /// <summary>Runs <paramref name="work"/> in one write transaction and commits it (inside this thread's <see cref="Batch"/>, in that one).</summary>
    public T Write<T>(Func<DbConnection, DbTransaction, T> work)
    {
        if (_batch.Value is { } b)
        {
            b.Queue?.Flush(); // what it reads must see the writes sent before it
            return work(b.Connection, b.Transaction);
        }
        using var c = Connect();
        using var tx = c.BeginTransaction();
        var result = work(c, tx);
        tx.Commit();
        return result;
    }

    /// <summary>
    /// <see cref="Write{T}"/> of a campaign owner's engine: <paramref name="fence"/> (if any) is checked first inside the same
    /// transaction, which a takeover then waits for; refused (<see cref="CampaignFencedException"/>), nothing of it lands.
    /// </summary>
    public T Write<T>(CampaignFence? fence, Func<DbConnection, DbTransaction, T> work)
    {
        if (fence is null) return Write(work);
        if (_batch.Value is { } b)
        {
            b.Queue?.Flush();
            if (b.Checked != fence) fence.Check(b.Connection, b.Transaction, Dialect);
            b.Checked = fence;
            return work(b.Connection, b.Transaction);
        }
        return Write((c, tx) =>
        {
            fence.Check(c, tx, Dialect);
            return work(c, tx);
        });
    }

    /// <summary>
    /// A write whose result nobody reads (the outbox's attempt and lead writes): its statements in one transaction, behind
    /// <paramref name="fence"/>'s check (as <see cref="Write{T}(CampaignFence, Func{DbConnection, DbTransaction, T})"/>).
    /// Inside this thread's <see cref="Batch"/> on PostgreSQL they are queued, and the whole batch reaches the server in one
    /// round trip: one command per write was one round trip each (the outbox's worker fell behind 500 calls/s). Elsewhere
    /// they run at once.
    /// </summary>
    public void Send(CampaignFence? fence, params Statement[] statements)
    {
        if (_batch.Value is { Queue: { } queue } b)
        {
            if (fence is not null && b.Checked != fence)
            {
                queue.Flush(); // a check heads its round trip: its row is the first the reply holds
                queue.Check(fence);
                b.Checked = fence;
            }
            foreach (var s in statements) queue.Add(s);
            return;
        }
        Write(fence, (c, tx) =>
        {
            foreach (var s in statements) s.Run(c, tx);
            return 0;
        });
    }

    /// <summary>Takes <paramref name="count"/> consecutive ids from a named sequence; returns the first.</summary>
    public static long Reserve(DbConnection c, DbTransaction tx, string sequence, long count) =>
        c.ExecuteScalar<long>("UPDATE sequences SET next = next + @count WHERE name = @sequence RETURNING next - @count",
            new { sequence, count }, tx);

    public void Dispose()
    {
        _batch.Dispose();
        Dialect.Dispose();
    }
}

/// <summary>One SQL statement of a <see cref="StoreDb.Send"/>: Dapper's <c>@name</c> parameters, valued by <see cref="Args"/>'s properties of those names.</summary>
public readonly record struct Statement(string Sql, object Args)
{
    /// <summary>Runs it now, in <paramref name="tx"/>.</summary>
    public int Run(DbConnection c, DbTransaction tx) => c.Execute(Sql, Args, tx);
}

/// <summary>Statements queued inside one transaction to reach the server together (<see cref="SqlDialect.Queue"/>).</summary>
public abstract class StatementQueue
{
    public abstract void Add(Statement statement);
    /// <summary>Queues <paramref name="fence"/>'s check; only ever first in the queue, so its reply is the first result.</summary>
    public abstract void Check(CampaignFence fence);
    /// <summary>Sends what is queued and waits for the reply: a failed statement throws, a refused fence throws <see cref="CampaignFencedException"/>.</summary>
    public abstract void Flush();
}

/// <summary>What differs between PostgreSQL and SQLite. Everything else is shared SQL.</summary>
public abstract class SqlDialect : IDisposable
{
    /// <summary>Folder of migrations under sql/.</summary>
    public abstract string Name { get; }
    /// <summary>Appended to a claim's inner SELECT: lets concurrent claimers pass each other's rows.</summary>
    public abstract string SkipLocked { get; }
    /// <summary>Appended to a SELECT of one row the transaction relies on: no other transaction may change it before this one ends.</summary>
    public abstract string ShareLock { get; }
    public abstract DbConnection Open();
    /// <summary>"column is one of the list parameter": Dapper sends a list to Npgsql as one array, to SQLite as expanded parameters.</summary>
    public abstract string In(string column, string listParameter);
    /// <summary>"text holds the parameter's string", case-sensitive on both (SQLite's LIKE is not).</summary>
    public abstract string Contains(string text, string parameter);
    /// <summary>
    /// "column is one of <paramref name="keys"/>" for thousands of keys, in time linear in their number: PostgreSQL
    /// gets one array parameter (added to <paramref name="args"/>); SQLite gets the keys in a temporary table of
    /// <paramref name="c"/>, because an expanded list of n parameters is bound by name and SQLite finds each name by a
    /// linear search (n²: with 5,000 keys per import batch that search was ~90% of an import's CPU time).
    /// </summary>
    public abstract string InKeys<T>(DbConnection c, string column, T[] keys, DynamicParameters args);
    /// <summary>
    /// Inserts many rows fast inside <paramref name="tx"/> (binary COPY on PostgreSQL, a prepared statement on SQLite):
    /// <paramref name="write"/> gives each row's values in <paramref name="columns"/> order, typed, so none is boxed.
    /// </summary>
    /// <summary>DDL for an empty temporary table of this connection, gone at the end of the transaction (PostgreSQL) or emptied on reuse (SQLite keeps it per pooled connection).</summary>
    public abstract string TempTable(string name, string columns);
    public abstract void BulkInsert<T>(DbConnection c, DbTransaction tx, string table, string[] columns, IEnumerable<T> rows, Action<IRowWriter, T> write);
    /// <summary>A queue for <see cref="StoreDb.Send"/> inside <paramref name="tx"/>; null: each statement runs at once (SQLite, in-process, has no round trip to save).</summary>
    public virtual StatementQueue? Queue(DbConnection c, DbTransaction tx) => null;
    public virtual void Dispose() { }
}

internal sealed class PostgresDialect(string connection) : SqlDialect
{
    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(WithAutoPrepare(connection));

    /// <summary>
    /// Statements run often (the outbox's writes, the claim) are prepared on each connection once they have run a few times
    /// (Npgsql's Max Auto Prepare, 32 here unless the connection string sets it): parsed and planned once, not per write.
    /// </summary>
    private static string WithAutoPrepare(string connection)
    {
        var b = new NpgsqlConnectionStringBuilder(connection);
        if (!b.ContainsKey("Max Auto Prepare")) b.MaxAutoPrepare = 32;
        return b.ConnectionString;
    }

    public override string Name => "postgres";
    public override string SkipLocked => " FOR UPDATE SKIP LOCKED";
    public override string ShareLock => " FOR SHARE";

    public override DbConnection Open() => _source.OpenConnection();
    public override string In(string column, string listParameter) => $"{column} = ANY({listParameter})";
    public override string Contains(string text, string parameter) => $"strpos({text}, {parameter}) > 0";

    public override string InKeys<T>(DbConnection c, string column, T[] keys, DynamicParameters args)
    {
        args.Add("keys", keys);
        return $"{column} = ANY(@keys)";
    }

    public override string TempTable(string name, string columns) => $"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP";

    public override StatementQueue Queue(DbConnection c, DbTransaction tx) => new BatchQueue(new NpgsqlBatch((NpgsqlConnection)c, (NpgsqlTransaction)tx), this);

    /// <summary>Statements as one NpgsqlBatch: the commands go in one message, the server runs them in order, one reply.</summary>
    private sealed class BatchQueue(NpgsqlBatch batch, SqlDialect dialect) : StatementQueue
    {
        private static readonly ConcurrentDictionary<Type, PropertyInfo[]> Properties = new();
        private CampaignFence? _check;

        public override void Add(Statement statement)
        {
            var cmd = batch.CreateBatchCommand();
            cmd.CommandText = statement.Sql;
            foreach (var p in Properties.GetOrAdd(statement.Args.GetType(), static t => t.GetProperties()))
                cmd.Parameters.Add(new NpgsqlParameter(p.Name, p.GetValue(statement.Args) ?? DBNull.Value));
            batch.BatchCommands.Add(cmd);
        }

        public override void Check(CampaignFence fence)
        {
            _check = fence;
            Add(new Statement(CampaignFence.OwnerQuery(dialect), new { campaignId = fence.CampaignId }));
        }

        public override void Flush()
        {
            if (batch.BatchCommands.Count == 0) return;
            try
            {
                if (_check is not { } fence) batch.ExecuteNonQuery();
                else
                {
                    using var reader = batch.ExecuteReader();
                    fence.Verify(reader.Read() ? (reader.GetInt64(0), reader.GetString(1)) : null);
                    while (reader.NextResult()) { } // a later statement that failed throws here
                }
            }
            finally
            {
                batch.BatchCommands.Clear();
                _check = null;
            }
        }
    }

    public override void BulkInsert<T>(DbConnection c, DbTransaction tx, string table, string[] columns, IEnumerable<T> rows, Action<IRowWriter, T> write)
    {
        using var copy = ((NpgsqlConnection)c).BeginBinaryImport($"COPY {table} ({string.Join(", ", columns)}) FROM STDIN (FORMAT BINARY)");
        var writer = new CopyWriter(copy);
        foreach (var row in rows)
        {
            copy.StartRow();
            write(writer, row);
        }
        copy.Complete();
    }

    // Binary COPY needs the exact column type (values are built to match the schema); the generic typed writes
    // neither box the value nor resolve a converter per value.
    private sealed class CopyWriter(NpgsqlBinaryImporter copy) : IRowWriter
    {
        public void Write(long value) => copy.Write(value, NpgsqlDbType.Bigint);
        public void Write(long? value) { if (value is { } v) copy.Write(v, NpgsqlDbType.Bigint); else copy.WriteNull(); }
        public void Write(int? value) { if (value is { } v) copy.Write(v, NpgsqlDbType.Integer); else copy.WriteNull(); }
        public void Write(double? value) { if (value is { } v) copy.Write(v, NpgsqlDbType.Double); else copy.WriteNull(); }
        public void Write(string? value) { if (value is not null) copy.Write(value, NpgsqlDbType.Text); else copy.WriteNull(); }
        public void Write(byte[]? value) { if (value is not null) copy.Write(value, NpgsqlDbType.Bytea); else copy.WriteNull(); }
    }

    public override void Dispose() => _source.Dispose();
}

internal sealed class SqliteDialect(string path) : SqlDialect
{
    private readonly string _connection = new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();

    public override string Name => "sqlite";
    // SQLite has one writer at a time (write transactions begin IMMEDIATE), so claims never overlap.
    public override string SkipLocked => "";
    public override string ShareLock => ""; // the one writer holds the whole database until it commits

    public override string In(string column, string listParameter) => $"{column} IN {listParameter}";
    public override string Contains(string text, string parameter) => $"instr({text}, {parameter}) > 0";

    public override string InKeys<T>(DbConnection c, string column, T[] keys, DynamicParameters args)
    {
        // A temporary table is the connection's own (a pooled connection keeps it: emptied first). A deferred
        // transaction that writes only temp tables takes no lock on the database, so it never waits for a writer.
        c.Execute("CREATE TEMP TABLE IF NOT EXISTS lookup_keys (k PRIMARY KEY) WITHOUT ROWID; DELETE FROM temp.lookup_keys;");
        using var tx = ((SqliteConnection)c).BeginTransaction(deferred: true);
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT OR IGNORE INTO temp.lookup_keys (k) VALUES ($k)";
        var p = cmd.CreateParameter();
        p.ParameterName = "$k";
        cmd.Parameters.Add(p);
        cmd.Prepare();
        foreach (var k in keys)
        {
            p.Value = k;
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
        return $"{column} IN (SELECT k FROM temp.lookup_keys)";
    }

    // The pooled database handles already set up: a pooled connection keeps its handle, and the handle its pragmas.
    private readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> _configured = new();

    public override DbConnection Open()
    {
        var c = new SqliteConnection(_connection);
        c.Open();
        // WAL: readers do not block the writer; NORMAL sync survives a killed process (not a power cut). Once per handle:
        // parsing these four on every open was a large share of the store writer's statement parses (one open per write).
        if (_configured.TryAdd(c.Handle!, this))
            c.Execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;");
        return c;
    }

    // Column types only document here (SQLite stores what it is given); the table outlives the transaction on the pooled connection.
    public override string TempTable(string name, string columns) => $"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}); DELETE FROM temp.{name};";

    public override void BulkInsert<T>(DbConnection c, DbTransaction tx, string table, string[] columns, IEnumerable<T> rows, Action<IRowWriter, T> write)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({string.Join(", ", columns.Select((_, i) => "$p" + i))})";
        var ps = columns.Select((_, i) =>
        {
            var p = cmd.CreateParameter();
            p.ParameterName = "$p" + i;
            cmd.Parameters.Add(p);
            return p;
        }).ToArray();
        cmd.Prepare();
        var writer = new ParameterWriter(ps);
        foreach (var row in rows)
        {
            writer.Next = 0;
            write(writer, row);
            if (writer.Next != ps.Length) throw new InvalidOperationException($"bulk insert into {table}: a row gave {writer.Next} of {ps.Length} values");
            cmd.ExecuteNonQuery();
        }
    }

    /// <summary>Fills the prepared statement's parameters in order.</summary>
    private sealed class ParameterWriter(DbParameter[] ps) : IRowWriter
    {
        public int Next;
        private void Set(object? value) => ps[Next++].Value = value ?? DBNull.Value;
        public void Write(long value) => Set(value);
        public void Write(long? value) => Set(value);
        public void Write(int? value) => Set(value);
        public void Write(double? value) => Set(value);
        public void Write(string? value) => Set(value);
        public void Write(byte[]? value) => Set(value);
    }
}

/// <summary>One row's values for <see cref="SqlDialect.BulkInsert{T}"/>, in column order, each as its column's type.</summary>
public interface IRowWriter
{
    void Write(long value);
    void Write(long? value);
    void Write(int? value);
    void Write(double? value);
    void Write(string? value);
    void Write(byte[]? value);
}
