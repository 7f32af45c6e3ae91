using System.Globalization;
using System.CommandLine;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Dialer.Store;

namespace Dialer.Api.Tests;

/// <summary>The floor's reports beyond calls (attribution, abandonment, trunks, agents), over the API and `dialer report`.</summary>
public sealed partial class RecordsTests
{
    /// <summary>A disposition as the agent's desktop writes it, <paramref name="after"/> s after the call ended.</summary>
    private void Disposition(long attempt, string code, string script, double after)
    {
        using var db = StoreDb.Open(Db);
        db.Write((c, tx) => c.Execute("""
            INSERT INTO dispositions (attempt_id, lead_id, agent_id, code, script, created_at)
            SELECT id, lead_id, agent, @code, @script, ended_at + @after FROM attempts WHERE id = @attempt
            """, new { attempt, code, script, after = (long)(after * 1000) }, tx));
    }

    /// <summary>Seven calls of 30 November (Shanghai): four conversations of two agents, three abandons of three kinds.</summary>
    private async Task Floor7()
    {
        var leads = await Campaign("attr", 7);
        using (var db = StoreDb.Open(Db))
            db.Write((c, tx) => c.Execute("UPDATE leads SET policy_expiry = CASE id WHEN @l0 THEN 20261205 WHEN @l1 THEN 20261205 WHEN @l2 THEN 20270130 ELSE NULL END",
                new { l0 = leads[0], l1 = leads[1], l2 = leads[2] }, tx));
        Assert.Equal(HttpStatusCode.OK, (await _http.PutAsJsonAsync("/agents/a1", new { skills = new { motor = 3 }, started_on = "2026-11-20" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.PutAsJsonAsync("/agents/a2", new { skills = new { motor = 1, life = 2 }, started_on = "2025-06-01" })).StatusCode);
        Attempt(1, "attr", leads[0], "2026-11-30T02:00:00Z", "human", "a1", 60);
        Attempt(2, "attr", leads[1], "2026-11-30T02:10:00Z", "human", "a1", 30);
        Attempt(3, "attr", leads[2], "2026-11-30T03:00:00Z", "human", "a2", 100);
        Attempt(4, "attr", leads[3], "2026-11-30T03:05:00Z", "abandoned"); // hung up 0.5 s after answering, while waiting
        Attempt(5, "attr", leads[4], "2026-11-30T03:10:00Z", "human", "a2", 40);
        Attempt(6, "attr", leads[5], "2026-11-30T03:20:00Z", "abandoned", talk: 10); // safe harbor
        Attempt(7, "attr", leads[6], "2026-11-30T03:30:00Z", "abandoned", talk: 10);
        using (var db = StoreDb.Open(Db)) db.Write((c, tx) => c.Execute("UPDATE attempts SET reconciled = 1 WHERE id = 7", transaction: tx)); // closed by recovery
        Disposition(1, "renewed", "s1", 30);
        Disposition(3, "renewed", "s2", 20);
        Assert.Equal(HttpStatusCode.Created, (await _http.PostAsJsonAsync("/attempts/2/disposition", new { code = "callback", script = "s1" })).StatusCode);
        Assert.Contains("\"script\"", await (await _http.PostAsJsonAsync("/attempts/2/disposition", new { code = "callback", script = "" })).Content.ReadAsStringAsync());
    }

    private async Task<Dictionary<string, JsonElement>> Rows(string query) =>
        (await _http.GetFromJsonAsync<JsonElement>("/reports/" + query)).GetProperty("rows").EnumerateArray().ToDictionary(r => r.GetProperty("key").GetString()!);

    private static (long Contacts, long Converted) Counts(JsonElement r) => (r.GetProperty("contacts").GetInt64(), r.GetProperty("converted").GetInt64());

    [Fact]
    public async Task Attribution_counts_conversations_by_expiry_skill_seniority_script_hour_and_region_with_wilson_intervals()
    {
        await Floor7();
        var expiry = await Rows("attribution?campaign=attr&by=expiry");
        Assert.Equal(["0-7 days", "61-90 days", "no expiry date"], expiry.Keys); // 5 and 61 days before expiry; abandons are no conversation
        Assert.Equal((2, 1), Counts(expiry["0-7 days"]));
        Assert.Equal((1, 1), Counts(expiry["61-90 days"]));
        Assert.Equal((1, 0), Counts(expiry["no expiry date"]));
        // 1 of 2: Wilson 95% is 0.0945..0.9055 (a bare 50% would hide that two calls say almost nothing).
        Assert.Equal(0.5, expiry["0-7 days"].GetProperty("conversion_rate").GetDouble());
        Assert.Equal(0.0945, expiry["0-7 days"].GetProperty("conversion_ci_low").GetDouble(), 4);
        Assert.Equal(0.9055, expiry["0-7 days"].GetProperty("conversion_ci_high").GetDouble(), 4);

        var script = await Rows("attribution?campaign=attr&by=script");
        Assert.Equal((2, 1), Counts(script["s1"]));
        Assert.Equal((1, 1), Counts(script["s2"]));
        Assert.Equal((1, 0), Counts(script["(none)"]));
        var skill = await Rows("attribution?campaign=attr&by=skill");
        Assert.Equal((2, 1), Counts(skill["motor=3"]));
        Assert.Equal((2, 1), Counts(skill["life=2"])); // a2's calls count under each of its skills
        Assert.Equal((2, 1), Counts(skill["motor=1"]));
        var seniority = await Rows("attribution?campaign=attr&by=seniority");
        Assert.Equal((2, 1), Counts(seniority["under 30 days"]));
        Assert.Equal((2, 1), Counts(seniority["1 year+"]));
        var hour = await Rows("attribution?campaign=attr&by=hour&conversions=renewed,callback");
        Assert.Equal((2, 2), Counts(hour["10"])); // 02:00 UTC is 10:00 at a Shanghai callee
        Assert.Equal((2, 1), Counts(hour["11"]));
        Assert.Equal((4, 2), Counts((await Rows("attribution?campaign=attr&by=region"))["CN"]));
        var codes = await Rows("attribution?campaign=attr&by=disposition");
        Assert.Equal(1.0 / 3, codes["callback"].GetProperty("share_rate").GetDouble(), 12);

        foreach (var (query, field) in new[] { ("attribution?campaign=attr&by=week", "by"), ("attribution?by=expiry", "campaign"), ("abandonment?campaign=attr&by=hour", "by") })
        {
            var r = await _http.GetAsync("/reports/" + query);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            Assert.Contains($"\"{field}\"", await r.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/reports/forecast?campaign=attr")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/reports/attribution?campaign=nobody")).StatusCode);
    }

    [Fact]
    public async Task Abandonment_trunk_and_agent_reports_tell_true_from_compliance_abandons_and_talk_from_wrap_and_idle()
    {
        await Floor7();
        var days = (await _http.GetFromJsonAsync<JsonElement>("/reports/abandonment?campaign=attr&to=2026-12-01T00:00:00%2B08:00")).GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(30, days.Count);
        Assert.Equal("2026-11-01", days[0].GetProperty("key").GetString());
        var day = days[^1];
        Assert.Equal("2026-11-30", day.GetProperty("key").GetString());
        Assert.Equal(7, day.GetProperty("live_answers").GetInt64());
        Assert.Equal(3, day.GetProperty("compliance_abandons").GetInt64()); // what the cap counts
        Assert.Equal(1, day.GetProperty("true_abandons").GetInt64()); // the safe-harbor one
        Assert.Equal(1, day.GetProperty("hung_up_waiting").GetInt64());
        Assert.Equal(1, day.GetProperty("closed_by_recovery").GetInt64());
        Assert.True(day.GetProperty("over_cap_30d").GetBoolean());
        Assert.Equal(3, day.GetProperty("compliance_abandons_30d").GetInt64());

        var trunk = (await Rows("trunks?campaign=attr"))["trunk 0"]; // no engine ran here to name it
        Assert.Equal(7, trunk.GetProperty("calls").GetInt64());
        Assert.Equal(1.0, trunk.GetProperty("answer_rate").GetDouble());
        Assert.Equal(0.7, trunk.GetProperty("cost").GetDouble(), 9);

        // a1's states as the engine told them: talking 60 s, wrap-up 30 s, ready 510 s, talking 30 s, logged out.
        using (var db = StoreDb.Open(Db))
        {
            using var conn = db.Connect();
            var id = conn.ExecuteScalar<long>("SELECT id FROM campaigns WHERE name = 'attr'");
            var at = DateTimeOffset.Parse("2026-11-30T02:00:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
            new AgentStates(db).Write([new(id, "a1", "talking", null, at), new(id, "a1", "wrap_up", null, at + 60_000), new(id, "a1", "ready", null, at + 90_000),
                new(id, "a1", "talking", null, at + 600_000), new(id, "a1", "logged_out", null, at + 630_000)]);
        }
        var a1 = (await Rows("agents?campaign=attr"))["a1"];
        Assert.Equal(2, a1.GetProperty("calls").GetInt64());
        Assert.Equal(90, a1.GetProperty("talk_seconds").GetDouble());
        Assert.Equal(30, a1.GetProperty("wrap_seconds").GetDouble());
        Assert.Equal(510, a1.GetProperty("idle_seconds").GetDouble());
        var hourly = (await _http.GetFromJsonAsync<JsonElement>("/reports/agents?campaign=attr&by=hour")).GetProperty("rows")[0];
        Assert.Equal("2026-11-30T10:00", hourly.GetProperty("key").GetString());
        Assert.Equal("a1", hourly.GetProperty("agent").GetString());
    }

    [Fact]
    public async Task Agent_talk_wrap_and_idle_per_hour_come_from_the_stored_agent_states_and_match_a_direct_count()
    {
        await Campaign("shift", 1);
        using var db = StoreDb.Open(Db);
        using var conn = db.Connect();
        var id = conn.ExecuteScalar<long>("SELECT id FROM campaigns WHERE name = 'shift'");
        // Three agents, 200 changes each (1 s to 3 min apart: about 5 hours, across hour boundaries), then logged out.
        var rng = new Random(7);
        string[] states = ["ready", "talking", "wrap_up", "paused", "ready", "talking", "wrap_up", "previewing"];
        var rows = new List<AgentStateRow>();
        var start = DateTimeOffset.Parse("2026-11-30T01:00:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        foreach (var agent in new[] { "a1", "a2", "a3" })
        {
            var at = start + rng.Next(0, 600_000);
            for (var i = 0; i < 200; i++, at += rng.Next(1_000, 180_000)) rows.Add(new(id, agent, states[rng.Next(states.Length)], i % 50 == 3 ? "lunch" : null, at));
            rows.Add(new(id, agent, "logged_out", null, at));
        }
        new AgentStates(db).Write(rows);

        var direct = conn.Query<(string Agent, string State, long Ms)>("""
            SELECT agent, state, SUM(next_at - at) FROM (
                SELECT agent, state, at, LEAD(at) OVER (PARTITION BY agent ORDER BY at) AS next_at FROM agent_states WHERE campaign_id = @id) s
            WHERE next_at IS NOT NULL GROUP BY agent, state
            """, new { id }).ToList();
        Assert.Equal(3 * 5, direct.Count);
        var column = new Dictionary<string, string> { ["talking"] = "talk_seconds", ["wrap_up"] = "wrap_seconds", ["ready"] = "idle_seconds", ["paused"] = "paused_seconds", ["previewing"] = "previewing_seconds" };
        var byAgent = await Rows("agents?campaign=shift");
        foreach (var (agent, state, ms) in direct) Assert.Equal(ms / 1000.0, byAgent[agent].GetProperty(column[state]).GetDouble(), 3);

        // By hour: every hour holds at most an hour of each agent, and the hours add up to the direct count.
        var hourly = (await _http.GetFromJsonAsync<JsonElement>("/reports/agents?campaign=shift&by=hour")).GetProperty("rows").EnumerateArray().ToList();
        Assert.True(hourly.Count >= 3 * 5, $"{hourly.Count} agent-hours");
        foreach (var h in hourly) Assert.InRange(column.Values.Sum(c => h.GetProperty(c).GetDouble()), 0, 3600.0001);
        foreach (var (agent, state, ms) in direct)
            Assert.Equal(ms / 1000.0, hourly.Where(h => h.GetProperty("agent").GetString() == agent).Sum(h => h.GetProperty(column[state]).GetDouble()), 3);
    }

    private sealed class Clock(string at) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.Parse(at, CultureInfo.InvariantCulture);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static EngineSnapshot Measured(double rttMs, double loss) =>
        new("predictive", 0, 0, 0, 0, 0, 0, [new TrunkSnapshot("carrier-a", 0, 0, 0, 0, 0, 10, true, new int[8])], new int[5], [], 0, 0, 0.03, 1, [])
        {
            Media = [new Core.Hosting.TrunkMedia(rttMs, loss)],
        };

    [Fact]
    public async Task Trunk_loss_and_rtt_are_stored_per_minute_and_reported_per_trunk_and_hour()
    {
        await Floor7();
        using var db = StoreDb.Open(Db);
        var clock = new Clock("2026-11-30T02:00:10Z");
        var log = new TrunkQualityLog(db, new Campaigns(db), clock);
        log.Sample("attr", Measured(30, 0.01));
        log.Sample("attr", Measured(40, 0.03));
        log.Sample("attr", Measured(double.NaN, double.NaN)); // nothing measured that second: not counted
        log.Sample("attr", null); // the engine did not answer
        using (var c = db.Connect()) Assert.Equal(0, c.ExecuteScalar<int>("SELECT COUNT(*) FROM trunk_quality")); // the minute is not over
        clock.Now = clock.Now.AddMinutes(1);
        log.Sample("attr", Measured(100, 0.1));
        using (var c = db.Connect())
        {
            var first = c.QuerySingle<(long Minute, double Rtt, double Loss, int Samples)>("SELECT minute, rtt_ms, loss, samples FROM trunk_quality");
            Assert.Equal((DateTimeOffset.Parse("2026-11-30T02:00:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds(), 35.0, 0.02, 2),
                (first.Minute, first.Rtt, Math.Round(first.Loss, 9), first.Samples));
        }
        log.Flush(all: true); // at shutdown, the minute under way too
        Assert.Null(log.LastError);

        var trunk = (await Rows("trunks?campaign=attr"))["trunk 0"];
        Assert.Equal((35.0 * 2 + 100) / 3, trunk.GetProperty("rtt_ms_mean").GetDouble(), 9); // weighed by the seconds measured
        Assert.Equal(100, trunk.GetProperty("rtt_ms_worst_minute").GetDouble());
        Assert.Equal((0.02 * 2 + 0.1) / 3, trunk.GetProperty("loss_mean").GetDouble(), 9);
        Assert.Equal(2, trunk.GetProperty("minutes_measured").GetInt64());
        var hours = (await _http.GetFromJsonAsync<JsonElement>("/reports/trunks?campaign=attr&by=hour")).GetProperty("rows").EnumerateArray().ToList();
        var ten = hours.Single(h => h.GetProperty("hour").GetString() == "2026-11-30T10:00"); // 02:00 UTC in Shanghai
        Assert.Equal(2, ten.GetProperty("calls").GetInt64());
        Assert.Equal(2, ten.GetProperty("minutes_measured").GetInt64());
        var eleven = hours.Single(h => h.GetProperty("hour").GetString() == "2026-11-30T11:00");
        Assert.Equal(JsonValueKind.Null, eleven.GetProperty("rtt_ms_mean").ValueKind); // calls, but nothing measured then
        Assert.Equal(0, eleven.GetProperty("minutes_measured").GetInt64());
        // A campaign deleted takes its trunk quality with it.
        Assert.Equal(HttpStatusCode.OK, (await _http.DeleteAsync("/campaigns/attr")).StatusCode);
        using (var c = db.Connect()) Assert.Equal(0, c.ExecuteScalar<int>("SELECT COUNT(*) FROM trunk_quality"));
    }

    [Fact]
    public async Task Dialer_report_writes_what_the_api_serves_and_names_a_bad_option()
    {
        await Floor7();
        var file = Path.Combine(_dir, "script.csv");
        var root = new RootCommand { ReportCommands.Create() };
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        Assert.Equal(0, root.Parse(["report", "attribution", "--campaign", "attr", "--by", "script", "--format", "csv", "--db", Db, "--out", file]).Invoke(config));
        Assert.Equal(await _http.GetStringAsync("/reports/attribution?campaign=attr&by=script&format=csv"), File.ReadAllText(file));
        Assert.Equal("script,contacts,converted,conversion_rate,conversion_ci_low,conversion_ci_high", File.ReadAllLines(file)[0]);
        var bad = Assert.Throws<ArgumentException>(() => root.Parse(["report", "trunks", "--campaign", "attr", "--by", "agent", "--db", Db]).Invoke(config));
        Assert.StartsWith("--by: must be trunk, region or hour", bad.Message);
        Assert.StartsWith("--campaign: no campaign", Assert.Throws<ArgumentException>(() => root.Parse(["report", "calls", "--campaign", "nobody", "--db", Db]).Invoke(config)).Message);
    }
}

/// <summary>Recordings past their campaign's retention: 410 Gone at once, deleted by the sweep, audited.</summary>
public sealed partial class RecordsTests
{
    [Fact]
    public async Task A_recording_past_its_campaigns_retention_is_gone_then_swept_and_audited_and_a_newer_one_stays()
    {
        var leads = await Campaign("kept30", 2);
        Assert.Equal(HttpStatusCode.OK, (await _http.PatchAsync("/campaigns/kept30/settings", JsonContent.Create(new { recording_retention_days = 30 }))).StatusCode);
        var now = DateTime.UtcNow;
        Attempt(1, "kept30", leads[0], now.AddDays(-31).ToString("O"), "human", "a1", 60);
        Attempt(2, "kept30", leads[1], now.AddDays(-29).ToString("O"), "human", "a1", 60);
        foreach (var channel in new[] { "dialer-n1-1", "dialer-n1-2" }) File.WriteAllBytes(Path.Combine(Recordings, channel + ".wav"), [1, 2, 3]);

        Assert.Equal(HttpStatusCode.Gone, (await _http.GetAsync("/attempts/1/recording")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/attempts/2/recording")).StatusCode);
        using var db = StoreDb.Open(Db);
        var campaigns = new Campaigns(db);
        var sweep = new RecordingRetention(db, campaigns, new AuditLog(db), Recordings);
        Assert.Equal(1, sweep.Sweep(now));
        Assert.False(File.Exists(Path.Combine(Recordings, "dialer-n1-1.wav")));
        Assert.True(File.Exists(Path.Combine(Recordings, "dialer-n1-2.wav")));
        Assert.Equal(0, sweep.Sweep(now)); // nothing left to delete
        using var c = db.Connect();
        Assert.Equal("1 past the retention of 30 days", c.QuerySingle<string>("SELECT detail FROM audit_log WHERE action = 'recordings deleted' AND entity = 'campaign:kept30'"));
        Assert.Contains("recording_retention_days", await (await _http.PatchAsync("/campaigns/kept30/settings", JsonContent.Create(new { recording_retention_days = 0 }))).Content.ReadAsStringAsync());
    }

    /// <summary>
    /// A campaign stored with a retention shorter than its profile's recording rule (before the rule was checked): a PATCH
    /// that leaves the retention alone goes through, one that sets a short retention is refused naming the key, the profile
    /// version and its days, and the sweep keeps the recordings the profile's 1,826 days.
    /// </summary>
    [Fact]
    public async Task A_patch_is_judged_on_what_it_changes_and_the_sweep_keeps_the_profiles_longer_retention()
    {
        var leads = await Campaign("cn30", 1);
        using var db = StoreDb.Open(Db);
        var campaigns = new Campaigns(db);
        var stored = campaigns.Find("cn30")!;
        campaigns.Update(stored.Id, stored.Settings with { ComplianceProfile = "cn-auto-renewal", RecordingRetentionDays = 30 }, DateTime.UtcNow);

        var ok = await _http.PatchAsync("/campaigns/cn30/settings", JsonContent.Create(new { max_attempts = 4 }));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal((4, 30), (campaigns.Find("cn30")!.Settings.MaxAttempts, campaigns.Find("cn30")!.Settings.RecordingRetentionDays));
        var refused = await _http.PatchAsync("/campaigns/cn30/settings", JsonContent.Create(new { recording_retention_days = 60 }));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var errors = (await refused.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("errors");
        Assert.Equal("recording_retention_days 60 is shorter than the compliance profile's: cn-auto-renewal v4 keeps every recording 1,826 days (rule cn-auto-renewal/v4/recording); give at least 1,826, or leave it out",
            errors.GetProperty("recording_retention_days")[0].GetString());
        // A patch that breaks the rule from the other side (a profile keeping recordings longer than the retention) is refused too.
        await _http.PatchAsync("/campaigns/cn30/settings", JsonContent.Create(new { compliance_profile = (string?)null, recording_retention_days = 30 }));
        Assert.Equal(HttpStatusCode.BadRequest, (await _http.PatchAsync("/campaigns/cn30/settings", JsonContent.Create(new { compliance_profile = "cn-auto-renewal" }))).StatusCode);
        campaigns.Update(stored.Id, campaigns.Find("cn30")!.Settings with { ComplianceProfile = "cn-auto-renewal" }, DateTime.UtcNow);

        var now = DateTime.UtcNow;
        Attempt(1, "cn30", leads[0], now.AddDays(-31).ToString("O"), "human", "a1", 60);
        File.WriteAllBytes(Path.Combine(Recordings, "dialer-n1-1.wav"), [1, 2, 3]);
        Assert.Equal(0, new RecordingRetention(db, campaigns, new AuditLog(db), Recordings).Sweep(now));
        Assert.True(File.Exists(Path.Combine(Recordings, "dialer-n1-1.wav")));
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/attempts/1/recording")).StatusCode);
    }
}
