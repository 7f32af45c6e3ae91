using Dialer.Core.Quality;
using Dialer.Sim.Config;

namespace Dialer.Api;

/// <summary>
/// Reads a QA rule file (YAML, format in qa-rules/car-insurance-renewal.yaml) into a <see cref="QaRuleSet"/>. It lives in
/// the API, the one place transcripts arrive, because Core reads no files and takes no packages; it reads YAML with the
/// scenario loader's <see cref="YamlSection"/>, so a mistake is reported the same way: FILE:LINE: key: what is wrong.
/// </summary>
public static class QualityRuleFile
{
    public const string DefaultName = "qa-rules/car-insurance-renewal.yaml";

    /// <summary>The shipped set, read once.</summary>
    public static QaRuleSet Shipped => LazyShipped.Value;
    private static readonly Lazy<QaRuleSet> LazyShipped = new(Default);

    /// <summary>The rule set shipped inside this assembly: car-insurance renewal, Chinese and English.</summary>
    private static QaRuleSet Default()
    {
        using var stream = typeof(QualityRuleFile).Assembly.GetManifestResourceStream(DefaultName)!;
        using var reader = new StreamReader(stream);
        return Read(YamlSection.Parse(reader, DefaultName));
    }

    public static QaRuleSet Load(string file) => Read(YamlSection.Load(file));

    public static QaRuleSet Parse(string yaml, string name) => Read(YamlSection.Parse(new StringReader(yaml), name));

    private static QaRuleSet Read(YamlSection root)
    {
        var name = root.Str("rule_set");
        var version = root.Int("version", 0, 1);
        if (!root.Has("version")) throw root.Error("version", null, "is required (a whole number ≥ 1; results keep it)");
        var campaigns = root.Strings("campaigns");

        var pairs = new List<(char, char)>();
        var fold = root.Strings("fold");
        for (var i = 0; i < fold.Count; i++)
        {
            if (fold[i].Length != 2 || !TextFolding.IsCjk(fold[i][0]) || !TextFolding.IsCjk(fold[i][1]) || fold[i][0] == fold[i][1])
                throw root.ItemError("fold", i, $"\"{fold[i]}\": expected two different CJK characters, traditional then simplified (e.g. 強强)");
            pairs.Add((fold[i][0], fold[i][1]));
        }
        TextFolding folding;
        try { folding = new TextFolding(pairs); }
        catch (ArgumentException e) { throw root.Error("fold", null, e.Message); }

        var n = root.OptMap("negation");
        var negation = new NegationOptions(
            Words(n, "cues", folding), Words(n, "not_negations", folding), n?.Int("window", 5, 0, 50) ?? 5);
        n?.Done();

        var rules = new List<QaRule>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in root.List("rules"))
        {
            var id = r.Str("id");
            if (id.Length is 0 or > 64 || !id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                throw r.Error("id", null, $"\"{id}\": 1–64 letters, digits, '-', '_' or '.'");
            if (!ids.Add(id)) throw r.Error("id", null, $"\"{id}\" is used by an earlier rule");
            if (!r.Has("version")) throw r.Error("version", null, "is required (a whole number ≥ 1; results keep it)");
            var kind = Choice(r, "kind", null, ("forbidden", RuleKind.Forbidden), ("required", RuleKind.Required));
            var rule = new QaRule
            {
                Id = id,
                Version = r.Int("version", 0, 1),
                Kind = kind,
                Severity = Choice(r, "severity", "medium", ("high", "high"), ("medium", "medium"), ("low", "low")),
                Description = r.OptStr("description") ?? "",
                Speaker = Choice(r, "speaker", "agent", ("agent", SpeakerScope.Agent), ("customer", SpeakerScope.Customer), ("any", SpeakerScope.Any)),
                Phrases = Words(r, "phrases", folding),
                Patterns = Patterns(r, folding),
                Negation = Choice(r, "negation", "true", ("true", true), ("false", false)),
                WithinSeconds = r.Has("within_seconds") ? RequiredOnly(r, kind, "within_seconds").Num("within_seconds", 1, 3600) : null,
                From = r.Has("from") ? Choice(RequiredOnly(r, kind, "from"), "from", null, ("call_start", DisclosureFrom.CallStart), ("agent_first_words", DisclosureFrom.AgentFirstWords)) : DisclosureFrom.CallStart,
                MinCallSeconds = r.Has("min_call_seconds") ? RequiredOnly(r, kind, "min_call_seconds").Num("min_call_seconds", 0, 36000) : 0,
            };
            if (rule.Phrases.Count + rule.Patterns.Count == 0) throw r.Error("phrases", null, "a rule needs phrases or patterns (or both)");
            r.Done();
            rules.Add(rule);
        }
        if (rules.Count == 0) throw root.Error("rules", null, "at least one rule is required");
        root.Done();
        try { return new QaRuleSet(name, version, rules, folding, negation, campaigns); }
        catch (ArgumentException e) { throw root.Error("rules", null, e.Message); } // what the checks above cannot see
    }

    private static YamlSection RequiredOnly(YamlSection r, RuleKind kind, string key) =>
        kind == RuleKind.Required ? r : throw r.Error(key, null, "only a required rule has a deadline (kind: required)");

    /// <summary>Phrases or cues: each must keep a letter or digit once normalised.</summary>
    private static IReadOnlyList<string> Words(YamlSection? s, string key, TextFolding folding)
    {
        if (s is null) return [];
        var words = s.Strings(key);
        for (var i = 0; i < words.Count; i++)
            if (folding.Normalise(words[i]).Length == 0) throw s.ItemError(key, i, $"\"{words[i]}\" has no letters or digits");
        return words;
    }

    private static IReadOnlyList<string> Patterns(YamlSection r, TextFolding folding)
    {
        var patterns = r.Strings("patterns");
        for (var i = 0; i < patterns.Count; i++)
            if (QaRuleSet.PatternError(patterns[i], folding) is { } error) throw r.ItemError("patterns", i, error);
        return patterns;
    }

    private static T Choice<T>(YamlSection s, string key, string? fallback, params (string Name, T Value)[] choices)
    {
        var given = s.OptStr(key) ?? fallback ?? throw s.Error(key, null, $"is required ({string.Join(" | ", choices.Select(c => c.Name))})");
        foreach (var (n, v) in choices) if (n == given) return v;
        throw s.Error(key, null, $"\"{given}\": expected {string.Join(" | ", choices.Select(c => c.Name))}");
    }
}
