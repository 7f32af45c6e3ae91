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

    /// <summary>A histogram's cumulative bucket counts (upper bound → count, +Inf last) for the series whose labels include <paramref name="labels"/>.</summary>
    public static SortedDictionary<double, double> Buckets(string text, string histogram, params (string Key, string Value)[] labels)
    {
        var buckets = new SortedDictionary<double, double>();
        foreach (var line in text.Split('\n'))
        {
            if (Sample().Match(line) is not { Success: true } m || m.Groups["name"].Value != histogram + "_bucket") continue;
            var have = Label().Matches(m.Groups["labels"].Value).ToDictionary(l => l.Groups["key"].Value, l => l.Groups["value"].Value);
            if (!labels.All(l => have.TryGetValue(l.Key, out var v) && v == l.Value)) continue;
            var le = have["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(have["le"], CultureInfo.InvariantCulture);
            buckets[le] = buckets.GetValueOrDefault(le) + double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        Assert.True(buckets.Count > 0, $"no buckets of {histogram} in the exposition");
        return buckets;
    }

    /// <summary>The upper bound of the bucket holding quantile <paramref name="q"/> of what was observed between two scrapes' <see cref="Buckets"/>.</summary>
    public static double Quantile(SortedDictionary<double, double> before, SortedDictionary<double, double> after, double q)
    {
        var total = after[double.PositiveInfinity] - before.GetValueOrDefault(double.PositiveInfinity);
        foreach (var (le, count) in after)
            if (count - before.GetValueOrDefault(le) >= q * total) return le;
        return double.PositiveInfinity;
    }
}
