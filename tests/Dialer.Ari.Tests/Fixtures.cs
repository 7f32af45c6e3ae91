using System.Text.Json;

namespace Dialer.Ari.Tests;

/// <summary>The real Asterisk captures in <c>&lt;repo&gt;/../shared/ari-fixtures</c> (CI clones shared/ beside the repo).</summary>
internal static class Fixtures
{
    public static readonly string Dir = Locate();

    public static IEnumerable<string> Files => Directory.EnumerateFiles(Dir, "*.jsonl").Order(StringComparer.Ordinal);

    public static List<JsonElement> Load(string name) =>
        File.ReadLines(Path.Combine(Dir, name)).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    private static string Locate()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Dialer.sln")))
                return Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "ari-fixtures"));
        throw new DirectoryNotFoundException("repository root (Dialer.sln) not found above " + AppContext.BaseDirectory);
    }
}
