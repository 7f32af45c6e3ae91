using System.Buffers;
using System.Text.RegularExpressions;

namespace Dialer.Core.Quality;

public enum RuleKind : byte { Forbidden, Required }

/// <summary>Whose words a rule reads.</summary>
public enum SpeakerScope : byte { Agent, Customer, Any }

/// <summary>Where a required disclosure's time limit is counted from.</summary>
public enum DisclosureFrom : byte { CallStart, AgentFirstWords }

/// <summary>
/// One QA rule, data with a version: results name <see cref="Id"/> and <see cref="Version"/>, so a changed rule never
/// rewrites what an older version found. A <b>forbidden</b> rule is violated by any match in its speaker's words; a
/// <b>required</b> rule is met by a match in a segment that starts within <see cref="WithinSeconds"/> of
/// <see cref="From"/> (no limit: by the end of the call). Phrases are literal (compared in <see cref="TextFolding"/>'s
/// normal form); patterns are .NET regular expressions run on that normal form, linear-time (NonBacktracking).
/// </summary>
public sealed record QaRule
{
    public required string Id { get; init; }
    public required int Version { get; init; }
    public required RuleKind Kind { get; init; }
    public string Severity { get; init; } = "medium";
    public string Description { get; init; } = "";
    public SpeakerScope Speaker { get; init; } = SpeakerScope.Agent;
    public IReadOnlyList<string> Phrases { get; init; } = [];
    public IReadOnlyList<string> Patterns { get; init; } = [];
    /// <summary>Whether a negation cue before a match (or inside a pattern's match) cancels it; see <see cref="NegationOptions"/>.</summary>
    public bool Negation { get; init; } = true;
    public double? WithinSeconds { get; init; }
    public DisclosureFrom From { get; init; } = DisclosureFrom.CallStart;
    /// <summary>A call shorter than this is not judged on this required rule unless the disclosure was made (the customer hung up first).</summary>
    public double MinCallSeconds { get; init; }
}

/// <summary>
/// When a match does not count. A match is <b>negated</b> when a cue lies (a) among the <see cref="Window"/> characters
/// (Chinese) or words (English) before it, in the same clause of the same segment, or (b) inside the text a
/// <i>pattern</i> matched (a phrase is literal: its own words are meant). A cue that is part of a
/// <see cref="NotNegations"/> entry (不仅, 不得不, "not only") is not a negation. English cues match whole words only.
/// </summary>
public sealed record NegationOptions(IReadOnlyList<string> Cues, IReadOnlyList<string> NotNegations, int Window = 5);

/// <summary>A rule set built and checked once: phrases, cues and exclusions folded, patterns compiled.</summary>
public sealed class QaRuleSet
{
    internal readonly record struct Phrase(string Text, int Rule, bool WordStart, bool WordEnd);

    public QaRuleSet(string name, int version, IReadOnlyList<QaRule> rules, TextFolding folding, NegationOptions negation, IReadOnlyList<string>? campaigns = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("rule_set: a name is required");
        if (version < 1) throw new ArgumentException("version: must be ≥ 1");
        if (rules.Count == 0) throw new ArgumentException("rules: at least one rule is required");
        if (negation.Window is < 0 or > 50) throw new ArgumentException("negation.window: must be within 0..50");
        Name = name;
        Version = version;
        Rules = rules;
        Folding = folding;
        Negation = negation;
        Campaigns = campaigns ?? [];
        var phrases = new List<Phrase>();
        Regexes = new Regex?[rules.Count];
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var r = 0; r < rules.Count; r++)
        {
            var rule = rules[r];
            var where = $"rules[{r}]";
            if (string.IsNullOrWhiteSpace(rule.Id)) throw new ArgumentException($"{where}.id: is required");
            if (!ids.Add(rule.Id)) throw new ArgumentException($"{where}.id: '{rule.Id}' is used twice");
            if (rule.Version < 1) throw new ArgumentException($"{where}.version: must be ≥ 1");
            if (rule.Phrases.Count + rule.Patterns.Count == 0) throw new ArgumentException($"{where}: needs phrases or patterns");
            if (rule.Kind == RuleKind.Forbidden && (rule.WithinSeconds is not null || rule.MinCallSeconds != 0))
                throw new ArgumentException($"{where}: within_seconds and min_call_seconds belong to required rules");
            for (var i = 0; i < rule.Phrases.Count; i++)
            {
                var text = folding.Normalise(rule.Phrases[i]);
                if (text.Length == 0) throw new ArgumentException($"{where}.phrases[{i}]: has no letters or digits");
                phrases.Add(new Phrase(text, r, TextFolding.IsWordChar(text[0]), TextFolding.IsWordChar(text[^1])));
            }
            for (var i = 0; i < rule.Patterns.Count; i++)
                if (PatternError(rule.Patterns[i], folding) is { } error) throw new ArgumentException($"{where}.patterns[{i}]: {error}");
            if (rule.Patterns.Count > 0)
                Regexes[r] = Compile(string.Join('|', rule.Patterns.Select(p => $"(?:{p})")));
        }
        Phrases = [.. phrases];
        PhraseSearch = SearchValues.Create(phrases.Select(p => p.Text).Distinct().ToArray(), StringComparison.Ordinal);
        Cues = Fold(negation.Cues, "negation.cues");
        NotNegations = Fold(negation.NotNegations, "negation.not_negations");
        CueSearch = SearchValues.Create(Cues.Length > 0 ? Cues : ["\n"], StringComparison.Ordinal); // "\n" never lies inside a segment
        string[] Fold(IReadOnlyList<string> words, string key) => [.. words.Select((w, i) =>
            folding.Normalise(w) is { Length: > 0 } f ? f : throw new ArgumentException($"{key}[{i}]: has no letters or digits"))];
    }

    public string Name { get; }
    public int Version { get; }
    public IReadOnlyList<QaRule> Rules { get; }
    public TextFolding Folding { get; }
    public NegationOptions Negation { get; }
    /// <summary>The campaigns this set applies to; empty: every campaign no other set names.</summary>
    public IReadOnlyList<string> Campaigns { get; }

    internal Phrase[] Phrases { get; }
    internal SearchValues<string> PhraseSearch { get; }
    internal Regex?[] Regexes { get; }
    internal string[] Cues { get; }
    internal string[] NotNegations { get; }
    internal SearchValues<string> CueSearch { get; }

    /// <summary>
    /// Why a pattern cannot be used, or null: it must compile as a linear-time .NET regex and be written in normal form
    /// (simplified, half-width, lower case), because that is the text it runs on.
    /// </summary>
    public static string? PatternError(string pattern, TextFolding folding)
    {
        if (string.IsNullOrWhiteSpace(pattern)) return "is empty";
        if (folding.FirstFoldable(pattern) is var f && f != '\0')
            return $"'{f}' is never in normalised text (write it as '{folding.Normalise(f.ToString())}')";
        for (var i = 0; i < pattern.Length; i++)
        {
            if (pattern[i] == '\\') { i++; continue; } // \B \W \S \D are classes, not letters
            if (pattern[i] is >= 'A' and <= 'Z') return $"'{pattern[i]}' is upper case; normalised text is lower case";
        }
        try { Compile(pattern); return null; }
        catch (ArgumentException e) { return $"not a valid regular expression: {e.Message}"; }
        catch (NotSupportedException e) { return $"uses a construct linear-time matching does not support (lookaround, backreference, atomic group): {e.Message}"; }
    }

    private const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture;

    // Linear-time matching: no pattern an operator writes can stall a check. The compiled backtracking engine was faster
    // on Chinese here, but only safe with a wall-clock time-out, and on a loaded machine that time-out failed good
    // transcripts; a check must not depend on the machine's load.
    private static Regex Compile(string pattern) => new(pattern, RegexOptions.NonBacktracking | Options);
}

