using Dialer.Core.Text;
using Dialer.Core.Domain;
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

    public static readonly byte[] PiiKey = RandomNumberGenerator.GetBytes(32);
    public static readonly Pii Pii = new(PiiKey);
    public static readonly DateTime Noon = new(2026, 11, 20, 12, 0, 0, DateTimeKind.Utc);

    public string Connection { get; }
    public StoreDb Db { get; }

    /// <summary>A campaign, running unless told otherwise (the hopper hands out leads of running campaigns only).</summary>
    public long Campaign(string name = "renewals", CampaignSettings? settings = null, bool running = true)
    {
        var campaigns = new Campaigns(Db);
        var id = campaigns.Create(name, settings ?? new CampaignSettings(), Noon).Id;
        if (running) campaigns.SetStatus(id, CampaignStatus.Running, Noon);
        return id;
    }

    public ImportReport Import(long campaign, string csv, int batchSize = LeadImporter.DefaultBatchSize) =>
        new LeadImporter(Db, Pii) { BatchSize = batchSize }.Import(campaign, "renewals", CsvReader.Text(csv), Noon);

    public void Dispose()
    {
        Db.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_file is not null) foreach (var f in new[] { _file, _file + "-wal", _file + "-shm" }) File.Delete(f);
    }
}
