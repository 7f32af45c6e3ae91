using System.Globalization;
using System.Text.RegularExpressions;

namespace Dialer.Tests;

/// <summary>Reads a Prometheus text exposition in tests: the value of the series with a name and labels.</summary>
internal static partial class Exposition
{
    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})? (?<value>\S+)$""")]
    private static partial Regex Sample();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(?:[^"\\]|\\.)*)",?""")]
    private static partial Regex Label();

    /// <summary>The sum over the series named <paramref name="name"/> whose labels include <paramref name="labels"/>; fails when there is none.</summary>
    public static double Sum(string text, string name, params (string Key, string Value)[] labels)
    {
        double sum = 0;
        var found = false;
        foreach (var line in text.Split('\n'))
        {
            if (Sample().Match(line) is not { Success: true } m || m.Groups["name"].Value != name) continue;
            var have = Label().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups["key"].Value, l => l.Groups["value"].Value);
            if (!labels.All(l => have.TryGetValue(l.Key, out var v) && v == l.Value)) continue;
            sum += double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
            found = true;
        }
        Assert.True(found, $"no series {name}{{{string.Join(",", labels.Select(l => $"{l.Key}=\"{l.Value}\""))}}} in the exposition");
        return sum;
    }
}
