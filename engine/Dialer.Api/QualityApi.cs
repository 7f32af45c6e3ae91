using Dialer.Core.Quality;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dialer.Api;

/// <summary>
/// Transcript quality control over HTTP: a call's transcript in (from any recogniser), the campaign's QA rules applied,
/// one result per rule stored against the attempt, an SSE `alert` per violation; the review queue, reviews, and the
/// report per agent or per rule. A transcript is checked once per attempt and rule set (a second post is a 409).
/// </summary>
public static class QualityApi
{
    public const int MaxSegments = 10_000, MaxSegmentChars = 5_000;

    public sealed record SegmentBody(string Speaker, double Start, double End, string Text);
    public sealed record TranscriptBody(List<SegmentBody> Segments, double? DurationSeconds = null);
    public sealed record ReviewBody(string Reviewer, string Verdict, string? Note = null);

    public static void Map(WebApplication app, StoreDb db, IReadOnlyList<QaRuleSet> ruleSets, EventHub hub)
    {
        var sets = new RuleSets(ruleSets);
        var results = new QaResults(db);
        var campaigns = new Campaigns(db);

        app.MapPost("/attempts/{id:long}/transcript", async (long id, HttpRequest req) =>
        {
            var (body, error) = await DialerApi.ReadJson<TranscriptBody>(req);
            if (error is not null) return error;
            if (Validate(body!, out var transcript) is { } invalid) return invalid;
            if (results.Attempt(id) is not { } attempt) return DialerApi.NotFound($"attempt {id}");
            if (sets.For(attempt.Campaign) is not { } rules)
                return Results.Problem(statusCode: 422, title: "no QA rules", detail: $"no QA rule set applies to campaign '{attempt.Campaign}'");

            // The checker reuses its buffers across calls, so each request gets its own (cheap: the rule set is compiled once).
            var findings = new QaChecker(rules).Check(transcript);
            var rows = new NewQaResult[findings.Length];
            for (var r = 0; r < findings.Length; r++)
            {
                var (rule, f) = (rules.Rules[r], findings[r]);
                rows[r] = new NewQaResult(rule.Id, rule.Version, rule.Kind.ToString().ToLowerInvariant(), rule.Severity, Outcome(f.Outcome), f.Late,
                    f.Segment >= 0 ? f.Segment : null, f.Segment >= 0 || f.Outcome == QaOutcome.Violation ? (long)Math.Round(f.OffsetSeconds * 1000) : null,
                    f.Matches, f.Segment >= 0 ? transcript.Segments[f.Segment].Text : null);
            }
            if (!results.Record(attempt, rules.Name, rules.Version, rows, DateTime.UtcNow))
                return Results.Problem(statusCode: 409, title: "already checked", detail: $"attempt {id} was already checked with rule set '{rules.Name}'");
            var stored = results.ForAttempt(id);
            foreach (var v in stored.Where(s => s.Outcome == "violation"))
                hub.Publish("alert", new
                {
                    campaign = attempt.Campaign, attempt_id = id, agent = v.AgentId, result_id = v.Id, rule_id = v.RuleId, rule_version = v.RuleVersion,
                    severity = v.Severity, segment = v.Segment, offset_ms = v.OffsetMs, late = v.Late,
                });
            return Results.Created($"/attempts/{id}/qa", new
            {
                attempt_id = id, rule_set = rules.Name, rule_set_version = rules.Version,
                violations = stored.Count(s => s.Outcome == "violation"), results = stored,
            });
        });
        app.MapGet("/attempts/{id:long}/qa", (long id) => Results.Ok(results.ForAttempt(id)));

        app.MapGet("/qa/queue", (string? campaign, long? after, int? limit) =>
        {
            if (limit is < 1 or > 1000) return DialerApi.Invalid("limit", "must be within 1..1000");
            long? campaignId = null;
            if (campaign is not null) campaignId = campaigns.Find(campaign)?.Id ?? -1;
            if (campaignId == -1) return DialerApi.NotFound($"campaign '{campaign}'");
            return Results.Ok(results.Queue(campaignId, after ?? 0, limit ?? 100));
        });

        app.MapPost("/qa/results/{id:long}/review", async (long id, HttpRequest req) =>
        {
            var (body, error) = await DialerApi.ReadJson<ReviewBody>(req);
            if (error is not null) return error;
            if (string.IsNullOrWhiteSpace(body!.Reviewer) || body.Reviewer.Length > 64) return DialerApi.Invalid("reviewer", "must be 1–64 characters");
            if (body.Verdict is not ("confirmed" or "dismissed")) return DialerApi.Invalid("verdict", "must be confirmed or dismissed");
            if (body.Note is { Length: > 1000 }) return DialerApi.Invalid("note", "must be at most 1000 characters");
            return results.Review(id, body.Reviewer, body.Verdict, body.Note, DateTime.UtcNow) switch
            {
                QaReview.Reviewed => Results.NoContent(),
                QaReview.NotFound => DialerApi.NotFound($"QA result {id}"),
                QaReview.NotAViolation => Results.Problem(statusCode: 409, title: "not a violation", detail: $"QA result {id} is not a violation; only violations are reviewed"),
                _ => Results.Problem(statusCode: 409, title: "already reviewed", detail: $"QA result {id} was already reviewed"),
            };
        });

        app.MapGet("/qa/report", (string? by, string? campaign) =>
        {
            if (by is not ("agent" or "rule")) return DialerApi.Invalid("by", "must be agent or rule");
            long? campaignId = null;
            if (campaign is not null) campaignId = campaigns.Find(campaign)?.Id ?? -1;
            if (campaignId == -1) return DialerApi.NotFound($"campaign '{campaign}'");
            return Results.Ok(new { by, rows = results.Report(by == "agent", campaignId) });
        });
    }

    private static string Outcome(QaOutcome o) => o switch
    {
        QaOutcome.Pass => "pass",
        QaOutcome.Violation => "violation",
        _ => "not_applicable",
    };

    /// <summary>Every bad segment is a 400 naming it, e.g. segments[3].speaker.</summary>
    private static IResult? Validate(TranscriptBody body, out Transcript transcript)
    {
        transcript = null!;
        if (body.Segments.Count is 0 or > MaxSegments) return DialerApi.Invalid("segments", $"must hold 1–{MaxSegments} segments");
        if (body.DurationSeconds is { } d && !(d >= 0 && d < 86_400)) return DialerApi.Invalid("duration_seconds", "must be within 0..86400");
        var segments = new Segment[body.Segments.Count];
        for (var i = 0; i < segments.Length; i++)
        {
            var s = body.Segments[i];
            var at = $"segments[{i}]";
            if (s is null) return DialerApi.Invalid(at, "a segment object is required");
            Speaker speaker;
            if (s.Speaker == "agent") speaker = Speaker.Agent;
            else if (s.Speaker == "customer") speaker = Speaker.Customer;
            else return DialerApi.Invalid($"{at}.speaker", $"\"{s.Speaker}\": expected agent or customer");
            if (!(s.Start >= 0 && s.Start < 86_400)) return DialerApi.Invalid($"{at}.start", "must be seconds from the answer, within 0..86400");
            if (!(s.End >= s.Start && s.End < 86_400)) return DialerApi.Invalid($"{at}.end", "must be ≥ start and within 0..86400");
            if (s.Text.Length > MaxSegmentChars) return DialerApi.Invalid($"{at}.text", $"at most {MaxSegmentChars} characters");
            segments[i] = new Segment(speaker, s.Start, s.End, s.Text);
        }
        transcript = new Transcript(segments, body.DurationSeconds);
        return null;
    }

    /// <summary>Which rule set a campaign's transcripts get: the set that names it, else the one that names none.</summary>
    private sealed class RuleSets
    {
        private readonly Dictionary<string, QaRuleSet> _byCampaign = new(StringComparer.Ordinal);
        private readonly QaRuleSet? _fallback;

        public RuleSets(IReadOnlyList<QaRuleSet> sets)
        {
            foreach (var set in sets)
            {
                if (set.Campaigns.Count == 0)
                {
                    if (_fallback is not null) throw new InvalidOperationException($"qa_rules: rule sets '{_fallback.Name}' and '{set.Name}' both name no campaigns; only one may serve every other campaign");
                    _fallback = set;
                }
                foreach (var c in set.Campaigns)
                    if (!_byCampaign.TryAdd(c, set)) throw new InvalidOperationException($"qa_rules: campaign '{c}' is named by rule sets '{_byCampaign[c].Name}' and '{set.Name}'");
            }
        }

        public QaRuleSet? For(string campaign) => _byCampaign.GetValueOrDefault(campaign) ?? _fallback;
    }
}
