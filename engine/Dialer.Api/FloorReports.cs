using Dapper;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>
/// `attribution`: what drives renewals. The unit is a conversation (an attempt bridged to an agent); it converts when a
/// disposition of that attempt has one of the `conversions` codes (dispositions that name no attempt cannot be
/// attributed and are left out). Rows by days to expiry at contact (the policy's expiry date minus the campaign-local
/// date of the call, in buckets), agent skill (skill=level; an agent with several skills counts in each), seniority
/// (days on the floor at the call, from the agent's started_on, else the day it was registered), script (as the
/// disposition names it; several dispositions of one call: the greatest name), hour at the callee (the lead's own time
/// zone) or region, each with its count, rate and Wilson 95% interval. `by=disposition` gives each code's share of the
/// dispositions of those conversations instead.
/// </summary>
internal static class AttributionReport
{
    private const string Unattributed = "(none)";
    private static readonly (string Label, int Max)[] ExpiryBuckets =
        [("expired", -1), ("0-7 days", 7), ("8-14 days", 14), ("15-30 days", 30), ("31-60 days", 60), ("61-90 days", 90), ("91+ days", int.MaxValue)];
    private static readonly (string Label, int Max)[] SeniorityBuckets =
        [("under 30 days", 29), ("30-89 days", 89), ("90-179 days", 179), ("180-364 days", 364), ("1 year+", int.MaxValue)];

    private sealed class Cell
    {
        public long Slot { get; set; }
        public string? Key { get; set; }
        public long? Number { get; set; }
        public long? Other { get; set; }
        public long Contacts { get; set; }
        public long Converted { get; set; }
    }

    /// <summary>Conversations of the campaign in the period, each with whether it converted and its script.</summary>
    private const string Conversations = """
        FROM attempts a JOIN leads l ON l.id = a.lead_id
        LEFT JOIN (SELECT d.attempt_id, MAX(d.script) AS script, MAX(CASE WHEN d.code IN @codes THEN 1 ELSE 0 END) AS converted
                   FROM dispositions d JOIN leads dl ON dl.id = d.lead_id
                   WHERE dl.campaign_id = @id AND d.attempt_id IS NOT NULL GROUP BY d.attempt_id) v ON v.attempt_id = a.id
        WHERE a.campaign_id = @id AND a.connected_at IS NOT NULL AND a.placed_at >= @from AND a.placed_at < @to
        """;

    public static ReportTable Build(StoreDb db, ReportRequest q)
    {
        using var conn = db.Connect();
        var p = new { id = q.Campaign.Id, from = q.FromMs, to = q.ToMs, codes = q.Conversions.ToArray() };
        var t = new ReportTable(q.By);
        q.Describe(t);
        t.Header["conversions"] = q.Conversions.Order(StringComparer.Ordinal).ToList();
        var total = conn.QuerySingle<Cell>($"SELECT COUNT(*) AS contacts, COALESCE(SUM(COALESCE(v.converted, 0)), 0) AS converted {Conversations}", p);
        t.Header["contacts"] = total.Contacts;
        t.Header["converted"] = total.Converted;
        var overall = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        Proportion.Add(overall, "conversion", total.Converted, total.Contacts);
        foreach (var (k, v) in overall) t.Header[k] = v;

        if (q.By == "disposition")
        {
            var codes = conn.Query<Cell>("""
                SELECT d.code AS key, COUNT(*) AS contacts FROM dispositions d JOIN attempts a ON a.id = d.attempt_id
                WHERE a.campaign_id = @id AND a.connected_at IS NOT NULL AND a.placed_at >= @from AND a.placed_at < @to GROUP BY d.code
                """, p).ToList();
            var all = codes.Sum(c => c.Contacts);
            foreach (var c in codes.OrderByDescending(c => c.Contacts).ThenBy(c => c.Key, StringComparer.Ordinal))
            {
                var row = t.Row(c.Key!);
                row["dispositions"] = c.Contacts;
                Proportion.Add(row, "share", c.Contacts, all);
            }
            return t;
        }

        var (select, group) = q.By switch
        {
            "expiry" => ("a.placed_at / 3600000 AS slot, CAST(l.policy_expiry AS BIGINT) AS number", "a.placed_at / 3600000, l.policy_expiry"),
            "skill" => ("s.skill AS key, CAST(s.level AS BIGINT) AS number", "s.skill, s.level"),
            "seniority" => ("a.placed_at / 86400000 AS slot, CAST(g.started_on AS BIGINT) AS number, g.created_at AS other", "a.placed_at / 86400000, a.agent, g.started_on, g.created_at"),
            "script" => ("v.script AS key", "v.script"),
            "hour" => ("a.placed_at / 3600000 AS slot, l.timezone AS key", "a.placed_at / 3600000, l.timezone"),
            _ => ("l.region AS key", "l.region"),
        };
        var joins = q.By switch
        {
            "skill" => "LEFT JOIN agent_skills s ON s.agent_id = a.agent",
            "seniority" => "LEFT JOIN agents g ON g.id = a.agent",
            _ => "",
        };
        var from = Conversations.Replace("WHERE a.campaign_id", joins + "\nWHERE a.campaign_id", StringComparison.Ordinal);
        var cells = conn.Query<Cell>($"SELECT {select}, COUNT(*) AS contacts, SUM(COALESCE(v.converted, 0)) AS converted {from} GROUP BY {group}", p);

        var zones = new Dictionary<string, TimeZoneInfo?>(StringComparer.Ordinal);
        var rows = new Dictionary<string, (long N, long K)>(StringComparer.Ordinal);
        foreach (var c in cells)
        {
            var key = q.By switch
            {
                "expiry" => StoreDates.Day(c.Number) is { } expiry ? Bucket(ExpiryBuckets, expiry.DayNumber - LocalDate(DateTime.UnixEpoch.AddHours(c.Slot), q.Zone).DayNumber) : "no expiry date",
                "skill" => c.Key is null ? "(no skills)" : $"{c.Key}={c.Number}",
                "seniority" => Seniority(c, q.Zone),
                "script" => c.Key ?? Unattributed,
                "hour" => LeadHour(c, zones),
                _ => c.Key ?? Unattributed,
            };
            var (n, k) = rows.GetValueOrDefault(key);
            rows[key] = (n + c.Contacts, k + c.Converted);
        }
        var order = q.By switch
        {
            "expiry" => [.. ExpiryBuckets.Select(b => b.Label), "no expiry date"],
            "seniority" => [.. SeniorityBuckets.Select(b => b.Label), "unknown agent"],
            _ => rows.Keys.Order(StringComparer.Ordinal).ToList(),
        };
        foreach (var key in order.Where(rows.ContainsKey))
        {
            var (n, k) = rows[key];
            var row = t.Row(key);
            row["contacts"] = n;
            row["converted"] = k;
            Proportion.Add(row, "conversion", k, n);
        }
        return t;
    }

    private static string Bucket((string Label, int Max)[] buckets, long days) => buckets.First(b => days <= b.Max).Label;

    private static DateOnly LocalDate(DateTime utc, TimeZoneInfo zone) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(utc, zone));

    /// <summary>Days on the floor at the call: from started_on, else the campaign-local day the agent was registered.</summary>
    private static string Seniority(Cell c, TimeZoneInfo zone)
    {
        DateOnly? start = StoreDates.Day(c.Number) is { } day ? day : c.Other is { } ms ? LocalDate(DateTime.UnixEpoch.AddMilliseconds(ms), zone) : null;
        if (start is null) return "unknown agent";
        return Bucket(SeniorityBuckets, Math.Max(0, LocalDate(DateTime.UnixEpoch.AddDays(c.Slot).AddHours(12), zone).DayNumber - start.Value.DayNumber));
    }

    /// <summary>The hour of the day (00–23) at the callee, in the lead's own zone.</summary>
    private static string LeadHour(Cell c, Dictionary<string, TimeZoneInfo?> zones)
    {
        var name = c.Key ?? "";
        if (!zones.TryGetValue(name, out var zone)) zones[name] = zone = TimeZoneInfo.TryFindSystemTimeZoneById(name, out var z) ? z : null;
        return zone is null ? "unknown zone" : TimeZoneInfo.ConvertTimeFromUtc(DateTime.UnixEpoch.AddHours(c.Slot), zone).Hour.ToString("00", System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// `abandonment`: the compliance record per campaign-local day (the last 30 days unless from/to say otherwise) and the
/// rolling 30 days ending that day, against the campaign's cap. Compliance abandons are what the engine's
/// <see cref="Core.Compliance.AbandonLedger"/> and the cap count: every live answer that closed as abandoned, counted
/// the safe way. True abandons are those of them where a person was really left without an agent (safe harbor played,
/// or dropped after the safe-harbor time); the rest are callees who hung up within the safe-harbor seconds while waiting,
/// and calls closed by start-up recovery (AMD's verdict unknown, so counted as live and abandoned). Days are folded from
/// quarter hours of the answer, as the ledger's seed is.
/// </summary>
internal static class AbandonmentReport
{
    private const long QuarterHourMs = 15 * 60 * 1000;
    private const int Window = 30;

    private sealed class Cell
    {
        public long Quarter { get; set; }
        public long Live { get; set; }
        public long Abandoned { get; set; }
        public long Recovered { get; set; }
        public long HungUp { get; set; }
    }

    public static ReportTable Build(StoreDb db, ReportRequest q)
    {
        var zone = q.Zone;
        var last = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(q.To is { } to ? to.UtcDateTime.AddMilliseconds(-1) : q.UtcNow, zone));
        var first = q.From is { } from ? DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(from.UtcDateTime, zone)) : last.AddDays(1 - Window);
        if (first > last) first = last;
        var since = first.AddDays(1 - Window);
        var harborMs = (long)(q.Campaign.Settings.ToConfig(q.Campaign.Name).SafeHarborSeconds * 1000);
        var cap = q.Campaign.Settings.AbandonCap;
        using var conn = db.Connect();
        // Wide by 14 h either side: every zone's local day lies within it; quarters outside the days asked are dropped.
        var cells = conn.Query<Cell>("""
            SELECT answered_at / @q AS quarter, COUNT(*) AS live,
                   SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
                   SUM(CASE WHEN outcome = 'abandoned' AND reconciled = 1 THEN 1 ELSE 0 END) AS recovered,
                   SUM(CASE WHEN outcome = 'abandoned' AND reconciled = 0 AND ended_at IS NOT NULL AND ended_at - answered_at < @harborMs THEN 1 ELSE 0 END) AS hung_up
            FROM attempts
            WHERE campaign_id = @id AND outcome IN ('human', 'abandoned') AND answered_at >= @lo AND answered_at < @hi
            GROUP BY answered_at / @q
            """, new
        {
            q = QuarterHourMs, id = q.Campaign.Id, harborMs,
            lo = new DateTimeOffset(since.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddHours(-14).ToUnixTimeMilliseconds(),
            hi = new DateTimeOffset(last.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).AddHours(14).ToUnixTimeMilliseconds(),
        });
        var days = last.DayNumber - since.DayNumber + 1;
        var live = new long[days];
        var abandoned = new long[days];
        var recovered = new long[days];
        var hungUp = new long[days];
        foreach (var c in cells)
        {
            var d = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(DateTime.UnixEpoch.AddMilliseconds(c.Quarter * QuarterHourMs), zone)).DayNumber - since.DayNumber;
            if (d < 0 || d >= days) continue;
            live[d] += c.Live; abandoned[d] += c.Abandoned; recovered[d] += c.Recovered; hungUp[d] += c.HungUp;
        }
        var t = new ReportTable("day");
        q.Describe(t);
        t.Header["abandon_cap"] = cap;
        t.Header["safe_harbor_seconds"] = harborMs / 1000.0;
        for (var d = Window - 1; d < days; d++)
        {
            long live30 = 0, abandoned30 = 0, true30 = 0;
            for (var i = d - Window + 1; i <= d; i++) { live30 += live[i]; abandoned30 += abandoned[i]; true30 += abandoned[i] - recovered[i] - hungUp[i]; }
            var row = t.Row(since.AddDays(d).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
            row["live_answers"] = live[d];
            row["compliance_abandons"] = abandoned[d];
            row["compliance_rate"] = Reports.Rate(abandoned[d], live[d]);
            row["true_abandons"] = abandoned[d] - recovered[d] - hungUp[d];
            row["true_rate"] = Reports.Rate(abandoned[d] - recovered[d] - hungUp[d], live[d]);
            row["hung_up_waiting"] = hungUp[d];
            row["closed_by_recovery"] = recovered[d];
            row["over_cap_today"] = live[d] > 0 && (double)abandoned[d] / live[d] > cap;
            row["live_answers_30d"] = live30;
            row["compliance_abandons_30d"] = abandoned30;
            row["compliance_rate_30d"] = Reports.Rate(abandoned30, live30);
            row["true_abandons_30d"] = true30;
            row["true_rate_30d"] = Reports.Rate(true30, live30);
            row["over_cap_30d"] = live30 > 0 && (double)abandoned30 / live30 > cap;
        }
        return t;
    }
}

/// <summary>`trunks` (quality and cost) and `agents` (productivity).</summary>
internal static class FloorReports
{
    private sealed class TrunkCell
    {
        public long Trunk { get; set; }
        public string? Region { get; set; }
        public long? Slot { get; set; }
        public long Calls { get; set; }
        public long Answered { get; set; }
        public long Live { get; set; }
        public long Machine { get; set; }
        public long Abandoned { get; set; }
        public long Failed { get; set; }
        public long BilledMs { get; set; }
        public double Cost { get; set; }
    }

    private sealed class MediaCell
    {
        public long Trunk { get; set; }
        public long? Slot { get; set; }
        public double? RttSum { get; set; }
        public double? RttMax { get; set; }
        public double? LossSum { get; set; }
        public double? LossMax { get; set; }
        public long RttSamples { get; set; }
        public long LossSamples { get; set; }
        public long Minutes { get; set; }
    }

    /// <summary>
    /// Per trunk (by its name in the campaign's engine when this process ran it, else `trunk N`), per trunk and the lead's
    /// region (what each destination costs on each trunk), or per trunk and campaign-local hour (how it went over the
    /// day): calls, network answers and their rate with its Wilson 95% interval, live / machine / abandoned, network
    /// failures (congestion, rejected) and their rate, billed minutes (answer to hang-up) and cost, per minute and per
    /// live answer. By trunk and by hour also the media quality the driver measured (`trunk_quality`, stored per minute
    /// by `dialer serve`): mean and worst minute of the RTCP round trip and of the packet-loss share, and the minutes
    /// measured; null where nothing was measured.
    /// </summary>
    public static ReportTable Trunks(StoreDb db, ReportRequest q)
    {
        using var conn = db.Connect();
        var (extra, join, group) = q.By switch
        {
            "region" => ("l.region AS region, NULL AS slot", "JOIN leads l ON l.id = a.lead_id", ", l.region"),
            "hour" => ("NULL AS region, a.placed_at / 3600000 AS slot", "", ", a.placed_at / 3600000"),
            _ => ("NULL AS region, NULL AS slot", "", ""),
        };
        var p = new { id = q.Campaign.Id, from = q.FromMs, to = q.ToMs };
        var cells = conn.Query<TrunkCell>($"""
            SELECT a.trunk AS trunk, {extra}, COUNT(*) AS calls,
                   SUM(CASE WHEN a.outcome IN ('human', 'machine', 'abandoned') THEN 1 ELSE 0 END) AS answered,
                   SUM(CASE WHEN a.outcome IN ('human', 'abandoned') THEN 1 ELSE 0 END) AS live,
                   SUM(CASE WHEN a.outcome = 'machine' THEN 1 ELSE 0 END) AS machine,
                   SUM(CASE WHEN a.outcome = 'abandoned' THEN 1 ELSE 0 END) AS abandoned,
                   SUM(CASE WHEN a.outcome IN ('congestion', 'rejected') THEN 1 ELSE 0 END) AS failed,
                   SUM(CASE WHEN a.answered_at IS NOT NULL AND a.ended_at IS NOT NULL THEN a.ended_at - a.answered_at ELSE 0 END) AS billed_ms,
                   SUM(COALESCE(a.cost, 0)) AS cost
            FROM attempts a {join}
            WHERE a.campaign_id = @id AND a.placed_at >= @from AND a.placed_at < @to
            GROUP BY a.trunk{group}
            ORDER BY a.trunk{group}
            """, p);
        // Each minute's mean weighs by its seconds measured, so a minute measured once counts for one second, not sixty.
        var media = q.By == "region" ? [] : conn.Query<MediaCell>($"""
            SELECT trunk, {(q.By == "hour" ? "minute / 3600000" : "NULL")} AS slot,
                   SUM(rtt_ms * samples) AS rtt_sum, MAX(rtt_ms) AS rtt_max, SUM(CASE WHEN rtt_ms IS NULL THEN 0 ELSE samples END) AS rtt_samples,
                   SUM(loss * samples) AS loss_sum, MAX(loss) AS loss_max, SUM(CASE WHEN loss IS NULL THEN 0 ELSE samples END) AS loss_samples,
                   COUNT(*) AS minutes
            FROM trunk_quality WHERE campaign_id = @id AND minute >= @from AND minute < @to
            GROUP BY trunk{(q.By == "hour" ? ", minute / 3600000" : "")}
            """, p).ToDictionary(m => (m.Trunk, m.Slot));
        var t = new ReportTable("trunk");
        q.Describe(t);
        foreach (var c in cells)
        {
            var row = t.Row(q.Trunk((int)c.Trunk));
            if (q.By == "region") row["region"] = c.Region;
            if (q.By == "hour") row["hour"] = Reports.Local(c.Slot!.Value, q.Zone, "hour");
            row["calls"] = c.Calls;
            row["answered"] = c.Answered;
            Proportion.Add(row, "answer", c.Answered, c.Calls);
            row["live_answers"] = c.Live;
            row["machine"] = c.Machine;
            row["abandoned"] = c.Abandoned;
            row["network_failures"] = c.Failed;
            Proportion.Add(row, "failure", c.Failed, c.Calls);
            row["billed_minutes"] = c.BilledMs / 60_000.0;
            row["cost"] = c.Cost;
            row["cost_per_minute"] = c.BilledMs == 0 ? 0 : c.Cost / (c.BilledMs / 60_000.0);
            row["cost_per_live_answer"] = c.Live == 0 ? 0 : c.Cost / c.Live;
            if (q.By == "region") continue;
            var m = media.GetValueOrDefault((c.Trunk, c.Slot));
            row["rtt_ms_mean"] = m is { RttSamples: > 0 } ? m.RttSum / m.RttSamples : null;
            row["rtt_ms_worst_minute"] = m?.RttMax;
            row["loss_mean"] = m is { LossSamples: > 0 } ? m.LossSum / m.LossSamples : null;
            row["loss_worst_minute"] = m?.LossMax;
            row["minutes_measured"] = m?.Minutes ?? 0;
        }
        return t;
    }

    /// <summary>The agent states the report adds up (the event stream's names), in its columns' order; logged_out counts nowhere.</summary>
    private static readonly string[] Timed = ["talking", "wrap_up", "ready", "paused", "previewing"];

    /// <summary>
    /// Per agent, or per agent and campaign-local hour or day: conversations (attempts bridged to the agent, each counted
    /// in the period it was bridged) and the time in each state from the stored agent state changes (agent_states, as
    /// the engine node saw them, `dialer run` or `dialer serve`, whatever made them): talk (talking), wrap-up (wrap_up), idle (ready), paused and
    /// previewing, in seconds, each spell split at the periods' boundaries; and occupancy (talk share of talk + wrap +
    /// idle). A state lasts until the agent's next change; the last one until the end of the range, or now. Logged-out
    /// time counts nowhere. Changes the store refused past the writer's queue are missing (<see cref="AgentStateLog"/>).
    /// </summary>
    public static ReportTable Agents(StoreDb db, ReportRequest q)
    {
        var rows = new SortedDictionary<(string Period, string Agent), long[]>(Comparer<(string Period, string Agent)>.Create((x, y) =>
            string.CompareOrdinal(x.Period, y.Period) is var byPeriod and not 0 ? byPeriod : string.CompareOrdinal(x.Agent, y.Agent)));
        long[] Row(long ms, string agent)
        {
            var period = q.By == "agent" ? "" : Reports.Local(ms / 3_600_000, q.Zone, q.By);
            if (!rows.TryGetValue((period, agent), out var r)) rows[(period, agent)] = r = new long[1 + Timed.Length];
            return r;
        }
        using (var conn = db.Connect())
            foreach (var (agent, connected) in conn.Query<(string, long)>("""
                SELECT a.agent, a.connected_at FROM attempts a
                WHERE a.campaign_id = @id AND a.agent IS NOT NULL AND a.connected_at IS NOT NULL AND a.ended_at IS NOT NULL
                  AND a.placed_at >= @from AND a.placed_at < @to
                """, new { id = q.Campaign.Id, from = q.FromMs, to = q.ToMs }, buffered: false))
                Row(connected, agent)[0]++;

        var end = Math.Min(q.ToMs, new DateTimeOffset(q.UtcNow, TimeSpan.Zero).ToUnixTimeMilliseconds());
        var states = new AgentStates(db).Read(q.Campaign.Id, q.FromMs, q.ToMs);
        for (var i = 0; i < states.Count; i++)
        {
            var s = states[i];
            var column = Array.IndexOf(Timed, s.State);
            if (column < 0) continue;
            var until = i + 1 < states.Count && states[i + 1].Agent == s.Agent ? Math.Min(states[i + 1].At, end) : end;
            // The spell, within the range, split at each hour (an hour lies within one local day: zones are whole hours off UTC).
            for (var from = Math.Max(s.At, q.FromMs); from < until;)
            {
                var to = q.By == "agent" ? until : Math.Min(until, (from / 3_600_000 + 1) * 3_600_000);
                Row(from, s.Agent)[1 + column] += to - from;
                from = to;
            }
        }
        var t = new ReportTable(q.By);
        q.Describe(t);
        foreach (var ((period, name), r) in rows)
        {
            var row = t.Row(q.By == "agent" ? name : period);
            if (q.By != "agent") row["agent"] = name;
            row["calls"] = r[0];
            row["talk_seconds"] = r[1] / 1000.0;
            row["wrap_seconds"] = r[2] / 1000.0;
            row["idle_seconds"] = r[3] / 1000.0;
            row["paused_seconds"] = r[4] / 1000.0;
            row["previewing_seconds"] = r[5] / 1000.0;
            row["occupancy"] = Reports.Rate(r[1], r[1] + r[2] + r[3]);
        }
        return t;
    }
}

/// <summary>Calendar dates as the store keeps them (yyyymmdd); null for none or a value that is no date.</summary>
file static class StoreDates
{
    public static DateOnly? Day(long? yyyymmdd) => yyyymmdd is { } d && DateOnly.TryParseExact(d.ToString(System.Globalization.CultureInfo.InvariantCulture), "yyyyMMdd",
        System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var day) ? day : null;
}
