using System.Text;
using Dapper;

namespace Dialer.Store;

/// <summary>What one rule found in one call, as the API stores it.</summary>
public sealed record NewQaResult(string RuleId, int RuleVersion, string Kind, string Severity, string Outcome, bool Late,
    int? Segment, long? OffsetMs, int Matches, string? Excerpt);

public sealed record QaResult(long Id, long AttemptId, long CampaignId, string? AgentId, string RuleSet, long RuleSetVersion,
    string RuleId, long RuleVersion, string Kind, string Severity, string Outcome, bool Late, long? Segment, long? OffsetMs,
    long Matches, string? Excerpt, DateTime CheckedAt, DateTime? ReviewedAt, string? Reviewer, string? Verdict, string? ReviewNote);

/// <summary>One line of the QA report: an agent's calls, or a rule's findings, with the review state of the violations.</summary>
public sealed record QaReportRow(string Key, long? RuleVersion, long CallsChecked, long CallsWithViolations, long Violations,
    long Confirmed, long Dismissed, long Pending);

/// <summary>The attempt a transcript belongs to: its campaign and the agent bridged to it.</summary>
public sealed record QaAttempt(long Id, long CampaignId, string Campaign, string? AgentId);

public enum QaReview { Reviewed, NotFound, NotAViolation, AlreadyReviewed }

/// <summary>QA results per attempt (qa_results), the review queue and the per-agent / per-rule report.</summary>
public sealed class QaResults(StoreDb db)
{
    private sealed record Row(long Id, long AttemptId, long CampaignId, string? AgentId, string RuleSet, long RuleSetVersion,
        string RuleId, long RuleVersion, string Kind, string Severity, string Outcome, long Late, long? Segment, long? OffsetMs,
        long Matches, string? Excerpt, long CheckedAt, long? ReviewedAt, string? Reviewer, string? Verdict, string? ReviewNote);

    private sealed record ReviewState(string Outcome, long? ReviewedAt);

    private const string Columns = """
        id, attempt_id, campaign_id, agent_id, rule_set, rule_set_version, rule_id, rule_version, kind, severity, outcome, late,
        segment, offset_ms, matches, excerpt, checked_at, reviewed_at, reviewer, verdict, review_note
        """;

    public QaAttempt? Attempt(long attemptId)
    {
        using var c = db.Connect();
        return c.QuerySingleOrDefault<QaAttempt>("""
            SELECT a.id, a.campaign_id, c.name AS campaign, a.agent AS agent_id FROM attempts a JOIN campaigns c ON c.id = a.campaign_id WHERE a.id = @attemptId
            """, new { attemptId });
    }

    /// <summary>Stores one check of an attempt under a rule set; false when that attempt was already checked with that set.</summary>
    public bool Record(QaAttempt attempt, string ruleSet, int ruleSetVersion, IReadOnlyList<NewQaResult> results, DateTime utcNow) => db.Write((c, tx) =>
    {
        if (c.ExecuteScalar<long>("SELECT COUNT(*) FROM qa_results WHERE attempt_id = @Id AND rule_set = @ruleSet", new { attempt.Id, ruleSet }, tx) > 0)
            return false;
        c.Execute($"""
            INSERT INTO qa_results (attempt_id, campaign_id, agent_id, rule_set, rule_set_version, rule_id, rule_version, kind, severity,
                                    outcome, late, segment, offset_ms, matches, excerpt, checked_at)
            VALUES (@attemptId, @campaignId, @agentId, @ruleSet, @ruleSetVersion, @RuleId, @RuleVersion, @Kind, @Severity,
                    @Outcome, @late, @Segment, @OffsetMs, @Matches, @excerpt, @at)
            """, results.Select(r => new
        {
            attemptId = attempt.Id, campaignId = attempt.CampaignId, agentId = attempt.AgentId, ruleSet, ruleSetVersion = (long)ruleSetVersion,
            r.RuleId, RuleVersion = (long)r.RuleVersion, r.Kind, r.Severity, r.Outcome, late = r.Late ? 1L : 0L, Segment = (long?)r.Segment, r.OffsetMs,
            Matches = (long)r.Matches, excerpt = r.Excerpt is null ? null : Excerpt(r.Excerpt), at = Time.Ms(utcNow),
        }), tx);
        return true;
    });

    public IReadOnlyList<QaResult> ForAttempt(long attemptId)
    {
        using var c = db.Connect();
        return [.. c.Query<Row>($"SELECT {Columns} FROM qa_results WHERE attempt_id = @attemptId ORDER BY id", new { attemptId }).Select(Map)];
    }

    /// <summary>Violations not yet reviewed, oldest first, after id <paramref name="after"/> (paging).</summary>
    public IReadOnlyList<QaResult> Queue(long? campaignId, long after, int limit)
    {
        using var c = db.Connect();
        return [.. c.Query<Row>($"""
            SELECT {Columns} FROM qa_results
            WHERE outcome = 'violation' AND reviewed_at IS NULL AND id > @after AND (@campaignId IS NULL OR campaign_id = @campaignId)
            ORDER BY id LIMIT @limit
            """, new { campaignId, after, limit }).Select(Map)];
    }

    public QaReview Review(long id, string reviewer, string verdict, string? note, DateTime utcNow) => db.Write((c, tx) =>
    {
        var s = c.QuerySingleOrDefault<ReviewState>("SELECT outcome, reviewed_at FROM qa_results WHERE id = @id", new { id }, tx);
        if (s is null) return QaReview.NotFound;
        if (s.Outcome != "violation") return QaReview.NotAViolation;
        if (s.ReviewedAt is not null) return QaReview.AlreadyReviewed;
        c.Execute("UPDATE qa_results SET reviewed_at = @at, reviewer = @reviewer, verdict = @verdict, review_note = @note WHERE id = @id",
            new { id, at = Time.Ms(utcNow), reviewer, verdict, note }, tx);
        Audit.Write(c, tx, reviewer, "qa_review", $"qa_result:{id}", verdict, utcNow);
        return QaReview.Reviewed;
    });

    /// <summary>Per agent (key: agent id, "" for calls nobody was bridged to) or per rule and version.</summary>
    public IReadOnlyList<QaReportRow> Report(bool byAgent, long? campaignId)
    {
        var key = byAgent ? "COALESCE(agent_id, '')" : "rule_id";
        var version = byAgent ? "CAST(0 AS BIGINT)" : "rule_version"; // a typed 0, not NULL: SQLite would type a NULL column as a blob
        using var c = db.Connect();
        return [.. c.Query<ReportRow>($"""
            SELECT {key} AS key, {version} AS rule_version,
                   COUNT(DISTINCT attempt_id) AS calls_checked,
                   COUNT(DISTINCT CASE WHEN outcome = 'violation' THEN attempt_id END) AS calls_with_violations,
                   COALESCE(SUM(CASE WHEN outcome = 'violation' THEN 1 ELSE 0 END), 0) AS violations,
                   COALESCE(SUM(CASE WHEN outcome = 'violation' AND verdict = 'confirmed' THEN 1 ELSE 0 END), 0) AS confirmed,
                   COALESCE(SUM(CASE WHEN outcome = 'violation' AND verdict = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed,
                   COALESCE(SUM(CASE WHEN outcome = 'violation' AND reviewed_at IS NULL THEN 1 ELSE 0 END), 0) AS pending
            FROM qa_results WHERE (@campaignId IS NULL OR campaign_id = @campaignId)
            GROUP BY {key}{(byAgent ? "" : ", rule_version")} ORDER BY 1, 2
            """, new { campaignId }).Select(r => new QaReportRow(r.Key, byAgent ? null : r.RuleVersion, r.CallsChecked, r.CallsWithViolations,
                r.Violations, r.Confirmed, r.Dismissed, r.Pending))];
    }

    private sealed record ReportRow(string Key, long RuleVersion, long CallsChecked, long CallsWithViolations, long Violations, long Confirmed, long Dismissed, long Pending);

    /// <summary>
    /// What is kept of a segment: at most 300 characters, and every run of 5 or more digits (half- or full-width)
    /// masked, so a phone, policy or ID number the customer read out never reaches the table or a report.
    /// </summary>
    public static string Excerpt(string text)
    {
        var s = text.Length > 300 ? text[..300] : text;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length;)
        {
            var j = i;
            while (j < s.Length && (char.IsAsciiDigit(s[j]) || s[j] is >= '０' and <= '９')) j++;
            if (j - i >= 5) { sb.Append('*', j - i); i = j; }
            else if (j > i) { sb.Append(s, i, j - i); i = j; }
            else sb.Append(s[i++]);
        }
        return sb.ToString();
    }

    private static QaResult Map(Row r) => new(r.Id, r.AttemptId, r.CampaignId, r.AgentId, r.RuleSet, r.RuleSetVersion, r.RuleId, r.RuleVersion,
        r.Kind, r.Severity, r.Outcome, r.Late != 0, r.Segment, r.OffsetMs, r.Matches, r.Excerpt, Time.FromMs(r.CheckedAt),
        r.ReviewedAt is { } at ? Time.FromMs(at) : null, r.Reviewer, r.Verdict, r.ReviewNote);
}
