using Dapper;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dialer.Api;

/// <summary>
/// Call records over the API: attempts (filtered, paged by id), one attempt with its dispositions, its recording, a
/// disposition set by the platform; the DNC list (entries by their keyed-hash id: the store keeps no number, so none is
/// shown, masked or not) and its deletion; and deleting a stopped campaign with everything that belongs to it. Trunks
/// are named as the campaign's engine names them (learned when it ran in this process); otherwise by index.
/// </summary>
internal static class CallRecords
{
    private const int MaxLimit = 1000;
    /// <summary>Recording files a recorder writes per channel (Asterisk's MixMonitor: `{channel_id}.wav` by default).</summary>
    internal static readonly (string Ext, string Type)[] RecordingTypes = [(".wav", "audio/wav"), (".mp3", "audio/mpeg"), (".ogg", "audio/ogg"), (".gsm", "audio/x-gsm")];

    /// <summary>A row of attempts (properties, not a record: the two databases give the integer columns different widths).</summary>
    private sealed class AttemptRow
    {
        public long Id { get; set; }
        public long CampaignId { get; set; }
        public long LeadId { get; set; }
        public int AttemptNo { get; set; }
        public string ChannelId { get; set; } = "";
        public string Node { get; set; } = "";
        public int Trunk { get; set; }
        public string? Agent { get; set; }
        public long PlacedAt { get; set; }
        public long? AnsweredAt { get; set; }
        public long? ConnectedAt { get; set; }
        public long? EndedAt { get; set; }
        public string? Outcome { get; set; }
        public int? Cause { get; set; }
        public double? Cost { get; set; }
        public int Reconciled { get; set; }
        public string? Disposition { get; set; }
    }

    public static void Map(WebApplication app, StoreDb db, ApiOptions options, Campaigns campaigns, TrunkNames trunks, EventHub hub, Action<object> campaignEvent,
        EngineRegistry engines, AuditLog audit)
    {
        app.MapGet("/attempts", (string? campaign, string? from, string? to, string? outcome, string? agent, long? lead_id, string? trunk, long? after, int? limit) =>
        {
            if (!TryTimes(from, to, out var fromTime, out var toTime, out var badTime)) return badTime;
            if (limit is < 1 or > MaxLimit) return DialerApi.Invalid("limit", $"must be within 1..{MaxLimit}");
            if (outcome is not null && !Core.Domain.CallOutcomes.TryParse(outcome, out _))
                return DialerApi.Invalid("outcome", "must be one of human, machine, busy, no_answer, congestion, bad_number, rejected, abandoned");
            CampaignRecord? c = null;
            if (campaign is not null && (c = campaigns.Find(campaign)) is null) return DialerApi.NotFound($"campaign '{campaign}'");
            int? trunkIndex = null;
            if (trunk is not null)
            {
                if (c is null) return DialerApi.Invalid("trunk", "filtering by trunk needs campaign (trunk names are per campaign)");
                if ((trunkIndex = trunks.IndexOf(c.Name, trunk)) is null) return DialerApi.Invalid("trunk", $"'{Bounded(trunk)}' is not a trunk of campaign '{c.Name}' (as far as this node knows)");
            }
            using var conn = db.Connect();
            var rows = conn.Query<AttemptRow>($"""
                {Select} WHERE a.id > @after
                {(c is null ? "" : "AND a.campaign_id = @campaignId")} {(fromTime is null ? "" : "AND a.placed_at >= @from")} {(toTime is null ? "" : "AND a.placed_at < @to")}
                {(outcome is null ? "" : "AND a.outcome = @outcome")} {(agent is null ? "" : "AND a.agent = @agent")}
                {(lead_id is null ? "" : "AND a.lead_id = @lead_id")} {(trunkIndex is null ? "" : "AND a.trunk = @trunkIndex")}
                ORDER BY a.id LIMIT @limit
                """, new
            {
                after = after ?? 0, campaignId = c?.Id, from = fromTime?.ToUnixTimeMilliseconds(), to = toTime?.ToUnixTimeMilliseconds(),
                outcome, agent, lead_id, trunkIndex, limit = limit ?? 100,
            }).ToList();
            var names = campaigns.List().ToDictionary(x => x.Id, x => x.Name);
            var items = rows.Select(r => Shape(r, names, trunks, options)).ToList();
            return Results.Ok(new { items, next_after = rows.Count == (limit ?? 100) ? rows[^1].Id : (long?)null });
        });
        app.MapGet("/attempts/{id:long}", (long id) =>
        {
            using var conn = db.Connect();
            if (conn.QuerySingleOrDefault<AttemptRow>($"{Select} WHERE a.id = @id", new { id }) is not { } row) return DialerApi.NotFound($"attempt {id}");
            var dispositions = conn.Query("SELECT id, agent_id AS agent, code, script, note, created_at FROM dispositions WHERE attempt_id = @id ORDER BY id", new { id })
                .Select(d => new { id = (long)d.id, agent = (string)d.agent, code = (string)d.code, script = (string?)d.script, note = (string?)d.note, at = Time((long)d.created_at) });
            var names = campaigns.List().ToDictionary(x => x.Id, x => x.Name);
            return Results.Ok(new { attempt = Shape(row, names, trunks, options), dispositions });
        });
        app.MapGet("/attempts/{id:long}/recording", (long id) =>
        {
            if (options.RecordingsDir is null) return DialerApi.NotFound("recordings: this server has no recordings_dir configured");
            using var conn = db.Connect();
            var (channel, campaignId, placedAt) = conn.QuerySingleOrDefault<(string?, long, long)>("SELECT channel_id, campaign_id, placed_at FROM attempts WHERE id = @id", new { id });
            if (channel is null) return DialerApi.NotFound($"attempt {id}");
            if (campaigns.Get(campaignId) is { } c && RecordingRetention.Expired(c.Settings, placedAt, DateTime.UtcNow))
                return Results.Problem(statusCode: 410, title: "gone", detail: $"the recording of attempt {id} is past campaign '{c.Name}''s retention of {c.Settings.RecordingKeptDays()} days");
            return Recording(options.RecordingsDir, channel) is { } f
                ? Results.File(f.Path, f.Type, $"attempt-{id}{System.IO.Path.GetExtension(f.Path)}", enableRangeProcessing: true)
                : DialerApi.NotFound($"no recording of attempt {id}");
        });
        // A platform (or a CRM) sets the outcome of the conversation after the call, beside the agent's own endpoint.
        app.MapPost("/attempts/{id:long}/disposition", async (long id, HttpRequest req) =>
        {
            var (body, error) = await DialerApi.ReadJson<AttemptDisposition>(req);
            if (error is not null) return error;
            if (string.IsNullOrWhiteSpace(body!.Code) || body.Code.Length > 40) return DialerApi.Invalid("code", "must be 1–40 characters");
            if (body.Agent is { Length: > 64 }) return DialerApi.Invalid("agent", "must be at most 64 characters");
            if (body.Note is { Length: > 2000 }) return DialerApi.Invalid("note", "must be at most 2000 characters");
            if (Reports.BadScript(body.Script) is { } badScript) return DialerApi.Invalid("script", badScript);
            using var conn = db.Connect();
            var a = conn.QuerySingleOrDefault<(long LeadId, long CampaignId, string? Agent)>("SELECT lead_id, campaign_id, agent FROM attempts WHERE id = @id", new { id });
            if (a == default) return DialerApi.NotFound($"attempt {id}");
            var c = campaigns.Get(a.CampaignId)!;
            var agent = body.Agent ?? a.Agent ?? "platform";
            new Dispositions(db).Record(a.LeadId, id, agent, body.Code, body.Note is null ? null : Core.Text.Redact.Numbers(body.Note), c.Settings.DncDays, DateTime.UtcNow, body.Script);
            hub.Publish("disposition", new { campaign = c.Name, agent, lead_id = a.LeadId, attempt_id = id, code = body.Code, script = body.Script });
            return Results.Created($"/attempts/{id}", new { attempt_id = id, agent, code = body.Code });
        });
        app.MapGet("/dispositions", (string? campaign, string? agent, string? code, string? from, string? to, long? after, int? limit) =>
        {
            if (!TryTimes(from, to, out var fromTime, out var toTime, out var badTime)) return badTime;
            if (limit is < 1 or > MaxLimit) return DialerApi.Invalid("limit", $"must be within 1..{MaxLimit}");
            CampaignRecord? c = null;
            if (campaign is not null && (c = campaigns.Find(campaign)) is null) return DialerApi.NotFound($"campaign '{campaign}'");
            using var conn = db.Connect();
            var rows = conn.Query($"""
                SELECT d.id, d.attempt_id, d.lead_id, d.agent_id, d.code, d.script, d.note, d.created_at, l.campaign_id
                FROM dispositions d JOIN leads l ON l.id = d.lead_id WHERE d.id > @after
                {(c is null ? "" : "AND l.campaign_id = @campaignId")} {(agent is null ? "" : "AND d.agent_id = @agent")} {(code is null ? "" : "AND d.code = @code")}
                {(fromTime is null ? "" : "AND d.created_at >= @from")} {(toTime is null ? "" : "AND d.created_at < @to")}
                ORDER BY d.id LIMIT @limit
                """, new { after = after ?? 0, campaignId = c?.Id, agent, code, from = fromTime?.ToUnixTimeMilliseconds(), to = toTime?.ToUnixTimeMilliseconds(), limit = limit ?? 100 }).ToList();
            var names = campaigns.List().ToDictionary(x => x.Id, x => x.Name);
            var items = rows.Select(d => new
            {
                id = (long)d.id, attempt_id = (long?)d.attempt_id, lead_id = (long)d.lead_id, campaign = names.GetValueOrDefault((long)d.campaign_id),
                agent = (string)d.agent_id, code = (string)d.code, script = (string?)d.script, note = (string?)d.note, at = Time((long)d.created_at),
            }).ToList();
            return Results.Ok(new { items, next_after = items.Count == (limit ?? 100) ? items[^1].id : (long?)null });
        });

        // Deleting a campaign removes it and all that is only its own: its leads, their attempts, dispositions, callbacks,
        // QA results, survey answers and trunk quality. Customers (shared by campaigns) and the DNC list (per number, whoever asked) stay. Only a stopped
        // campaign with no engine here can go; the delete and its counts are in the audit log.
        app.MapDelete("/campaigns/{name}", (string name) =>
        {
            if (campaigns.Find(name) is not { } c) return DialerApi.NotFound($"campaign '{name}'");
            if (c.Status != CampaignStatus.Stopped || engines.Find(name) is not null)
                return Results.Problem(statusCode: 409, title: "campaign not stopped", detail: $"campaign '{name}' is {c.Status.ToString().ToLowerInvariant()}: stop it first (POST /campaigns/{{name}}/stop)");
            var counts = db.Write((conn, tx) =>
            {
                var p = new { id = c.Id };
                var qa = conn.Execute("DELETE FROM qa_results WHERE campaign_id = @id", p, tx);
                var dispositions = conn.Execute("DELETE FROM dispositions WHERE lead_id IN (SELECT id FROM leads WHERE campaign_id = @id)", p, tx);
                conn.Execute("DELETE FROM callbacks WHERE lead_id IN (SELECT id FROM leads WHERE campaign_id = @id)", p, tx);
                conn.Execute("DELETE FROM survey_answers WHERE campaign_id = @id", p, tx);
                conn.Execute("DELETE FROM trunk_quality WHERE campaign_id = @id", p, tx);
                conn.Execute("DELETE FROM agent_states WHERE campaign_id = @id", p, tx);
                var attempts = conn.Execute("DELETE FROM attempts WHERE campaign_id = @id", p, tx);
                var leads = conn.Execute("DELETE FROM leads WHERE campaign_id = @id", p, tx);
                conn.Execute("DELETE FROM campaign_owners WHERE campaign_id = @id", p, tx);
                conn.Execute("DELETE FROM campaigns WHERE id = @id", p, tx);
                return new { leads, attempts, dispositions, qa_results = qa };
            });
            audit.Write("api", "campaign delete", $"campaign:{name}", System.Text.Json.JsonSerializer.Serialize(counts), DateTime.UtcNow);
            campaignEvent(new { campaign = name, deleted = true });
            return Results.Ok(new { campaign = name, deleted = counts, kept = "customers and the DNC list (they are not the campaign's own)" });
        });
    }

    public sealed record AttemptDisposition(string Code, string? Agent = null, string? Note = null, string? Script = null);

    private const string Select = """
        SELECT a.id, a.campaign_id, a.lead_id, a.attempt_no, a.channel_id, a.node, a.trunk, a.agent, a.placed_at, a.answered_at, a.connected_at,
               a.ended_at, a.outcome, a.cause, a.cost, a.reconciled,
               (SELECT d.code FROM dispositions d WHERE d.attempt_id = a.id ORDER BY d.id DESC LIMIT 1) AS disposition
        FROM attempts a
        """;

    private static object Shape(AttemptRow r, Dictionary<long, string> names, TrunkNames trunks, ApiOptions options)
    {
        var campaign = names.GetValueOrDefault(r.CampaignId) ?? "";
        return new
        {
            id = r.Id, campaign, lead_id = r.LeadId, attempt = r.AttemptNo, channel_id = r.ChannelId, node = r.Node,
            trunk = trunks.Name(campaign, r.Trunk), trunk_index = r.Trunk, agent = r.Agent,
            placed_at = Time(r.PlacedAt), answered_at = r.AnsweredAt is { } a ? Time(a) : (DateTimeOffset?)null,
            connected_at = r.ConnectedAt is { } c ? Time(c) : (DateTimeOffset?)null, ended_at = r.EndedAt is { } e ? Time(e) : (DateTimeOffset?)null,
            outcome = r.Outcome, cause = r.Cause, cost = r.Cost, reconciled = r.Reconciled != 0,
            ring_seconds = ((r.AnsweredAt ?? r.EndedAt ?? r.PlacedAt) - r.PlacedAt) / 1000.0,
            talk_seconds = r.ConnectedAt is { } cc && r.EndedAt is { } ee ? (ee - cc) / 1000.0 : 0,
            disposition = r.Disposition,
            recording = options.RecordingsDir is { } dir && Recording(dir, r.ChannelId) is not null ? $"/attempts/{r.Id}/recording" : null,
        };
    }

    private static (string Path, string Type)? Recording(string dir, string channelId)
    {
        if (channelId.IndexOfAny(['/', '\\']) >= 0 || channelId.Contains("..", StringComparison.Ordinal)) return null; // ids are ours, but never a path
        foreach (var (ext, type) in RecordingTypes)
            if (System.IO.Path.Combine(dir, channelId + ext) is var path && File.Exists(path)) return (path, type);
        return null;
    }

    /// <summary>The from / to query values (ISO 8601); false with a 400 naming the one at fault.</summary>
    internal static bool TryTimes(string? fromText, string? toText, out DateTimeOffset? from, out DateTimeOffset? to, out IResult error)
    {
        var ok = ParseTimes(fromText, toText, out from, out to, out var why);
        error = ok ? Results.Empty : DialerApi.Invalid(why.Field, why.Message);
        return ok;
    }

    /// <summary>The `from` and `to` arguments (ISO 8601, UTC when no offset is given); false with the field and why.</summary>
    internal static bool ParseTimes(string? fromText, string? toText, out DateTimeOffset? from, out DateTimeOffset? to, out (string Field, string Message) why)
    {
        from = to = null;
        why = default;
        foreach (var (field, text) in new[] { ("from", fromText), ("to", toText) })
        {
            if (text is null) continue;
            if (!TryParseTime(text, out var t))
            {
                why = (field, BadTime);
                return false;
            }
            if (field == "from") from = t; else to = t;
        }
        if (from > to) { why = ("to", "must not be before from"); return false; }
        return true;
    }

    internal const string BadTime = "must be an ISO 8601 time such as 2026-12-01T09:00:00+08:00";

    /// <summary>An ISO 8601 time argument, UTC when no offset is given.</summary>
    internal static bool TryParseTime(string text, out DateTimeOffset t) =>
        DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out t);

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
    private static string Bounded(string s) => s.Length <= 64 ? s : s[..64] + "…";
}

/// <summary>Trunk names by index, per campaign, as its engine named them when it last ran in this process (the store keeps the index).</summary>
public sealed class TrunkNames
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string[]> _names = new(StringComparer.Ordinal);

    public void Learn(string campaign, EngineSnapshot s) => _names[campaign] = [.. s.Trunks.Select(t => t.Name)];
    public string? Name(string campaign, int index) => _names.TryGetValue(campaign, out var n) && index >= 0 && index < n.Length ? n[index] : null;
    public int? IndexOf(string campaign, string name) => _names.TryGetValue(campaign, out var n) && Array.IndexOf(n, name) is var i and >= 0 ? i : null;
}
