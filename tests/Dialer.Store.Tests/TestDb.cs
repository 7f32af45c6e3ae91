using System.Security.Cryptography;

namespace Dialer.Store.Tests;

/// <summary>A migrated, empty store on either database, deleted with the test.</summary>
public sealed class TestDb : IDisposable
{
    private readonly string? _file;

    public TestDb(string dialect, PostgresServer pg)
    {
        if (dialect == "sqlite")
        {
            _file = Path.Combine(Path.GetTempPath(), $"dialer-test-{Guid.NewGuid():N}.db");
            Connection = "sqlite:" + _file;
        }
        else Connection = pg.NewDatabase();
        Db = StoreDb.Open(Connection);
        Migrator.Migrate(Db);
    }

    public static readonly Pii Pii = new(RandomNumberGenerator.GetBytes(32));
    public static readonly DateTime Noon = new(2026, 11, 20, 12, 0, 0, DateTimeKind.Utc);

    public string Connection { get; }
    public StoreDb Db { get; }

    public long Campaign(string name = "renewals", CampaignSettings? settings = null) =>
        new Campaigns(Db).Create(name, settings ?? new CampaignSettings(), Noon).Id;

    public ImportReport Import(long campaign, string csv) =>
        new LeadImporter(Db, Pii).Import(campaign, "renewals", new StringReader(csv), Noon);

    public void Dispose()
    {
        Db.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_file is not null) foreach (var f in new[] { _file, _file + "-wal", _file + "-shm" }) File.Delete(f);
    }
}
