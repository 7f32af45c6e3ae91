using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Dialer.Sim.Config;

/// <summary>A bad scenario or config file: the message names the file, line and key, and what was expected.</summary>
public sealed class ConfigException(string message) : Exception(message);

/// <summary>
/// A YAML mapping read with its path ("regions[2].timezone"), so every error says exactly where it is.
/// Every key must be read: <see cref="Done"/> rejects keys nobody asked for (typos do not pass silently).
/// </summary>
public sealed class YamlSection
{
    private readonly YamlMappingNode _node;
    private readonly string _file;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly Dictionary<string, YamlSection> _children = new(StringComparer.Ordinal); // one instance per key, so Done() sees what was read

    private YamlSection(YamlMappingNode node, string file, string path)
    {
        _node = node;
        _file = file;
        Path = path;
    }

    public string Path { get; }
    /// <summary>The file this came from (what relative paths in it are relative to).</summary>
    public string File => _file;

    /// <summary>This mapping's keys, each marked read (a mapping of free-form names: script steps, keys).</summary>
    public IReadOnlyList<string> Keys()
    {
        var keys = new List<string>();
        foreach (var (k, _) in _node.Children)
        {
            var name = ((YamlScalarNode)k).Value ?? "";
            _read.Add(name);
            keys.Add(name);
        }
        return keys;
    }

    public static YamlSection Load(string file)
    {
        if (!System.IO.File.Exists(file)) throw new ConfigException($"{file}: file not found");
        using var reader = new StreamReader(file);
        return Parse(reader, file);
    }

    /// <summary>A document from a reader (e.g. a file shipped inside an assembly); <paramref name="name"/> is what errors call it.</summary>
    public static YamlSection Parse(TextReader reader, string name)
    {
        var yaml = new YamlStream();
        try { yaml.Load(reader); }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new ConfigException($"{name}:{e.Start.Line}: not valid YAML: {e.InnerException?.Message ?? e.Message}");
        }
        if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException($"{name}: expected a mapping of keys at the top level");
        return new YamlSection(root, name, "");
    }

    public bool Has(string key) => _node.Children.ContainsKey(new YamlScalarNode(key));
    /// <summary>Whether the key holds a mapping (rather than a single value).</summary>
    public bool HasMap(string key) => _node.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlMappingNode;

    public string Str(string key) => OptStr(key) ?? throw Error(key, null, "is required");

    public string? OptStr(string key) => Get(key) switch
    {
        null => null,
        YamlScalarNode s => s.Value ?? "",
        var n => throw Error(key, n, "expected a single value"),
    };

    public double Num(string key, double min = double.MinValue, double max = double.MaxValue) =>
        OptNum(key, double.NaN, min, max) is var v && double.IsNaN(v) ? throw Error(key, null, "is required") : v;

    public double OptNum(string key, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        var node = Get(key);
        if (node is null) return fallback;
        return ParseNum(node, Where(key), min, max);
    }

    public int Int(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var v = OptNum(key, fallback, min, max);
        return v == Math.Floor(v) ? (int)v : throw Error(key, Get(key), $"expected a whole number, got {v.ToString(CultureInfo.InvariantCulture)}");
    }

    public TimeOnly Time(string key, TimeOnly fallback)
    {
        var s = OptStr(key);
        if (s is null) return fallback;
        if (s == "24:00") return TimeOnly.MaxValue;
        return TimeOnly.TryParseExact(s, ["HH:mm", "H:mm"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var t)
            ? t : throw Error(key, Get(key), $"expected a time of day like \"09:00\", got \"{s}\"");
    }

    public TimeZoneInfo Zone(string key) => ParseZone(Str(key), key);

    public TimeZoneInfo ParseZone(string id, string key) =>
        TimeZoneInfo.TryFindSystemTimeZoneById(id, out var tz) ? tz : throw Error(key, Get(key), $"\"{id}\" is not a known IANA time zone");

    public YamlSection Map(string key) => OptMap(key) ?? throw Error(key, null, "is required");

    public YamlSection? OptMap(string key) => Get(key) switch
    {
        null => null,
        YamlMappingNode m => _children.TryGetValue(key, out var c) ? c : _children[key] = new YamlSection(m, _file, Where(key)),
        var n => throw Error(key, n, "expected a mapping of keys"),
    };

    public IReadOnlyList<YamlSection> List(string key)
    {
        var node = Get(key);
        if (node is null) return [];
        if (node is not YamlSequenceNode seq) throw Error(key, node, "expected a list");
        var items = new List<YamlSection>();
        for (var i = 0; i < seq.Children.Count; i++)
        {
            var where = $"{Where(key)}[{i}]";
            items.Add(seq.Children[i] is YamlMappingNode m ? new YamlSection(m, _file, where) : throw At(seq.Children[i], where, "expected a mapping of keys"));
        }
        return items;
    }

    public IReadOnlyList<double> Numbers(string key)
    {
        var node = Get(key);
        if (node is null) return [];
        if (node is not YamlSequenceNode seq) throw Error(key, node, "expected a list of numbers");
        return [.. seq.Children.Select((n, i) => ParseNum(n, $"{Where(key)}[{i}]", double.MinValue, double.MaxValue))];
    }

    /// <summary>A list of single values (phrases, names); <see cref="ItemError"/> names an item's own line.</summary>
    public IReadOnlyList<string> Strings(string key)
    {
        var node = Get(key);
        if (node is null) return [];
        if (node is not YamlSequenceNode seq) throw Error(key, node, "expected a list");
        return [.. seq.Children.Select((n, i) => n is YamlScalarNode { Value: { } v } ? v : throw At(n, $"{Where(key)}[{i}]", "expected a single value"))];
    }

    public ConfigException ItemError(string key, int index, string message) =>
        Get(key) is YamlSequenceNode seq && index < seq.Children.Count ? At(seq.Children[index], $"{Where(key)}[{index}]", message) : Error(key, null, message);

    /// <summary>A mapping of free-form names to numbers, e.g. rates by prefix or skills with levels.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> NumberMap(string key, double min = double.MinValue, double max = double.MaxValue) =>
        OptMap(key)?.AsNumberMap(min, max) ?? [];

    /// <summary>This mapping's own entries, each a number.</summary>
    public IReadOnlyList<KeyValuePair<string, double>> AsNumberMap(double min = double.MinValue, double max = double.MaxValue)
    {
        var list = new List<KeyValuePair<string, double>>();
        foreach (var (k, v) in _node.Children)
        {
            var name = ((YamlScalarNode)k).Value ?? "";
            _read.Add(name);
            list.Add(new(name, ParseNum(v, Where(name), min, max)));
        }
        return list;
    }

    /// <summary>Every key must have been read by now; anything else is a typo or an unsupported setting.</summary>
    public void Done(params string[] alsoAllowed)
    {
        foreach (var (k, _) in _node.Children)
        {
            var name = ((YamlScalarNode)k).Value ?? "";
            if (_read.Contains(name) || alsoAllowed.Contains(name)) continue;
            throw At(k, Where(name), $"unknown key (expected one of: {string.Join(", ", _read.Order())})");
        }
    }

    /// <summary>An error at <paramref name="node"/>, else at the key's value when it is there, else at this mapping.</summary>
    public ConfigException Error(string key, YamlNode? node, string message) =>
        At(node ?? (_node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : _node), Where(key), message);

    private YamlNode? Get(string key)
    {
        _read.Add(key);
        return _node.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;
    }

    private string Where(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    private ConfigException At(YamlNode node, string where, string message) =>
        new($"{_file}:{node.Start.Line}: {where}: {message}");

    private double ParseNum(YamlNode node, string where, double min, double max)
    {
        if (node is not YamlScalarNode { Value: { } s } || !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
            throw At(node, where, $"expected a number, got \"{(node as YamlScalarNode)?.Value}\"");
        if (v < min || v > max)
            throw At(node, where, $"{s} is out of range (expected {Fmt(min)}..{Fmt(max)})");
        return v;
    }

    private static string Fmt(double v) => v switch
    {
        double.MinValue or double.NegativeInfinity => "−∞",
        double.MaxValue or double.PositiveInfinity => "∞",
        _ => v.ToString(CultureInfo.InvariantCulture),
    };
}
