using System.Numerics;

namespace Dialer.Core.Quality;

public enum QaOutcome : byte { Pass, Violation, NotApplicable }

/// <summary>
/// What one rule found in one transcript. <see cref="Segment"/> is the index (into the transcript's segments) of the
/// earliest segment that matched and <see cref="OffsetSeconds"/> its start, or −1 and the missed deadline when a required
/// disclosure was never made; <see cref="Late"/> marks a disclosure made after its deadline. <see cref="Matches"/> counts
/// the segments that matched; <see cref="Matched"/> is the matched text in normal form.
/// </summary>
public readonly record struct QaFinding(QaOutcome Outcome, int Segment, double OffsetSeconds, int Matches, string? Matched, bool Late = false);

/// <summary>
/// Applies a <see cref="QaRuleSet"/> to transcripts. Every segment is folded once into one buffer (segments apart by a
/// line break no phrase or pattern crosses), each phrase list and pattern runs once over it, and each match is mapped
/// back to its segment. Reuses its buffers: one checker per thread; allocates only the matched texts it reports.
/// </summary>
public sealed class QaChecker(QaRuleSet rules)
{
    private char[] _text = new char[4096];
    private bool[] _clauseStart = new bool[4096];
    private int _length;
    private int[] _segStart = new int[128];
    private ulong[] _segHits = []; // rules × segments bitset: a rule counts a segment once, found by a phrase or a pattern
    private int _words; // ulongs per rule in _segHits
    private readonly int[] _first = new int[rules.Rules.Count]; // earliest matching segment per rule, −1 none
    private readonly int[] _firstPos = new int[rules.Rules.Count];
    private readonly int[] _firstLen = new int[rules.Rules.Count];
    private IReadOnlyList<Segment> _segments = [];

    public QaRuleSet Rules => rules;

    public QaFinding[] Check(Transcript transcript)
    {
        var findings = new QaFinding[rules.Rules.Count];
        Check(transcript, findings);
        return findings;
    }

    /// <summary>Writes one finding per rule, in the rule set's order, into <paramref name="findings"/>.</summary>
    public void Check(Transcript transcript, Span<QaFinding> findings)
    {
        if (findings.Length < rules.Rules.Count) throw new ArgumentException($"room for {rules.Rules.Count} findings is needed", nameof(findings));
        Fold(transcript.Segments);
        Array.Fill(_first, -1);
        var text = _text.AsSpan(0, _length);

        // Phrases: one multi-string search over the whole text; at each hit, every phrase that starts there.
        var phrases = rules.Phrases;
        for (var at = text.IndexOfAny(rules.PhraseSearch); at >= 0; at = Next(text, at, rules.PhraseSearch))
        {
            foreach (ref readonly var p in phrases.AsSpan())
            {
                if (!text[at..].StartsWith(p.Text, StringComparison.Ordinal)) continue;
                var end = at + p.Text.Length;
                if (p.WordStart && at > 0 && TextFolding.IsWordChar(text[at - 1])) continue; // "renew" is not in "prerenewal"
                if (p.WordEnd && end < text.Length && TextFolding.IsWordChar(text[end])) continue;
                Hit(p.Rule, at, p.Text.Length, pattern: false);
            }
        }
        // Patterns: one pass of each rule's compiled alternation; a match may not span two segments.
        for (var r = 0; r < rules.Regexes.Length; r++)
        {
            if (rules.Regexes[r] is not { } regex) continue;
            foreach (var m in regex.EnumerateMatches(text))
                if (m.Length > 0 && !text.Slice(m.Index, m.Length).Contains('\n')) Hit(r, m.Index, m.Length, pattern: true);
        }

        var length = transcript.Length;
        double? agentFirst = null;
        foreach (var s in transcript.Segments)
            if (s.Speaker == Speaker.Agent && (agentFirst is null || s.Start < agentFirst)) agentFirst = s.Start;
        for (var r = 0; r < rules.Rules.Count; r++)
            findings[r] = Judge(r, rules.Rules[r], length, agentFirst);
        _segments = [];
    }

    private QaFinding Judge(int r, QaRule rule, double callLength, double? agentFirst)
    {
        var seg = _first[r];
        var matched = seg < 0 ? null : new string(_text, _firstPos[r], _firstLen[r]);
        var start = seg < 0 ? 0 : _segments[seg].Start;
        var matches = 0;
        foreach (var w in _segHits.AsSpan(r * _words, _words)) matches += BitOperations.PopCount(w);
        if (rule.Kind == RuleKind.Forbidden)
            return seg < 0 ? new QaFinding(QaOutcome.Pass, -1, 0, 0, null) : new QaFinding(QaOutcome.Violation, seg, start, matches, matched);

        // Required: the deadline runs from the answer or from the agent's first words (no agent words: nothing to judge).
        double deadline;
        if (rule.WithinSeconds is { } within)
        {
            if (rule.From == DisclosureFrom.AgentFirstWords && agentFirst is null) return new QaFinding(QaOutcome.NotApplicable, -1, 0, 0, null);
            deadline = (rule.From == DisclosureFrom.AgentFirstWords ? agentFirst!.Value : 0) + within;
        }
        else deadline = callLength;
        if (seg >= 0 && start <= deadline) return new QaFinding(QaOutcome.Pass, seg, start, matches, matched);
        // Not made in time: a call that ended before the deadline (or is shorter than the rule looks at) is not the agent's fault.
        if (callLength < deadline || callLength < rule.MinCallSeconds) return new QaFinding(QaOutcome.NotApplicable, seg, start, matches, matched);
        return seg >= 0 ? new QaFinding(QaOutcome.Violation, seg, start, matches, matched, Late: true) : new QaFinding(QaOutcome.Violation, -1, deadline, 0, null);
    }

    private void Fold(IReadOnlyList<Segment> segments)
    {
        _segments = segments;
        if (_segStart.Length < segments.Count + 1) _segStart = new int[Math.Max(segments.Count + 1, _segStart.Length * 2)];
        _length = 0;
        for (var i = 0; i < segments.Count; i++)
        {
            if (i > 0) { EnsureRoom(1); _text[_length] = '\n'; _clauseStart[_length] = true; _length++; }
            _segStart[i] = _length;
            rules.Folding.Append(segments[i].Text, ref _text, ref _clauseStart, ref _length);
        }
        _segStart[segments.Count] = _length + 1;
        _words = (segments.Count + 63) >> 6;
        var bits = _words * rules.Rules.Count;
        if (_segHits.Length < bits) _segHits = new ulong[Math.Max(bits, _segHits.Length * 2)];
        Array.Clear(_segHits, 0, bits);
    }

    private void EnsureRoom(int extra)
    {
        if (_length + extra <= _text.Length) return;
        Array.Resize(ref _text, _text.Length * 2);
        Array.Resize(ref _clauseStart, _text.Length);
    }

    /// <summary>The segment holding text position <paramref name="pos"/>.</summary>
    private int SegmentAt(int pos)
    {
        int lo = 0, hi = _segments.Count - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) >> 1;
            if (_segStart[mid] <= pos) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    private void Hit(int r, int pos, int len, bool pattern)
    {
        var rule = rules.Rules[r];
        var seg = SegmentAt(pos);
        var speaker = _segments[seg].Speaker;
        if (rule.Speaker == SpeakerScope.Agent && speaker != Speaker.Agent || rule.Speaker == SpeakerScope.Customer && speaker != Speaker.Customer) return;
        if (rule.Negation && Negated(pos, pos + len, pattern, _segStart[seg])) return;
        _segHits[r * _words + (seg >> 6)] |= 1UL << seg;
        var first = _first[r];
        if (first < 0 || _segments[seg].Start < _segments[first].Start || seg == first && pos < _firstPos[r])
        {
            _first[r] = seg;
            _firstPos[r] = pos;
            _firstLen[r] = len;
        }
    }

    /// <summary>NegationOptions' rule: a cue in the window before [start, end) in the same clause, or inside it for a pattern.</summary>
    private bool Negated(int start, int end, bool inside, int segBegin)
    {
        // Walk back Window units (a CJK character or a whole word), stopping at a clause boundary or the segment's start.
        int pos = start, units = 0, window = rules.Negation.Window;
        while (pos > segBegin && !_clauseStart[pos])
        {
            var c = _text[pos - 1];
            if (c != ' ')
            {
                if (++units > window) break;
                if (TextFolding.IsWordChar(c))
                    while (pos - 1 > segBegin && !_clauseStart[pos - 1] && TextFolding.IsWordChar(_text[pos - 2])) pos--;
            }
            pos--;
        }
        var region = _text.AsSpan(pos, (inside ? end : start) - pos);
        for (var at = region.IndexOfAny(rules.CueSearch); at >= 0; at = Next(region, at, rules.CueSearch))
        {
            var p = pos + at;
            foreach (var cue in rules.Cues)
            {
                if (!region[at..].StartsWith(cue, StringComparison.Ordinal)) continue;
                var ce = p + cue.Length;
                if (ce > start && p < start) continue; // straddles the match's start: neither before it nor inside it
                if (TextFolding.IsWordChar(cue[0]) && p > 0 && TextFolding.IsWordChar(_text[p - 1])) continue; // "no" is not in "know"
                if (TextFolding.IsWordChar(cue[^1]) && ce < _length && TextFolding.IsWordChar(_text[ce])) continue;
                if (!PartOfNotNegation(p, ce)) return true;
            }
        }
        return false;
    }

    /// <summary>The next position after <paramref name="at"/> where one of <paramref name="words"/> starts, or −1.</summary>
    private static int Next(ReadOnlySpan<char> text, int at, System.Buffers.SearchValues<string> words)
    {
        var next = text[(at + 1)..].IndexOfAny(words);
        return next < 0 ? -1 : at + 1 + next;
    }

    private bool PartOfNotNegation(int cueStart, int cueEnd)
    {
        foreach (var x in rules.NotNegations)
            for (var q = Math.Max(0, cueEnd - x.Length); q <= cueStart && q + x.Length <= _length; q++)
                if (_text.AsSpan(q, x.Length).SequenceEqual(x)) return true;
        return false;
    }
}
