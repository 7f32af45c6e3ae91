using System.Globalization;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dialer.Api;

/// <summary>
/// The floor's reports, one code path for `GET /reports/{kind}?campaign=NAME&amp;…` and `dialer report KIND --campaign NAME …`:
/// the same arguments (campaign, by, from, to, conversions, format), the same checks and errors (naming the argument),
/// the same queries and the same JSON or CSV (<see cref="ReportTable"/>). Kinds: `calls` (<see cref="CallsReport"/>),
/// `attribution` (<see cref="AttributionReport"/>), `abandonment` (<see cref="AbandonmentReport"/>), `trunks` and
/// `agents` (<see cref="FloorReports"/>), `survey` (<see cref="SurveyReport"/>). Every report reads the store grouped, so a month of a campaign reads in
/// thousands of rows, not its attempts; hours and days are the campaign's own time zone.
/// </summary>
public static class Reports
{
    /// <summary>A report's groupings (the first is the default) and how it is built.</summary>
    public sealed record Kind(string[] Groupings, Func<StoreDb, ReportRequest, ReportTable> Build);

    public static readonly IReadOnlyDictionary<string, Kind> Kinds = new Dictionary<string, Kind>(StringComparer.Ordinal)
    {
        ["calls"] = new(["day", "hour", "agent"], CallsReport.Build),
        ["attribution"] = new(["expiry", "skill", "seniority", "script", "disposition", "hour", "region"], AttributionReport.Build),
        ["abandonment"] = new(["day"], AbandonmentReport.Build),
        ["trunks"] = new(["trunk", "region", "hour"], FloorReports.Trunks),
        ["agents"] = new(["agent", "hour", "day"], FloorReports.Agents),
        ["survey"] = new(["question", "end"], SurveyReport.Build),
    };

    /// <summary>Why an argument is refused (named as the API's query parameter), or that the campaign does not exist.</summary>
    public sealed record Failure(string Field, string Message, bool NotFound = false);

    /// <summary>
    /// The report <paramref name="kind"/> with the arguments <paramref name="arg"/> gives (null: not given); its table, or
    /// why not. <paramref name="trunkName"/> names a campaign's trunk by index when this process knows it.
    /// Failures of the store (a DbException) reach the caller.
    /// </summary>
    public static (ReportTable? Table, Failure? Failure) Run(StoreDb db, Campaigns campaigns, string kind, Func<string, string?> arg,
        Func<string, int, string?>? trunkName = null, DateTime? utcNow = null)
    {
        if (!Kinds.TryGetValue(kind, out var k)) return (null, new Failure("kind", $"'{Echo(kind)}' is not a report ({string.Join(", ", Kinds.Keys)})", NotFound: true));
        if (!CallRecords.ParseTimes(arg("from"), arg("to"), out var from, out var to, out var badTime)) return (null, new Failure(badTime.Field, badTime.Message));
        if (arg("campaign") is not { } name) return (null, new Failure("campaign", "required: the campaign to report on"));
        var by = arg("by") ?? k.Groupings[0];
        if (!k.Groupings.Contains(by)) return (null, new Failure("by", $"must be {Or(k.Groupings)} for the {kind} report"));
        var format = arg("format") ?? "json";
        if (format is not ("json" or "csv")) return (null, new Failure("format", "must be json or csv"));
        var converting = (arg("conversions") ?? "renewed").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        if (converting.Count is 0 or > 32 || converting.Any(x => x.Length > 40)) return (null, new Failure("conversions", "1–32 disposition codes of at most 40 characters, comma-separated"));
        if (campaigns.Find(name) is not { } c) return (null, new Failure("campaign", $"campaign '{Echo(name)}'", NotFound: true));
        var request = new ReportRequest(c, TimeZoneInfo.FindSystemTimeZoneById(c.Settings.TimeZone), by, from, to, converting, utcNow ?? DateTime.UtcNow,
            i => trunkName?.Invoke(c.Name, i) ?? $"trunk {i}");
        var table = k.Build(db, request);
        table.Header.Insert(0, "report", kind);
        return (table, null);
    }

    public static void Map(WebApplication app, StoreDb db, Campaigns campaigns, TrunkNames trunks)
    {
        app.MapGet("/reports/{kind}", (string kind, HttpRequest req) =>
        {
            string? Arg(string name) => req.Query.TryGetValue(name, out var v) ? v.ToString() : null;
            var (table, failure) = Run(db, campaigns, kind, Arg, trunks.Name);
            if (failure is not null) return failure.NotFound ? DialerApi.NotFound(failure.Message) : DialerApi.Invalid(failure.Field, failure.Message);
            return Arg("format") == "csv" ? Results.Text(table!.Csv(), "text/csv; charset=utf-8") : Results.Ok(table!.Document());
        });
    }

    /// <summary>Why a disposition's script name is refused, or null (absent is fine: the report counts it as "(none)").</summary>
    public static string? BadScript(string? script) => script is null || (script.Trim().Length is > 0 and <= 100 && !script.Any(char.IsControl))
        ? null : "must be 1–100 printable characters (the script's name, or name@version)";

    private static string Or(string[] names) => string.Join(", ", names[..^1]) + " or " + names[^1];
    private static string Echo(string s) => s.Length <= 40 ? s : s[..40] + "…";

    /// <summary>The campaign-local hour (yyyy-MM-ddTHH:00) or day (yyyy-MM-dd) of a UTC hour number.</summary>
    internal static string Local(long utcHour, TimeZoneInfo zone, string by)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.UnixEpoch.AddHours(utcHour), zone);
        return local.ToString(by == "hour" ? "yyyy-MM-dd'T'HH':00'" : "yyyy-MM-dd", CultureInfo.InvariantCulture);
    }

    internal static double Rate(long n, long of) => of == 0 ? 0 : (double)n / of;
}

/// <summary>One report's arguments, checked. <see cref="Trunk"/> names a trunk by its index in the campaign's engine.</summary>
public sealed record ReportRequest(CampaignRecord Campaign, TimeZoneInfo Zone, string By, DateTimeOffset? From, DateTimeOffset? To,
    IReadOnlySet<string> Conversions, DateTime UtcNow, Func<int, string> Trunk)
{
    public long FromMs => From?.ToUnixTimeMilliseconds() ?? long.MinValue;
    public long ToMs => To?.ToUnixTimeMilliseconds() ?? long.MaxValue;

    /// <summary>The header every report starts with.</summary>
    public void Describe(ReportTable t)
    {
        t.Header["campaign"] = Campaign.Name;
        t.Header["by"] = By;
        t.Header["time_zone"] = Campaign.Settings.TimeZone;
        t.Header["from"] = From;
        t.Header["to"] = To;
    }
}

/// <summary>
/// `calls`: per agent, campaign-local hour or day: calls placed, live answers, abandoned and the abandon rate (abandoned
/// per live answer, what the cap is judged on), calls bridged to an agent, talk time (total and mean per bridged call),
/// dispositions by code and conversions (the dispositions whose code is in `conversions`) with their rate per bridged
/// call. An attempt counts in the hour it was placed, a disposition in its attempt's hour (or its own time when it
/// names none). Calls no agent took form the `agent: ""` row. The store is read grouped by UTC hour and agent.
/// </summary>
internal static class CallsReport
{
    private sealed class CallCell
    {
        public long Hour { get; set; }
        public string? Agent { get; set; }
        public long Calls { get; set; }
        public long Live { get; set; }
        public long Abandoned { get; set; }
        public long Bridged { get; set; }
        public long TalkMs { get; set; }
    }

    private sealed class DispositionCell
    {
        public long Hour { get; set; }
        public string? Agent { get; set; }
        public string Code { get; set; } = "";
        public long N { get; set; }
    }

    private sealed class Row
    {
        public long Calls, Live, Abandoned, Bridged, TalkMs, Conversions;
        public SortedDictionary<string, long> Dispositions { get; } = new(StringComparer.Ordinal);
    }

    public static ReportTable Build(StoreDb db, ReportRequest q)
    {
        using var conn = db.Connect();
        var p = new { id = q.Campaign.Id, from = q.FromMs, to = q.ToMs };
        var calls = Dapper.SqlMapper.Query<CallCell>(conn, """
            SELECT placed_at / 3600000 AS hour, agent, COUNT(*) AS calls,
                   SUM(CASE WHEN outcome IN ('human', 'abandoned') THEN 1 ELSE 0 END) AS live,
                   SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
                   SUM(CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END) AS bridged,
                   SUM(CASE WHEN connected_at IS NOT NULL AND ended_at IS NOT NULL THEN ended_at - connected_at ELSE 0 END) AS talk_ms
            FROM attempts WHERE campaign_id = @id AND placed_at >= @from AND placed_at < @to
            GROUP BY placed_at / 3600000, agent
            """, p);
        var dispositions = Dapper.SqlMapper.Query<DispositionCell>(conn, """
            SELECT COALESCE(a.placed_at, d.created_at) / 3600000 AS hour, d.agent_id AS agent, d.code, COUNT(*) AS n
            FROM dispositions d JOIN leads l ON l.id = d.lead_id LEFT JOIN attempts a ON a.id = d.attempt_id
            WHERE l.campaign_id = @id AND COALESCE(a.placed_at, d.created_at) >= @from AND COALESCE(a.placed_at, d.created_at) < @to
            GROUP BY COALESCE(a.placed_at, d.created_at) / 3600000, d.agent_id, d.code
            """, p);
        var rows = new SortedDictionary<string, Row>(StringComparer.Ordinal);
        Row At(long hour, string? agent)
        {
            var key = q.By == "agent" ? agent ?? "" : Reports.Local(hour, q.Zone, q.By);
            if (!rows.TryGetValue(key, out var r)) rows[key] = r = new Row();
            return r;
        }
        foreach (var x in calls)
        {
            var r = At(x.Hour, x.Agent);
            r.Calls += x.Calls; r.Live += x.Live; r.Abandoned += x.Abandoned; r.Bridged += x.Bridged; r.TalkMs += x.TalkMs;
        }
        foreach (var d in dispositions)
        {
            var r = At(d.Hour, d.Agent);
            r.Dispositions[d.Code] = r.Dispositions.GetValueOrDefault(d.Code) + d.N;
            if (q.Conversions.Contains(d.Code)) r.Conversions += d.N;
        }
        var t = new ReportTable(q.By);
        q.Describe(t);
        t.Header["conversions"] = q.Conversions.Order(StringComparer.Ordinal).ToList();
        t.CountPrefixes["dispositions"] = "disposition_";
        foreach (var (key, r) in rows)
        {
            var row = t.Row(key);
            row["calls"] = r.Calls; row["live_answers"] = r.Live; row["abandoned"] = r.Abandoned; row["abandon_rate"] = Reports.Rate(r.Abandoned, r.Live);
            row["bridged"] = r.Bridged; row["talk_seconds"] = r.TalkMs / 1000.0; row["talk_seconds_mean"] = r.Bridged == 0 ? 0 : r.TalkMs / 1000.0 / r.Bridged;
            row["conversions"] = r.Conversions; row["conversion_rate"] = Reports.Rate(r.Conversions, r.Bridged);
            row["dispositions"] = r.Dispositions;
        }
        return t;
    }
}

/// <summary>
/// `survey`: agentless campaigns' answers, from the attempts placed in the period. `by=question`: per question, how many
/// times it was asked (one per attempt that reached it), answered, left without a usable key (its retries ran out), and
/// the counts by key (`answers`; CSV columns `answer_KEY`). `by=end`: how the scripts ended (completed, opt_out, no_input,
/// hung_up, transfer, message_left) with each end's share and its Wilson 95% interval. The header gives the attempts that
/// ran a script and the counts by end either way.
/// </summary>
internal static class SurveyReport
{
    private sealed class Cell
    {
        public string Key { get; set; } = "";
        public string? Answer { get; set; }
        public long N { get; set; }
    }

    public static ReportTable Build(StoreDb db, ReportRequest q)
    {
        using var conn = db.Connect();
        var p = new { id = q.Campaign.Id, from = q.FromMs, to = q.ToMs };
        var ends = Dapper.SqlMapper.Query<Cell>(conn, """
            SELECT script_end AS key, COUNT(*) AS n FROM attempts
            WHERE campaign_id = @id AND script_end IS NOT NULL AND placed_at >= @from AND placed_at < @to GROUP BY script_end
            """, p).OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
        var t = new ReportTable(q.By);
        q.Describe(t);
        var attempts = ends.Sum(e => e.N);
        t.Header["attempts"] = attempts;
        t.Header["ends"] = new SortedDictionary<string, long>(ends.ToDictionary(e => e.Key, e => e.N), StringComparer.Ordinal);
        if (q.By == "end")
        {
            foreach (var e in ends)
            {
                var row = t.Row(e.Key);
                row["attempts"] = e.N;
                Proportion.Add(row, "share", e.N, attempts);
            }
            return t;
        }
        var cells = Dapper.SqlMapper.Query<Cell>(conn, """
            SELECT s.question AS key, s.answer AS answer, COUNT(*) AS n
            FROM survey_answers s JOIN attempts a ON a.id = s.attempt_id
            WHERE s.campaign_id = @id AND a.placed_at >= @from AND a.placed_at < @to GROUP BY s.question, s.answer
            """, p);
        t.CountPrefixes["answers"] = "answer_";
        foreach (var question in cells.GroupBy(c => c.Key).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var row = t.Row(question.Key);
            row["asked"] = question.Sum(c => c.N);
            row["answered"] = question.Where(c => c.Answer is not null).Sum(c => c.N);
            row["no_input"] = question.Where(c => c.Answer is null).Sum(c => c.N);
            row["answers"] = new SortedDictionary<string, long>(question.Where(c => c.Answer is not null).ToDictionary(c => c.Answer!, c => c.N), StringComparer.Ordinal);
        }
        return t;
    }
}
