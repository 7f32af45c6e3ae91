using Dialer.Api;
using Dialer.Core.Quality;
using Dialer.Sim.Config;
using Dialer.Tests.Quality;
using Xunit.Abstractions;

namespace Dialer.Core.Tests;

public class QualityTests(ITestOutputHelper output)
{
    private static readonly QaRuleSet Rules = QualityRuleFile.Shipped;
    private static readonly string[] RuleIds = [.. Rules.Rules.Select(r => r.Id)];

    private static Segment A(double start, string text) => new(Speaker.Agent, start, start + 3, text);
    private static Segment C(double start, string text) => new(Speaker.Customer, start, start + 3, text);

    private static QaFinding Find(string rule, params Segment[] segments) => Find(rule, new Transcript(segments));
    private static QaFinding Find(string rule, Transcript t) => new QaChecker(Rules).Check(t)[Array.IndexOf(RuleIds, rule)];
    private static bool Flagged(string rule, params Segment[] segments) => Find(rule, segments).Outcome == QaOutcome.Violation;

    // ---- normalisation ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("強制續保", "强制续保")]
    [InlineData("强 制 ， 续 保 。", "强制续保")]
    [InlineData("ＲＥＮＥＷＡＬ　ｉｓ　Ｃｏｍｐｕｌｓｏｒｙ！", "renewal is compulsory")]
    [InlineData("Renewal,   is... COMPULSORY", "renewal is compulsory")]
    [InlineData("don't / won’t", "dont wont")]
    [InlineData("保费３２００元，打５折", "保费3200元打5折")]
    [InlineData("「优惠」【内部价】", "优惠内部价")]
    public void Normal_form_folds_width_case_script_punctuation_and_spaces(string text, string expected) =>
        Assert.Equal(expected, Rules.Folding.Normalise(text));

    [Fact]
    public void Traditional_spaced_and_full_width_variants_of_a_violation_are_all_caught()
    {
        foreach (var text in new[] { "这是强制续保的", "這是強制續保的", "这 是 强 制 续 保 的", "這是強制，續保的" })
            Assert.True(Flagged("compulsory-renewal", A(0, text)), text);
        foreach (var text in new[] { "Renewal is compulsory.", "RENEWAL IS COMPULSORY", "ｒｅｎｅｗａｌ ｉｓ ｃｏｍｐｕｌｓｏｒｙ", "renewal  is,compulsory" })
            Assert.True(Flagged("compulsory-renewal", A(0, text)), text);
    }

    // ---- negation -----------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("不是强制续保，您自己决定")]
    [InlineData("续保并不是强制的")]
    [InlineData("我们没有返现")] // fake-discount checked below; here: nothing compulsory at all
    [InlineData("Renewal is not compulsory.")]
    [InlineData("There is no compulsory renewal.")]
    [InlineData("It isn't really a compulsory renewal")]
    public void A_negated_statement_is_not_a_violation(string text) => Assert.False(Flagged("compulsory-renewal", A(0, text)), text);

    [Theory]
    [InlineData("不，这是强制续保，您必须办")] // the 不 answers a question; the comma ends its clause
    [InlineData("没有问题我们这边强制续保")] // the cue is 6 characters back: outside the 5-character window
    [InlineData("不仅是强制续保，还要交钱")] // 不仅 (not only) negates nothing
    [InlineData("您不得不续保，这是强制续保")]
    [InlineData("No problem, renewal is compulsory.")]
    [InlineData("Not only is this a compulsory renewal")]
    [InlineData("I know renewal is compulsory")] // "no" inside "know" is not a cue
    public void A_cue_outside_the_window_or_clause_or_inside_a_non_negation_does_not_negate(string text) =>
        Assert.True(Flagged("compulsory-renewal", A(0, text)), text);

    [Fact]
    public void A_cue_inside_a_patterns_match_negates_it_but_a_phrase_keeps_its_own_words()
    {
        Assert.True(Flagged("compulsory-renewal", A(0, "续保是强制的")));
        Assert.False(Flagged("compulsory-renewal", A(0, "续保不是强制的"))); // pattern 续保.{0,3}强制的 spans the 不
        Assert.True(Flagged("compulsory-renewal", A(0, "如果您不续保就违法了"))); // phrase 不续保就违法: its 不 is meant
        Assert.False(Flagged("fake-discount", A(0, "公司严禁返现")));
        Assert.True(Flagged("fake-discount", A(0, "公司可以给您返现")));
    }

    [Fact]
    public void A_negation_in_the_previous_segment_does_not_reach_into_the_next()
    {
        Assert.True(Flagged("compulsory-renewal", A(0, "不"), A(2, "强制续保的")));
        Assert.True(Flagged("compulsory-renewal", C(0, "不是吧"), A(2, "强制续保")));
    }

    // ---- speakers -----------------------------------------------------------------------------------------------

    [Fact]
    public void Agent_rules_do_not_hear_the_customer()
    {
        Assert.False(Flagged("compulsory-renewal", C(0, "你们这个是强制续保吗？"), A(3, "不是的，您自己决定。")));
        Assert.False(Flagged("fake-discount", C(0, "我朋友说别家续保有返现。")));
        Assert.True(Flagged("fake-discount", C(0, "别家有返现吗"), A(3, "我们也可以返现")));
    }

    [Fact]
    public void A_customer_scoped_rule_hears_only_the_customer()
    {
        var set = QualityRuleFile.Parse("""
            rule_set: complaints
            version: 3
            rules:
              - id: complaint-threat
                version: 2
                kind: forbidden
                speaker: customer
                phrases: [我要投诉, I will complain]
            """, "complaints.yaml");
        var checker = new QaChecker(set);
        Assert.Equal(QaOutcome.Pass, checker.Check(new Transcript([A(0, "您可以投诉，我要投诉也可以")]))[0].Outcome);
        var found = checker.Check(new Transcript([A(0, "您好"), C(4, "I WILL complain about this")]))[0];
        Assert.Equal((QaOutcome.Violation, 1, 4.0), (found.Outcome, found.Segment, found.OffsetSeconds));
        Assert.Equal((3, "complaint-threat", 2), (set.Version, set.Rules[0].Id, set.Rules[0].Version));
    }

    // ---- findings: segment, time, count -------------------------------------------------------------------------

    [Fact]
    public void A_violation_names_its_earliest_segment_its_start_and_how_many_segments_matched()
    {
        var f = Find("fake-discount", A(0, "您好"), C(3.5, "嗯"), A(7.25, "给您内部价"), A(12, "还能返现"), A(15, "内部价，内部价"));
        Assert.Equal(new QaFinding(QaOutcome.Violation, 2, 7.25, 3, "内部价"), f);
        Assert.Equal(new QaFinding(QaOutcome.Pass, -1, 0, 0, null), Find("fake-discount", A(0, "您好")));
    }

    // ---- required disclosures -----------------------------------------------------------------------------------

    [Fact]
    public void A_disclosure_passes_in_time_is_late_after_the_deadline_and_missing_when_never_made()
    {
        const string notice = "本次通话将会录音";
        var inTime = Find("recording-notice", new Transcript([A(0, "您好"), A(29.5, notice)], 120));
        Assert.Equal((QaOutcome.Pass, 1, 29.5), (inTime.Outcome, inTime.Segment, inTime.OffsetSeconds));
        var late = Find("recording-notice", new Transcript([A(0, "您好"), A(31, notice)], 120));
        Assert.Equal((QaOutcome.Violation, 1, true), (late.Outcome, late.Segment, late.Late));
        var missing = Find("recording-notice", new Transcript([A(0, "您好"), A(31, "好的")], 120));
        Assert.Equal((QaOutcome.Violation, -1, 30.0, false), (missing.Outcome, missing.Segment, missing.OffsetSeconds, missing.Late));
        var negated = Find("recording-notice", new Transcript([A(0, "您放心，本次通话不会录音")], 120));
        Assert.Equal(QaOutcome.Violation, negated.Outcome);
    }

    [Fact]
    public void A_call_that_ends_before_the_deadline_or_under_the_minimum_is_not_judged()
    {
        Assert.Equal(QaOutcome.NotApplicable, Find("recording-notice", new Transcript([A(0, "您好"), C(3, "不需要")], 9)).Outcome);
        Assert.Equal(QaOutcome.NotApplicable, Find("refusal-offer", new Transcript([A(0, "您好")], 45)).Outcome);
        Assert.Equal(QaOutcome.Violation, Find("refusal-offer", new Transcript([A(0, "您好")], 61)).Outcome);
        Assert.Equal(QaOutcome.Pass, Find("refusal-offer", new Transcript([A(0, "您可以随时拒绝")], 20)).Outcome);
    }

    [Fact]
    public void A_deadline_can_run_from_the_agents_first_words()
    {
        var set = QualityRuleFile.Parse("""
            rule_set: s
            version: 1
            rules:
              - id: greet
                version: 1
                kind: required
                within_seconds: 10
                from: agent_first_words
                phrases: [hello]
            """, "s.yaml");
        var checker = new QaChecker(set);
        // The agent joins at 20 s (a predictive call reaches the agent after the answer): 25 s is within 10 s of that.
        Assert.Equal(QaOutcome.Pass, checker.Check(new Transcript([C(0, "hello?"), A(20, "one moment"), A(25, "hello")], 60))[0].Outcome);
        Assert.Equal(QaOutcome.Violation, checker.Check(new Transcript([C(0, "hello?"), A(20, "one moment"), A(31, "hello")], 60))[0].Outcome);
        Assert.Equal(QaOutcome.NotApplicable, checker.Check(new Transcript([C(0, "hello?")], 60))[0].Outcome);
    }

    // ---- the rule file ------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: banned\n    phrases: [x]", "x.yaml:4: rules[0].kind: \"banned\": expected forbidden | required")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    phrases: [x]\n    phrase: [y]", "x.yaml:6: rules[0].phrase: unknown key")]
    [InlineData("fold: [續续]\nrules:\n  - id: a\n    version: 1\n    kind: forbidden\n    patterns: [ok, '續保']", "x.yaml:6: rules[0].patterns[1]: '續' is never in normalised text (write it as '续')")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    patterns:\n      - 'Renew'", "x.yaml:6: rules[0].patterns[0]: 'R' is upper case")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    patterns: ['(a']", "x.yaml:5: rules[0].patterns[0]: not a valid regular expression")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    patterns: ['(?=a)b']", "x.yaml:5: rules[0].patterns[0]: uses a construct linear-time matching does not support")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    within_seconds: 30\n    phrases: [x]", "x.yaml:5: rules[0].within_seconds: only a required rule has a deadline")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    phrases: [x]\n  - id: a\n    version: 1\n    kind: forbidden\n    phrases: [y]", "x.yaml:6: rules[1].id: \"a\" is used by an earlier rule")]
    [InlineData("rules:\n  - id: a\n    kind: forbidden\n    phrases: [x]", "x.yaml:2: rules[0].version: is required")]
    [InlineData("fold: [強强, 续]\nrules:\n  - id: a\n    version: 1\n    kind: forbidden\n    phrases: [x]", "x.yaml:1: fold[1]: \"续\": expected two different CJK characters")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden\n    phrases: ['，。']", "x.yaml:5: rules[0].phrases[0]: \"，。\" has no letters or digits")]
    [InlineData("rules:\n  - id: a\n    version: 1\n    kind: forbidden", "x.yaml:2: rules[0].phrases: a rule needs phrases or patterns")]
    public void A_bad_rule_file_names_the_line_and_key(string body, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => QualityRuleFile.Parse("rule_set: x\nversion: 1\n" + body, "x.yaml"));
        // The two header lines come first: line numbers in the cases count from the body, so shift them.
        var shifted = System.Text.RegularExpressions.Regex.Replace(expected, @"^x\.yaml:(\d+):", m => $"x.yaml:{int.Parse(m.Groups[1].Value) + 2}:");
        Assert.StartsWith(shifted, e.Message);
    }

    [Fact]
    public void The_shipped_rule_set_covers_both_languages_with_versions()
    {
        Assert.Equal(("car-insurance-renewal", 1), (Rules.Name, Rules.Version));
        Assert.Equal(["compulsory-renewal", "fake-discount", "guaranteed-payout", "pressure-selling", "identity-disclosure", "recording-notice", "refusal-offer"], RuleIds);
        Assert.All(Rules.Rules, r => Assert.True(r.Version >= 1 && r.Description.Length > 0, r.Id));
    }

    // ---- labelled corpora: precision and recall per rule --------------------------------------------------------

    [Fact]
    public void Generated_corpus_precision_and_recall_per_rule()
    {
        var corpus = TranscriptGenerator.Generate(240, seed: 15);
        Assert.True(corpus.Count(c => c.Language == "zh") >= 100 && corpus.Count(c => c.Language == "en") >= 100);
        Score(corpus, minimum: 0.95, minPositives: 8);
    }

    [Fact]
    public void Hand_written_corpus_precision_and_recall_per_rule()
    {
        var corpus = HandWritten(Path.Combine(AppContext.BaseDirectory, "Quality", "hand-written.txt"));
        Assert.True(corpus.Count >= 40, $"{corpus.Count} hand-written transcripts");
        Score(corpus, minimum: 0.95, minPositives: 3);
    }

    /// <summary>Asserts per-rule precision and recall, and that no near-miss is flagged; prints the table.</summary>
    private void Score(IReadOnlyList<LabelledTranscript> corpus, double minimum, int minPositives)
    {
        var checker = new QaChecker(Rules);
        var findings = corpus.Select(c => checker.Check(c.Transcript)).ToList();
        List<string> wrong = [], failures = [];
        output.WriteLine($"{corpus.Count} transcripts ({corpus.Count(c => c.Language == "zh")} zh, {corpus.Count(c => c.Language == "en")} en)");
        output.WriteLine("rule                 positives  TP  FP  FN  precision  recall  near-misses (flagged)");
        for (var r = 0; r < RuleIds.Length; r++)
        {
            var id = RuleIds[r];
            int tp = 0, fp = 0, fn = 0, near = 0, nearFlagged = 0;
            for (var i = 0; i < corpus.Count; i++)
            {
                var flagged = findings[i][r].Outcome == QaOutcome.Violation;
                var truth = corpus[i].Violations.Contains(id);
                if (flagged && truth) tp++;
                else if (flagged) { fp++; wrong.Add($"{corpus[i].Id}: {id} flagged ({findings[i][r].Matched}) but not labelled"); }
                else if (truth) { fn++; wrong.Add($"{corpus[i].Id}: {id} labelled but {findings[i][r].Outcome}"); }
                if (corpus[i].NearMisses.Contains(id) && !truth) { near++; if (flagged) nearFlagged++; }
            }
            double precision = tp + fp == 0 ? 1 : (double)tp / (tp + fp), recall = tp + fn == 0 ? 1 : (double)tp / (tp + fn);
            output.WriteLine($"{id,-20} {tp + fn,9} {tp,3} {fp,3} {fn,3} {precision,10:F3} {recall,7:F3}  {near} ({nearFlagged})");
            if (tp + fn < minPositives) failures.Add($"{id}: only {tp + fn} labelled violations; the corpus cannot measure recall");
            if (precision < minimum || recall < minimum) failures.Add($"{id}: precision {precision:F3}, recall {recall:F3}");
            if (nearFlagged > 0) failures.Add($"{id}: {nearFlagged} near-misses flagged");
        }
        foreach (var w in wrong) output.WriteLine(w);
        Assert.True(failures.Count == 0, string.Join('\n', failures.Concat(wrong))); // every rule's figures are printed first
    }

    /// <summary>
    /// The hand-written set: "=== id lang=zh duration=95 violations=a,b near=c" then one line per segment,
    /// "A|C start end text" (agent or customer, seconds).
    /// </summary>
    private static List<LabelledTranscript> HandWritten(string file)
    {
        var list = new List<LabelledTranscript>();
        string? id = null, lang = null;
        double? duration = null;
        HashSet<string> violations = [], near = [];
        var segments = new List<Segment>();
        void Flush() { if (id is not null) list.Add(new(id, lang!, new Transcript([.. segments], duration), violations, near)); }
        var n = 0;
        foreach (var raw in File.ReadLines(file))
        {
            n++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith("==="))
            {
                Flush();
                var parts = line[3..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                id = parts[0];
                var fields = parts.Skip(1).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
                lang = fields["lang"];
                duration = fields.TryGetValue("duration", out var d) ? double.Parse(d, System.Globalization.CultureInfo.InvariantCulture) : null;
                violations = fields.TryGetValue("violations", out var v) ? [.. v.Split(',')] : [];
                near = fields.TryGetValue("near", out var m) ? [.. m.Split(',')] : [];
                Assert.All(violations.Concat(near), rule => Assert.Contains(rule, RuleIds));
                segments = [];
                continue;
            }
            var cols = line.Split(' ', 4);
            if (cols.Length < 4 || cols[0] is not ("A" or "C")) throw new FormatException($"{file}:{n}: expected 'A|C start end text'");
            segments.Add(new Segment(cols[0] == "A" ? Speaker.Agent : Speaker.Customer,
                double.Parse(cols[1], System.Globalization.CultureInfo.InvariantCulture), double.Parse(cols[2], System.Globalization.CultureInfo.InvariantCulture), cols[3]));
        }
        Flush();
        return list;
    }
}
