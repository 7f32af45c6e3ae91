namespace Dialer.Runtime.Tests;

/// <summary>Why a test that needs PostgreSQL 15's binaries (tests/run.sh and CI install them) is skipped; null when they are here.</summary>
internal static class PostgresBinaries
{
    public static string? Missing()
    {
        var bin = Environment.GetEnvironmentVariable("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
        return File.Exists(Path.Combine(bin, "initdb")) ? null : $"needs PostgreSQL 15 (initdb in {bin}): apt-get install postgresql-15, or set PG_BIN";
    }
}

/// <summary>A test that needs PostgreSQL 15: skipped, and reported so, without it.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute() { if (PostgresBinaries.Missing() is { } why) Skip = why; }
}

/// <summary>A test (one case per data row) that needs PostgreSQL 15: skipped, and reported so, without it.</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute() { if (PostgresBinaries.Missing() is { } why) Skip = why; }
}
