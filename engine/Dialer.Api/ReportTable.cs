using System.Globalization;
using System.Text;

namespace Dialer.Api;

/// <summary>
/// A report as rows of named cells, rendered the same way for `GET /reports/…` and `dialer report …`: JSON (the header
/// fields, then `rows` as objects) or CSV (one line per row; a cell holding counts by code becomes one column per code).
/// </summary>
public sealed class ReportTable(string keyColumn)
{
    /// <summary>What the report is about (campaign, grouping, period, totals): JSON fields beside `rows`, not in the CSV.</summary>
    public OrderedDictionary<string, object?> Header { get; } = new(StringComparer.Ordinal);
    public List<OrderedDictionary<string, object?>> Rows { get; } = [];
    /// <summary>Cells of counts by code (JSON objects) and the CSV column prefix each code is written under.</summary>
    public Dictionary<string, string> CountPrefixes { get; } = new(StringComparer.Ordinal);

    /// <summary>A new row, keyed by <paramref name="key"/> (the CSV's first column is named after the grouping).</summary>
    public OrderedDictionary<string, object?> Row(string key)
    {
        var row = new OrderedDictionary<string, object?>(StringComparer.Ordinal) { ["key"] = key };
        Rows.Add(row);
        return row;
    }

    /// <summary>The JSON document: the header fields and the rows.</summary>
    public OrderedDictionary<string, object?> Document()
    {
        var doc = new OrderedDictionary<string, object?>(Header, StringComparer.Ordinal) { ["rows"] = Rows };
        return doc;
    }

    public string Csv()
    {
        var columns = new List<string>();
        var codes = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var row in Rows)
            foreach (var (name, value) in row)
            {
                if (!columns.Contains(name)) columns.Add(name);
                if (value is IReadOnlyDictionary<string, long> counts)
                {
                    if (!codes.TryGetValue(name, out var set)) codes[name] = set = new SortedSet<string>(StringComparer.Ordinal);
                    set.UnionWith(counts.Keys);
                }
            }
        var sb = new StringBuilder();
        var first = true;
        foreach (var name in columns)
        {
            if (codes.TryGetValue(name, out var set))
                foreach (var code in set) Sep().Append(Field(CountPrefixes.GetValueOrDefault(name, name + "_") + code));
            else Sep().Append(name == "key" ? keyColumn : name);
        }
        sb.Append('\n');
        foreach (var row in Rows)
        {
            first = true;
            foreach (var name in columns)
            {
                var value = row.GetValueOrDefault(name);
                if (codes.TryGetValue(name, out var set))
                    foreach (var code in set) Sep().Append(value is IReadOnlyDictionary<string, long> c ? c.GetValueOrDefault(code) : 0);
                else Sep().Append(Cell(value));
            }
            sb.Append('\n');
        }
        return sb.ToString();

        StringBuilder Sep()
        {
            if (!first) sb.Append(',');
            first = false;
            return sb;
        }
    }

    private static string Cell(object? value) => value switch
    {
        null => "",
        string s => Field(s),
        double d => d.ToString("0.######", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Field(value.ToString() ?? ""),
    };

    /// <summary>A CSV field, quoted when it must be; a leading =, +, - or @ is prefixed with ' so a spreadsheet does not run it.</summary>
    private static string Field(string s)
    {
        if (s.Length > 0 && s[0] is '=' or '+' or '-' or '@') s = "'" + s;
        return s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }
}

/// <summary>A proportion k of n with its Wilson score interval: the reports give rates with the uncertainty of their counts.</summary>
public static class Proportion
{
    /// <summary>z for a two-sided 95% interval.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>The Wilson 95% interval of k successes in n trials; (0, 0) when n is 0.</summary>
    public static (double Low, double High) Wilson(long k, long n)
    {
        if (n <= 0) return (0, 0);
        double p = (double)k / n, z2 = Z95 * Z95;
        var denominator = 1 + z2 / n;
        var centre = (p + z2 / (2 * n)) / denominator;
        var half = Z95 * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denominator;
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    /// <summary>Adds `{name}_rate` (null when n is 0), `{name}_ci_low` and `{name}_ci_high` to a report row.</summary>
    public static void Add(OrderedDictionary<string, object?> row, string name, long k, long n)
    {
        var (low, high) = Wilson(k, n);
        row[name + "_rate"] = n == 0 ? null : (double)k / n;
        row[name + "_ci_low"] = n == 0 ? null : low;
        row[name + "_ci_high"] = n == 0 ? null : high;
    }
}
