using System.Reflection;
using Dapper;

namespace Dialer.Store;

/// <summary>Applies the numbered scripts in sql/&lt;dialect&gt;/ that the database has not seen, each in its own transaction.</summary>
public static class Migrator
{
    public sealed record Applied(int Version, string Name);

    public static IReadOnlyList<Applied> Migrate(StoreDb db)
    {
        using var c = db.Connect();
        c.Execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
        var done = c.Query<int>("SELECT version FROM schema_version").ToHashSet();
        var applied = new List<Applied>();
        foreach (var (version, name, sql) in Scripts(db.Dialect.Name))
        {
            if (done.Contains(version)) continue;
            using var tx = c.BeginTransaction();
            c.Execute(sql, transaction: tx);
            c.Execute("INSERT INTO schema_version (version, name, applied_at) VALUES (@version, @name, @at)",
                new { version, name, at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() }, tx);
            tx.Commit();
            applied.Add(new Applied(version, name));
        }
        return applied;
    }

    /// <summary>Embedded scripts named NNN_description.sql, in version order.</summary>
    private static IEnumerable<(int Version, string Name, string Sql)> Scripts(string dialect)
    {
        var asm = Assembly.GetExecutingAssembly();
        var prefix = $"sql/{dialect}/";
        var scripts = new List<(int, string, string)>();
        foreach (var res in asm.GetManifestResourceNames())
        {
            if (!res.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var name = res[prefix.Length..];
            var us = name.IndexOf('_');
            if (us <= 0 || !int.TryParse(name.AsSpan(0, us), out var version))
                throw new InvalidOperationException($"migration '{res}': name must start with a number and '_' (e.g. 002_callbacks.sql)");
            using var reader = new StreamReader(asm.GetManifestResourceStream(res)!);
            scripts.Add((version, name, reader.ReadToEnd()));
        }
        return scripts.OrderBy(s => s.Item1);
    }
}
