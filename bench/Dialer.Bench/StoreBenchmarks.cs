using Dialer.Core.Text;
using Dialer.Core.Domain;
using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Dialer.Store;

namespace Dialer.Bench;

/// <summary>
/// Store throughput on PostgreSQL: leads CSV import (goal ≥ 50,000 rows/s) and hopper claims (goal ≥ 5,000 leads/s).
/// Needs DIALER_BENCH_DB, a connection string to a scratch PostgreSQL database (it is migrated and filled).
/// Results are per row / per lead (OperationsPerInvoke), so rows/s = 1 s / Mean.
/// </summary>
[MemoryDiagnoser, SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class StoreBenchmarks
{
    private const int Rows = 50_000;
    private static readonly DateTime Noon = new(2026, 11, 20, 12, 0, 0, DateTimeKind.Utc);
    private StoreDb _db = null!;
    private Pii _pii = null!;
    private string _csv = "";
    private long _campaign;
    private int _iteration;

    [GlobalSetup]
    public void Setup()
    {
        _db = BenchStore.Open();
        _pii = new Pii(RandomNumberGenerator.GetBytes(32));
        var csv = new StringBuilder("phone,region,timezone,customer_id,policy_expiry,premium,claims_3y,tags\n");
        for (var i = 0; i < Rows; i++)
            csv.Append("+86138").Append(i.ToString("D8")).Append(",CN-GD,Asia/Shanghai,C").Append(i)
               .Append(",2027-0").Append(1 + i % 9).Append("-1").Append(i % 10).Append(',').Append(i * 37 % 900_000).Append(',').Append(i % 3).Append(",auto;renewal\n");
        _csv = csv.ToString();
    }

    [IterationSetup(Target = nameof(ImportRows))]
    public void NewCampaign()
    {
        var campaigns = new Campaigns(_db);
        _campaign = campaigns.Create($"bench-{Guid.NewGuid():N}", new CampaignSettings(), Noon).Id;
        campaigns.SetStatus(_campaign, CampaignStatus.Running, Noon); // the hopper hands out leads of running campaigns only
    }

    /// <summary>Every iteration imports into a new campaign; customers already exist after the first, so rows resolve against them.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public ImportReport ImportRows() => new LeadImporter(_db, _pii).Import(_campaign, "bench", CsvReader.Text(_csv), Noon);

    [IterationSetup(Target = nameof(ClaimLeads))]
    public void FilledCampaign()
    {
        NewCampaign();
        ImportRows();
    }

    /// <summary>One node claims every lead of a fresh campaign through the hopper.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public long ClaimLeads()
    {
        var h = new DbLeadSource(_db, _pii, _campaign, new CampaignSettings().ToConfig("bench"), $"bench-{_iteration++}");
        while (h.Next(Noon) is not null) { }
        return h.Claimed == Rows ? Rows : throw new InvalidOperationException($"claimed {h.Claimed} of {Rows} leads");
    }
}

/// <summary>The store benchmarks' database: DIALER_BENCH_DB, migrated.</summary>
internal static class BenchStore
{
    public static StoreDb Open()
    {
        var conn = Environment.GetEnvironmentVariable("DIALER_BENCH_DB")
            ?? throw new InvalidOperationException("DIALER_BENCH_DB: set it to a scratch PostgreSQL connection string");
        var db = StoreDb.Open(conn);
        Migrator.Migrate(db);
        return db;
    }
}
