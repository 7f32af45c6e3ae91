using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Dialer.Core.Text;
using Dialer.Store;

namespace Dialer.Bench;

/// <summary>
/// The leads import's per-row path, a step at a time, over the rows <see cref="LeadStoreLoadRun"/> imports (Chinese CRM
/// formats): the CSV read into fields, the phone's normalisation, its keyed hash, its encryption, and (with
/// DIALER_BENCH_DB, a scratch PostgreSQL) the binary COPY of a lead row. Results are per row (OperationsPerInvoke).
/// dotnet run -c Release --project bench/Dialer.Bench -- --filter '*ImportRow*' --job short
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
public class ImportRowBenchmarks
{
    private const int Rows = 10_000;
    private byte[] _csv = [];
    private string[] _rawPhones = [];
    private string[] _phones = [];
    private byte[][] _hashes = [];
    private Pii _pii = null!;
    private StoreDb? _db;

    [GlobalSetup]
    public void Setup()
    {
        var file = Path.Combine(Path.GetTempPath(), $"import-row-bench-{Environment.ProcessId}.csv");
        LeadStoreLoadRun.WriteFile(file, Rows);
        _csv = File.ReadAllBytes(file);
        File.Delete(file);
        var records = new List<string[]>();
        CsvReader.Run(new MemoryStream(_csv), async pipe =>
        {
            var csv = new CsvReader(pipe);
            var fields = new List<string>();
            while (await csv.ReadAsync(fields)) if (csv.Malformed is null) records.Add([.. fields]);
            return 0;
        });
        _rawPhones = [.. records.Skip(1).Select(r => r[0])];
        _phones = [.. _rawPhones.Select(p => PhoneNumbers.TryNormalise(p, "CN-GD", out var e164, out _) ? e164 : "+8613800000000")];
        _pii = new Pii(RandomNumberGenerator.GetBytes(32));
        _hashes = [.. _phones.Select(_pii.Hash)];
        if (Environment.GetEnvironmentVariable("DIALER_BENCH_DB") is not null) _db = BenchStore.Open();
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int ReadCsv() => CsvReader.Run(new MemoryStream(_csv), async pipe =>
    {
        var csv = new CsvReader(pipe);
        var fields = new List<string>();
        var n = 0;
        while (await csv.ReadAsync(fields)) n += fields.Count;
        return n;
    });

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Normalise()
    {
        var n = 0;
        foreach (var raw in _rawPhones) if (PhoneNumbers.TryNormalise(raw, "CN-GD", out _, out _)) n++;
        return n;
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Hash()
    {
        var n = 0;
        foreach (var p in _phones) n += _pii.Hash(p)[0];
        return n;
    }

    [Benchmark(OperationsPerInvoke = Rows)]
    public int Encrypt()
    {
        var n = 0;
        for (var i = 0; i < _phones.Length; i++) n += _pii.Encrypt(_phones[i], PiiColumn.Phone, _hashes[i]).Length;
        return n;
    }

    private static readonly string[] LeadRow =
        ["id", "campaign_id", "customer_id", "phone_enc", "phone_hash", "region", "timezone", "policy_no", "policy_expiry", "premium", "claims_3y",
         "tags", "priority", "rule_tags", "file_priority", "consent_source", "consent_at", "due_at", "created_at"];

    /// <summary>A lead row's 19 values through binary COPY into a temporary table shaped like leads (PostgreSQL only; 0 without DIALER_BENCH_DB).</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public int CopyLeadRow()
    {
        if (_db is null) return 0;
        return _db.Write((c, tx) =>
        {
            Dapper.SqlMapper.Execute(c, """
                CREATE TEMP TABLE bench_leads (id BIGINT, campaign_id BIGINT, customer_id BIGINT, phone_enc BYTEA, phone_hash BYTEA, region TEXT,
                    timezone TEXT, policy_no TEXT, policy_expiry INTEGER, premium DOUBLE PRECISION, claims_3y INTEGER, tags TEXT, priority INTEGER,
                    rule_tags TEXT, file_priority INTEGER, consent_source TEXT, consent_at BIGINT, due_at BIGINT, created_at BIGINT) ON COMMIT DROP
                """, transaction: tx);
            var enc = _pii.Encrypt(_phones[0], PiiColumn.Phone, _hashes[0]);
            _db.Dialect.BulkInsert(c, tx, "bench_leads", LeadRow, Enumerable.Range(0, Rows), (w, i) =>
            {
                w.Write((long)i); w.Write(1L); w.Write((long)i); w.Write(enc); w.Write(_hashes[i % _hashes.Length]); w.Write("CN-GD"); w.Write("Asia/Shanghai");
                w.Write("P000000001"); w.Write((int?)20_000); w.Write((double?)1234.5); w.Write((int?)1); w.Write("auto;renewal"); w.Write((int?)0);
                w.Write(""); w.Write((int?)null); w.Write((string?)null); w.Write((long?)null); w.Write(0L); w.Write(0L);
            });
            return Rows;
        });
    }
}
