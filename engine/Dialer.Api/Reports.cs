using System.Globalization;
using System.Text;
using Dapper;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dialer.Api;

/// <summary>
/// The floor's call reports: `GET /reports/calls?campaign=NAME&amp;by=agent|hour|day[&amp;from&amp;to][&amp;conversions=renewed,…][&amp;format=csv]`.
/// Per row: calls placed, live answers, abandoned and the abandon rate (abandoned per live answer, what the cap is
/// judged on), calls bridged to an agent, talk time (total and mean per bridged call), dispositions by code and
/// conversions (the dispositions whose code is in `conversions`, `renewed` by default) with their rate per bridged
/// call. Hours and days are the campaign's own time zone; an attempt counts in the hour it was placed, a disposition in
/// its attempt's hour (or its own time when it names none). Calls no agent took (unanswered, abandoned) form the
/// `agent: null` row of the by-agent report. The store is read grouped by UTC hour and agent (one row per hour and
/// agent at most), so a month of a campaign is a few thousand rows whatever its number of attempts.
/// </summary>
internal static class Reports
{
    private static readonly string[] Groupings = ["agent", "hour", "day"];

    private sealed record CallCell(long Hour, string? Agent, long Calls, long Live, long Abandoned, long Bridged, long TalkMs);
    private sealed record DispositionCell(long Hour, string? Agent, string Code, long N);

    private sealed class Row(string key)
    {
        public string Key { get; } = key;
        public long Calls, Live, Abandoned, Bridged, TalkMs, Conversions;
        public SortedDictionary<string, long> Dispositions { get; } = new(StringComparer.Ordinal);
    }

    private sealed record AnswerCell(string Question, string? Answer, long N);
    private sealed record EndCell(string End, long N);

    public static void Map(WebApplication app, StoreDb db, Campaigns campaigns)
    {
        // Agentless campaigns: per question, how many were asked, the counts by key, and those whose retries ran out.
        app.MapGet("/reports/survey", (string? campaign) =>
        {
            if (campaign is null) return DialerApi.Invalid("campaign", "required: the campaign to report on");
            if (campaigns.Find(campaign) is not { } c) return DialerApi.NotFound($"campaign '{campaign}'");
            using var conn = db.Connect();
            var ends = conn.Query<EndCell>("SELECT script_end AS End, COUNT(*) AS N FROM attempts WHERE campaign_id = @Id AND script_end IS NOT NULL GROUP BY script_end",
                new { c.Id }).ToList();
            var cells = conn.Query<AnswerCell>("SELECT question AS Question, answer AS Answer, COUNT(*) AS N FROM survey_answers WHERE campaign_id = @Id GROUP BY question, answer",
                new { c.Id }).ToList();
            return Results.Ok(new
            {
                campaign,
                attempts = ends.Sum(e => e.N),
                ends = ends.OrderBy(e => e.End, StringComparer.Ordinal).ToDictionary(e => e.End, e => e.N),
                questions = cells.GroupBy(a => a.Question).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new
                {
                    question = g.Key, asked = g.Sum(a => a.N), answered = g.Where(a => a.Answer is not null).Sum(a => a.N),
                    no_input = g.Where(a => a.Answer is null).Sum(a => a.N),
                    answers = g.Where(a => a.Answer is not null).OrderBy(a => a.Answer, StringComparer.Ordinal).ToDictionary(a => a.Answer!, a => a.N),
                }),
            });
        });
        app.MapGet("/reports/calls", (string? campaign, string? by, string? from, string? to, string? conversions, string? format) =>
        {
            if (!CallRecords.TryTimes(from, to, out var fromTime, out var toTime, out var badTime)) return badTime;
            if (campaign is null) return DialerApi.Invalid("campaign", "required: the campaign to report on");
            if (campaigns.Find(campaign) is not { } c) return DialerApi.NotFound($"campaign '{campaign}'");
            by ??= "day";
            if (!Groupings.Contains(by)) return DialerApi.Invalid("by", "must be agent, hour or day");
            format ??= "json";
            if (format is not ("json" or "csv")) return DialerApi.Invalid("format", "must be json or csv");
            var converting = (conversions ?? "renewed").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
            if (converting.Count is 0 or > 32 || converting.Any(x => x.Length > 40)) return DialerApi.Invalid("conversions", "1–32 disposition codes of at most 40 characters, comma-separated");
            var zone = TimeZoneInfo.FindSystemTimeZoneById(c.Settings.TimeZone);
            var rows = Build(db, c.Id, by, zone, fromTime, toTime, converting);
            return format == "csv" ? Results.Text(Csv(rows, by), "text/csv; charset=utf-8") : Results.Ok(new
            {
                campaign, by, time_zone = c.Settings.TimeZone, from = fromTime, to = toTime, conversions = converting.Order(StringComparer.Ordinal),
                rows = rows.Select(r => new
                {
                    key = r.Key, calls = r.Calls, live_answers = r.Live, abandoned = r.Abandoned, abandon_rate = Rate(r.Abandoned, r.Live),
                    bridged = r.Bridged, talk_seconds = r.TalkMs / 1000.0, talk_seconds_mean = r.Bridged == 0 ? 0 : r.TalkMs / 1000.0 / r.Bridged,
                    conversions = r.Conversions, conversion_rate = Rate(r.Conversions, r.Bridged), dispositions = r.Dispositions,
                }),
            });
        });
    }

    private static List<Row> Build(StoreDb db, long campaignId, string by, TimeZoneInfo zone, DateTimeOffset? from, DateTimeOffset? to, HashSet<string> converting)
    {
        using var conn = db.Connect();
        var p = new { id = campaignId, from = from?.ToUnixTimeMilliseconds() ?? long.MinValue, to = to?.ToUnixTimeMilliseconds() ?? long.MaxValue };
        var calls = conn.Query<CallCell>("""
            SELECT placed_at / 3600000 AS hour, agent, COUNT(*) AS calls,
                   SUM(CASE WHEN outcome IN ('human', 'abandoned') THEN 1 ELSE 0 END) AS live,
                   SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
                   SUM(CASE WHEN connected_at IS NOT NULL THEN 1 ELSE 0 END) AS bridged,
                   SUM(CASE WHEN connected_at IS NOT NULL AND ended_at IS NOT NULL THEN ended_at - connected_at ELSE 0 END) AS talk_ms
            FROM attempts WHERE campaign_id = @id AND placed_at >= @from AND placed_at < @to
            GROUP BY placed_at / 3600000, agent
            """, p);
        var dispositions = conn.Query<DispositionCell>("""
            SELECT COALESCE(a.placed_at, d.created_at) / 3600000 AS hour, d.agent_id AS agent, d.code, COUNT(*) AS n
            FROM dispositions d JOIN leads l ON l.id = d.lead_id LEFT JOIN attempts a ON a.id = d.attempt_id
            WHERE l.campaign_id = @id AND COALESCE(a.placed_at, d.created_at) >= @from AND COALESCE(a.placed_at, d.created_at) < @to
            GROUP BY COALESCE(a.placed_at, d.created_at) / 3600000, d.agent_id, d.code
            """, p);
        var rows = new SortedDictionary<string, Row>(StringComparer.Ordinal);
        Row At(long hour, string? agent)
        {
            var key = by == "agent" ? agent ?? "" : Local(hour, zone, by);
            if (!rows.TryGetValue(key, out var r)) rows[key] = r = new Row(key);
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
            if (converting.Contains(d.Code)) r.Conversions += d.N;
        }
        return [.. rows.Values];
    }

    /// <summary>The campaign-local hour (yyyy-MM-ddTHH:00) or day (yyyy-MM-dd) of a UTC hour number.</summary>
    private static string Local(long utcHour, TimeZoneInfo zone, string by)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(DateTime.UnixEpoch.AddHours(utcHour), zone);
        return local.ToString(by == "hour" ? "yyyy-MM-dd'T'HH':00'" : "yyyy-MM-dd", CultureInfo.InvariantCulture);
    }

    private static double Rate(long n, long of) => of == 0 ? 0 : (double)n / of;

    private static string Csv(List<Row> rows, string by)
    {
        var codes = rows.SelectMany(r => r.Dispositions.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        var sb = new StringBuilder();
        sb.Append(by).Append(",calls,live_answers,abandoned,abandon_rate,bridged,talk_seconds,talk_seconds_mean,conversions,conversion_rate");
        foreach (var code in codes) sb.Append(",disposition_").Append(Field(code));
        sb.Append('\n');
        foreach (var r in rows)
        {
            string F(double x) => x.ToString("0.######", CultureInfo.InvariantCulture);
            sb.Append(Field(r.Key)).Append(',').Append(r.Calls).Append(',').Append(r.Live).Append(',').Append(r.Abandoned).Append(',')
              .Append(F(Rate(r.Abandoned, r.Live))).Append(',').Append(r.Bridged).Append(',').Append(F(r.TalkMs / 1000.0)).Append(',')
              .Append(F(r.Bridged == 0 ? 0 : r.TalkMs / 1000.0 / r.Bridged)).Append(',').Append(r.Conversions).Append(',').Append(F(Rate(r.Conversions, r.Bridged)));
            foreach (var code in codes) sb.Append(',').Append(r.Dispositions.GetValueOrDefault(code));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A CSV field, quoted when it must be; a leading =, +, - or @ is prefixed with ' so a spreadsheet does not run it.</summary>
    private static string Field(string s)
    {
        if (s.Length > 0 && s[0] is '=' or '+' or '-' or '@') s = "'" + s;
        return s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }
}
