using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Dialer.Core.Domain;
using Dialer.Store;

namespace Dialer.Bench;

/// <summary>
/// A store of <see cref="Leads"/> leads: the leads import of a file in the formats Chinese CRMs export (brackets, spaces,
/// dashes, a leading 0 or 86, full-width digits, ID numbers) with a sprinkling of broken rows (unclosed quotes, bad
/// dates), then the same file again (it must change nothing), then `pii rotate` of the whole store. Printed for each:
/// rows/s, CPU seconds of this process, and the process's peak working set (DIALER_BENCH_ROTATE=0 stops after the re-import). On PostgreSQL (DIALER_BENCH_DB, a scratch
/// database: migrated and filled; DIALER_BENCH_PG_PID, its postmaster's pid on this machine, adds the server's CPU) or SQLite (a temp file). <see cref="Leads"/> rows (DIALER_BENCH_LEADS). One iteration in process:
/// dotnet run -c Release --project bench/Dialer.Bench -- --filter '*LeadStoreLoadRun*' --inProcess --strategy Monitoring --launchCount 1 --warmupCount 0 --iterationCount 1
/// </summary>
public class LeadStoreLoadRun
{
    /// <summary>DIALER_BENCH_DIALECTS (comma-separated), default both: one alone profiles without the other's samples.</summary>
    [ParamsSource(nameof(Dialects))] public string Dialect { get; set; } = "postgres";
    public static IEnumerable<string> Dialects() => (Environment.GetEnvironmentVariable("DIALER_BENCH_DIALECTS") ?? "postgres,sqlite").Split(',', StringSplitOptions.TrimEntries);
    /// <summary>DIALER_BENCH_LEADS, default 1,000,000 (a smaller store gives per-row CPU figures sooner on a loaded machine).</summary>
    public int Leads { get; } = int.TryParse(Environment.GetEnvironmentVariable("DIALER_BENCH_LEADS"), out var n) && n > 0 ? n : 1_000_000;
    private string _file = "";
    private string? _sqlite;

    [GlobalSetup]
    public void Setup()
    {
        _file = Path.Combine(Path.GetTempPath(), $"leads-{Leads}.csv");
        if (!File.Exists(_file)) WriteFile(_file, Leads);
    }

    /// <summary>Realistic rows; every 997th is broken (an unclosed quote or a date that is not one) and is rejected on its own.</summary>
    public static void WriteFile(string path, int rows)
    {
        using var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        w.Write("phone,region,timezone,customer_id,name,policy_no,policy_expiry,premium,claims_3y,tags,id_number\n");
        var fullWidth = "０１２３４５６７８９";
        for (var i = 0; i < rows; i++)
        {
            var n = (13_800_000_000L + i * 7L).ToString();
            var phone = (i % 6) switch
            {
                0 => $"(+86) {n[..3]}-{n[3..7]}-{n[7..]}",
                1 => $"86 {n[..3]} {n[3..7]} {n[7..]}",
                2 => $"+{86}{n}",
                3 => $"0{n}",
                4 => string.Concat(n.Select(c => fullWidth[c - '0'])),
                _ => $"[86] {n[..3]}.{n[3..7]}.{n[7..]}",
            };
            var expiry = i % 997 == 500 ? "2027-02-30" : $"2027-{1 + i % 12:D2}-{1 + i % 28:D2}";
            var name = i % 997 == 3 ? "\"王, 小明" : $"客户{i}";
            w.Write($"{phone},CN-GD,Asia/Shanghai,C{i},{name},P{i:D9},{expiry},{i * 37 % 900_000},{i % 3},auto;renewal,44030119900307{i % 10_000:D4}\n");
        }
    }

    [Benchmark]
    public void ImportRerunRotate()
    {
        using var db = Open();
        var pii = new Pii(RandomNumberGenerator.GetBytes(32));
        var campaign = new Store.Campaigns(db).Create($"load-{Guid.NewGuid():N}", new CampaignSettings { TimeZone = "Asia/Shanghai" }, DateTime.UtcNow).Id;
        var first = Measure($"import {Dialect}", () => Import(db, pii, campaign));
        var broken = Enumerable.Range(0, Leads).Count(i => i % 997 is 3 or 500);
        long stored;
        using (var c = db.Connect()) stored = Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM leads WHERE campaign_id = @campaign", new { campaign });
        Console.WriteLine($"// import: rows {first.Rows:N0}, accepted {first.Accepted:N0}, merged {first.Merged:N0}, rejected {first.Rejected:N0} " +
            $"(the file has {broken:N0} broken rows); leads stored {stored:N0} (every good row kept: {stored == Leads - broken})");
        var again = Measure($"re-import {Dialect}", () => Import(db, pii, campaign));
        Console.WriteLine($"// re-import: accepted {again.Accepted:N0}, merged {again.Merged:N0}, updated {again.Updated:N0} (must be 0 and 0)");
        if (Environment.GetEnvironmentVariable("DIALER_BENCH_ROTATE") == "0") return; // the import figures alone
        var report = Measure($"pii rotate {Dialect}", () => new PiiRotation(db, pii, new Pii(RandomNumberGenerator.GetBytes(32))).Run(Console.WriteLine), r => r.Rewritten);
        Console.WriteLine($"// rotate: rewritten {report.Rewritten:N0}, failed {report.Failed:N0}");
    }

    private ImportReport Import(StoreDb db, Pii pii, long campaign)
    {
        using var reader = File.OpenRead(_file);
        return new LeadImporter(db, pii).Import(campaign, "load", reader, DateTime.UtcNow);
    }

    private T Measure<T>(string what, Func<T> work, Func<T, long>? count = null)
    {
        var me = Process.GetCurrentProcess();
        var cpu = me.TotalProcessorTime;
        var server = ServerCpuSeconds();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var result = work();
        clock.Stop();
        me.Refresh();
        var n = count?.Invoke(result) ?? (result as ImportReport)?.Rows ?? 0;
        var serverPart = server is { } before && ServerCpuSeconds() is { } after
            ? $"server CPU {after - before:0.0} s ({(after - before) * 1e6 / Math.Max(1, n):0.0} µs/row); " : "";
        Console.WriteLine($"// {what}: {n:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s = {n / clock.Elapsed.TotalSeconds:N0} rows/s; " +
            $"CPU {(me.TotalProcessorTime - cpu).TotalSeconds:0.0} s ({(me.TotalProcessorTime - cpu).TotalSeconds * 1e6 / Math.Max(1, n):0.0} µs/row); {serverPart}" +
            $"allocated {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)Math.Max(1, n):N0} B/row; " +
            $"peak working set {me.PeakWorkingSet64 / 1048576.0:N0} MiB; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        return result;
    }

    /// <summary>
    /// CPU seconds the PostgreSQL server has used, when DIALER_BENCH_PG_PID names its postmaster on this machine: the
    /// postmaster's own and its ended children's (utime, stime, cutime, cstime) plus each live backend's; null otherwise.
    /// </summary>
    private static double? ServerCpuSeconds()
    {
        if (!int.TryParse(Environment.GetEnvironmentVariable("DIALER_BENCH_PG_PID"), out var postmaster)) return null;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string[] f;
            try { var text = File.ReadAllText(Path.Combine(dir, "stat")); f = text[(text.LastIndexOf(')') + 2)..].Split(' '); }
            catch (IOException) { continue; }
            // f[0] is field 3 (state): ppid is field 4 (f[1]), utime..cstime fields 14..17 (f[11..14]).
            if (pid == postmaster) ticks += long.Parse(f[11]) + long.Parse(f[12]) + long.Parse(f[13]) + long.Parse(f[14]);
            else if (int.Parse(f[1]) == postmaster) ticks += long.Parse(f[11]) + long.Parse(f[12]);
        }
        return ticks / 100.0; // USER_HZ
    }

    private StoreDb Open()
    {
        if (Dialect == "postgres") return BenchStore.Open();
        _sqlite = Path.Combine(Path.GetTempPath(), $"load-{Guid.NewGuid():N}.db");
        var db = StoreDb.Open("sqlite:" + _sqlite);
        Migrator.Migrate(db);
        return db;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (_sqlite is not null) foreach (var f in new[] { _sqlite, _sqlite + "-wal", _sqlite + "-shm" }) File.Delete(f);
    }
}
