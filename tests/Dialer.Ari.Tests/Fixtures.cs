using System.Text.Json;

namespace Dialer.Ari.Tests;

/// <summary>
/// Real Asterisk captures copied into the repository (Fixtures/, copied to the test output): the shared ones and the
/// lab's (Fixtures/lab/). Asterisk's own API description is not ours to copy: tests that need it read
/// <c>&lt;repo&gt;/../shared/ari-spec</c> and are skipped without it (<see cref="SpecFactAttribute"/>).
/// </summary>
internal static class Fixtures
{
    public static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>Every capture, as a path relative to <see cref="Dir"/> ("b_busy_486.jsonl", "lab/a_prefix_conflict.jsonl").</summary>
    public static IEnumerable<string> Files => Directory.EnumerateFiles(Dir, "*.jsonl", SearchOption.AllDirectories)
        .Select(f => Path.GetRelativePath(Dir, f).Replace('\\', '/')).Order(StringComparer.Ordinal);

    public static List<JsonElement> Load(string name) =>
        File.ReadLines(Path.Combine(Dir, name)).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    /// <summary>Asterisk's swagger description beside the repository, or null when this clone has none.</summary>
    public static readonly string? SpecDir = LocateSpec();

    private static string? LocateSpec()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Dialer.sln")))
            {
                var spec = Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "ari-spec"));
                return Directory.Exists(spec) ? spec : null;
            }
        return null;
    }
}

/// <summary>A fact that needs Asterisk's ARI description (../shared/ari-spec): reported as skipped where it is absent.</summary>
public sealed class SpecFactAttribute : FactAttribute
{
    public SpecFactAttribute()
    {
        if (Fixtures.SpecDir is null) Skip = "needs Asterisk's ARI description in ../shared/ari-spec beside the repository (not part of it)";
    }
}
