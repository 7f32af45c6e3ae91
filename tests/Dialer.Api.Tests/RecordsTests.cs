using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;

namespace Dialer.Api.Tests;

/// <summary>Call records, dispositions, recordings, the DNC list, campaign delete and the floor's reports, over the API in memory.</summary>
public sealed partial class RecordsTests(Xunit.Abstractions.ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "records-test-key-0123456789";
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-records-").FullName;
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private string Db => $"sqlite:{Path.Combine(_dir, "records.db")}";
    private string Recordings => Path.Combine(_dir, "recordings");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Recordings);
        using (var db = StoreDb.Open(Db)) Migrator.Migrate(db);
        _app = DialerApi.Build(new ApiOptions { Db = Db, ApiKeys = [Key], Pii = Pii.FromConfig(Floor.PiiKey), RecordingsDir = Recordings }, b => b.WebHost.UseTestServer());
        await _app.StartAsync();
        _http = _app.GetTestClient();
        _http.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Campaign <paramref name="name"/> (Asia/Shanghai) with <paramref name="leads"/> leads; their ids.</summary>
    private async Task<long[]> Campaign(string name, int leads)
    {
        Assert.Equal(HttpStatusCode.Created, (await _http.PostAsJsonAsync("/campaigns", new { name, settings = new { time_zone = "Asia/Shanghai" } })).StatusCode);
        var csv = new StringBuilder("phone,region,timezone\n");
        for (var i = 0; i < leads; i++) csv.Append($"+8613{(name.Length * 1000000 + 800000 + i):D9},CN,Asia/Shanghai\n");
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsync($"/campaigns/{name}/leads", new StringContent(csv.ToString(), Encoding.UTF8, "text/csv"))).StatusCode);
        using var db = StoreDb.Open(Db);
        using var c = db.Connect();
        return [.. c.Query<long>("SELECT l.id FROM leads l JOIN campaigns k ON k.id = l.campaign_id WHERE k.name = @name ORDER BY l.id", new { name })];
    }

    private static long Ms(string utc) => DateTimeOffset.Parse(utc, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();

    /// <summary>An attempt row as the engine writes it: placed at <paramref name="at"/>, talked <paramref name="talk"/> s with <paramref name="agent"/>.</summary>
    private void Attempt(long id, string campaign, long lead, string at, string outcome, string? agent = null, double talk = 0)
    {
        using var db = StoreDb.Open(Db);
        db.Write((c, tx) => c.Execute("""
            INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, agent, placed_at, answered_at, connected_at, ended_at, outcome, cause, cost)
            VALUES (@id, (SELECT id FROM campaigns WHERE name = @campaign), @lead, 1, @channel, 'n1', 0, @agent, @placed, @answered, @connected, @ended, @outcome, 16, 0.1)
            """, new
        {
            id, campaign, lead, channel = $"dialer-n1-{id}", agent, placed = Ms(at),
            answered = outcome is "human" or "abandoned" ? Ms(at) + 5000 : (long?)null,
            connected = agent is null ? (long?)null : Ms(at) + 5500,
            ended = Ms(at) + 5500 + (long)(talk * 1000), outcome,
        }, tx));
    }

    [Fact]
    public async Task Attempts_are_filtered_and_paged_carry_their_disposition_and_recording_and_a_bad_filter_names_its_field()
    {
        var leads = await Campaign("renewals", 3);
        Attempt(1, "renewals", leads[0], "2026-11-30T01:00:00Z", "human", "a1", 120);
        Attempt(2, "renewals", leads[1], "2026-11-30T01:10:00Z", "busy");
        Attempt(3, "renewals", leads[2], "2026-11-30T02:00:00Z", "human", "a2", 60);
        File.WriteAllBytes(Path.Combine(Recordings, "dialer-n1-3.wav"), [.. Enumerable.Range(0, 100).Select(i => (byte)i)]);

        var humans = await _http.GetFromJsonAsync<JsonElement>("/attempts?campaign=renewals&outcome=human&limit=1");
        var first = humans.GetProperty("items")[0];
        Assert.Equal(1, first.GetProperty("id").GetInt64());
        Assert.Equal(120, first.GetProperty("talk_seconds").GetDouble());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("recording").ValueKind);
        var next = await _http.GetFromJsonAsync<JsonElement>($"/attempts?campaign=renewals&outcome=human&limit=1&after={humans.GetProperty("next_after").GetInt64()}");
        var third = next.GetProperty("items")[0];
        Assert.Equal(3, third.GetProperty("id").GetInt64());
        Assert.Equal("/attempts/3/recording", third.GetProperty("recording").GetString());
        Assert.Single((await _http.GetFromJsonAsync<JsonElement>("/attempts?agent=a2")).GetProperty("items").EnumerateArray());
        Assert.Equal(2, (await _http.GetFromJsonAsync<JsonElement>("/attempts?campaign=renewals&from=2026-11-30T01:05:00Z")).GetProperty("items").GetArrayLength());
        Assert.DoesNotContain("8613", await _http.GetStringAsync("/attempts")); // no phone number in a call record

        // The recording streams, with ranges (a player seeks).
        var part = new HttpRequestMessage(HttpMethod.Get, "/attempts/3/recording");
        part.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(10, 19);
        var range = await _http.SendAsync(part);
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Equal("audio/wav", range.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Enumerable.Range(10, 10).Select(i => (byte)i), await range.Content.ReadAsByteArrayAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/attempts/1/recording")).StatusCode);

        // A disposition set by the platform shows on the attempt and in the list.
        Assert.Equal(HttpStatusCode.Created, (await _http.PostAsJsonAsync("/attempts/1/disposition", new { code = "renewed", note = "paid by card 6222020200112233" })).StatusCode);
        var one = await _http.GetFromJsonAsync<JsonElement>("/attempts/1");
        Assert.Equal("renewed", one.GetProperty("attempt").GetProperty("disposition").GetString());
        Assert.Equal("a1", one.GetProperty("dispositions")[0].GetProperty("agent").GetString()); // the attempt's agent
        Assert.DoesNotContain("6222020200112233", one.ToString()); // a number in a note is masked
        Assert.Single((await _http.GetFromJsonAsync<JsonElement>("/dispositions?campaign=renewals&code=renewed")).GetProperty("items").EnumerateArray());

        foreach (var (query, field) in new[] { ("outcome=answered", "outcome"), ("limit=0", "limit"), ("trunk=carrier-a", "trunk"), ("from=yesterday", "from"),
                     ("from=2026-11-30T00:00:00Z&to=2026-11-29T00:00:00Z", "to"), ("limit=abc", "limit"), ("lead_id=x", "lead_id") })
        {
            var r = await _http.GetAsync("/attempts?" + query);
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            var text = await r.Content.ReadAsStringAsync();
            Assert.Contains($"\"{field}\"", text);
            Assert.DoesNotContain("   at ", text); // no stack trace
        }
        var bad = await _http.PostAsJsonAsync("/attempts/1/disposition", new { code = "" });
        Assert.Contains("\"code\"", await bad.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await _http.PostAsJsonAsync("/attempts/99/disposition", new { code = "renewed" })).StatusCode);
    }

    [Fact]
    public async Task The_dnc_list_shows_no_number_and_an_entry_is_deleted_by_its_id()
    {
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsJsonAsync("/dnc", new { phone = "13800138000", region = "CN", reason = "asked" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsJsonAsync("/dnc", new { phone = "13900139000", region = "CN", days = 200 })).StatusCode);
        var page = await _http.GetFromJsonAsync<JsonElement>("/dnc?limit=1");
        var text = page.ToString();
        Assert.DoesNotContain("138001", text);
        Assert.DoesNotContain("0013", text);
        var id = page.GetProperty("items")[0].GetProperty("id").GetString()!;
        var rest = await _http.GetFromJsonAsync<JsonElement>($"/dnc?after={page.GetProperty("next_after").GetString()}");
        Assert.Single(rest.GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.NoContent, (await _http.DeleteAsync($"/dnc/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.DeleteAsync($"/dnc/{id}")).StatusCode);
        Assert.Single((await _http.GetFromJsonAsync<JsonElement>("/dnc")).GetProperty("items").EnumerateArray());
        Assert.Contains("\"id\"", await (await _http.DeleteAsync("/dnc/not-hex")).Content.ReadAsStringAsync());
    }

    /// <summary>A list imported over HTTP, listed by list and paged across one number on two lists, removed from one list, every change audited.</summary>
    [Fact]
    public async Task A_dnc_list_is_imported_over_http_listed_and_removed_by_list_and_every_change_is_audited()
    {
        var csv = new StringContent("phone\n13800138000\n(+86) 139-0013-9000\nnot a number 137\n", Encoding.UTF8, "text/csv");
        var report = await (await _http.PostAsync("/dnc/lists/industry-2026/import?days=30", csv)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((3, 2, 1), (report.GetProperty("rows").GetInt32(), report.GetProperty("stored").GetInt32(), report.GetProperty("rejected").GetInt32()));
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsJsonAsync("/dnc", new { phone = "13800138000", region = "CN" })).StatusCode); // also on the company's own
        Assert.Contains("\"list\"", await (await _http.PostAsync("/dnc/lists/a%2Fb/import", new StringContent("phone\n"))).Content.ReadAsStringAsync());

        // One entry a page: every entry comes once, the number on two lists twice (one per list).
        var seen = new List<(string Id, string List)>();
        string? after = null;
        do
        {
            var page = await _http.GetFromJsonAsync<JsonElement>("/dnc?limit=1" + (after is null ? "" : $"&after={after}"));
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(i => (i.GetProperty("id").GetString()!, i.GetProperty("list").GetString()!)));
            after = page.GetProperty("next_after").GetString();
        } while (after is not null);
        Assert.Equal(["industry-2026", "industry-2026", "internal"], seen.Select(e => e.List).Order());
        var twice = seen.GroupBy(e => e.Id).Single(g => g.Count() == 2).Key;
        var industry = (await _http.GetFromJsonAsync<JsonElement>("/dnc?list=industry-2026")).GetProperty("items");
        Assert.Equal(2, industry.GetArrayLength());
        Assert.All(industry.EnumerateArray(), i => Assert.Equal("industry-2026", i.GetProperty("list").GetString()));

        Assert.Equal(HttpStatusCode.NoContent, (await _http.DeleteAsync($"/dnc/{twice}?list=industry-2026")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.DeleteAsync($"/dnc/{twice}?list=industry-2026")).StatusCode);
        Assert.Single((await _http.GetFromJsonAsync<JsonElement>("/dnc?list=internal")).GetProperty("items").EnumerateArray()); // still on the company's own

        using var db = StoreDb.Open(Db);
        using var c = db.Connect();
        var audit = c.Query<(string Action, string Entity, string? Detail)>("SELECT action, entity, detail FROM audit_log WHERE action LIKE 'dnc%' ORDER BY id").ToList();
        Assert.Equal(["dnc import", "dnc add", "dnc remove"], audit.Select(a => a.Action));
        Assert.Equal(("dnc:industry-2026", "3 rows, 2 stored, 1 rejected"), (audit[0].Entity, audit[0].Detail));
        Assert.Equal($"dnc:industry-2026:{twice[..12]}", audit[2].Entity);
        Assert.DoesNotContain(audit, a => $"{a.Entity} {a.Detail}".Contains("0013"));
    }

    [Fact]
    public async Task Only_a_stopped_campaign_is_deleted_with_its_leads_and_attempts_and_the_delete_is_audited()
    {
        var leads = await Campaign("old", 2);
        var others = await Campaign("kept", 1);
        Attempt(1, "old", leads[0], "2026-11-30T01:00:00Z", "human", "a1", 30);
        Attempt(2, "kept", others[0], "2026-11-30T01:00:00Z", "busy");
        Assert.Equal(HttpStatusCode.Created, (await _http.PostAsJsonAsync("/attempts/1/disposition", new { code = "refused" })).StatusCode); // puts the number on DNC
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsync("/campaigns/old/start", null)).StatusCode); // no launcher: status only
        Assert.Equal(HttpStatusCode.Conflict, (await _http.DeleteAsync("/campaigns/old")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.PostAsync("/campaigns/old/stop", null)).StatusCode);

        var deleted = await (await _http.DeleteAsync("/campaigns/old")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(2, deleted.GetProperty("deleted").GetProperty("leads").GetInt32());
        Assert.Equal(1, deleted.GetProperty("deleted").GetProperty("attempts").GetInt32());
        Assert.Equal(1, deleted.GetProperty("deleted").GetProperty("dispositions").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/campaigns/old")).StatusCode);
        Assert.Single((await _http.GetFromJsonAsync<JsonElement>("/attempts")).GetProperty("items").EnumerateArray()); // the other campaign's
        Assert.Single((await _http.GetFromJsonAsync<JsonElement>("/dnc")).GetProperty("items").EnumerateArray()); // the refusal stays on DNC
        using var db = StoreDb.Open(Db);
        using var c = db.Connect();
        Assert.Equal(1, c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE action = 'campaign delete' AND entity = 'campaign:old'"));
        Assert.Equal(HttpStatusCode.NotFound, (await _http.DeleteAsync("/campaigns/old")).StatusCode);
    }

    [Fact]
    public async Task The_call_report_by_agent_hour_and_day_matches_a_direct_count_in_json_and_csv()
    {
        var leads = await Campaign("renewals", 6);
        // Shanghai is UTC+8: 15:30 UTC on the 30th is 23:30 local, 16:30 UTC is 00:30 on 1 December.
        Attempt(1, "renewals", leads[0], "2026-11-30T15:30:00Z", "human", "a1", 100);
        Attempt(2, "renewals", leads[1], "2026-11-30T15:40:00Z", "human", "a1", 50);
        Attempt(3, "renewals", leads[2], "2026-11-30T15:45:00Z", "abandoned");
        Attempt(4, "renewals", leads[3], "2026-11-30T16:30:00Z", "human", "a2", 200);
        Attempt(5, "renewals", leads[4], "2026-11-30T16:31:00Z", "no_answer");
        Attempt(6, "renewals", leads[5], "2026-11-30T16:32:00Z", "human", "a2", 10);
        foreach (var (attempt, code) in new[] { (1, "renewed"), (2, "callback"), (4, "renewed"), (6, "refused") })
            Assert.Equal(HttpStatusCode.Created, (await _http.PostAsJsonAsync($"/attempts/{attempt}/disposition", new { code })).StatusCode);

        var byAgent = (await _http.GetFromJsonAsync<JsonElement>("/reports/calls?campaign=renewals&by=agent")).GetProperty("rows").EnumerateArray().ToDictionary(r => r.GetProperty("key").GetString()!);
        Assert.Equal(2, byAgent["a1"].GetProperty("calls").GetInt64());
        Assert.Equal(150, byAgent["a1"].GetProperty("talk_seconds").GetDouble());
        Assert.Equal(75, byAgent["a1"].GetProperty("talk_seconds_mean").GetDouble());
        Assert.Equal(1, byAgent["a1"].GetProperty("conversions").GetInt64());
        Assert.Equal(0.5, byAgent["a2"].GetProperty("conversion_rate").GetDouble());
        Assert.Equal(1, byAgent["a2"].GetProperty("dispositions").GetProperty("refused").GetInt64());
        Assert.Equal(1, byAgent[""].GetProperty("abandoned").GetInt64()); // calls no agent took
        Assert.Equal(1.0, byAgent[""].GetProperty("abandon_rate").GetDouble());

        var byDay = (await _http.GetFromJsonAsync<JsonElement>("/reports/calls?campaign=renewals&by=day")).GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(["2026-11-30", "2026-12-01"], byDay.Select(r => r.GetProperty("key").GetString()));
        using (var db = StoreDb.Open(Db))
        using (var c = db.Connect())
        {
            // The direct count: the campaign-local day of 30 November ends at 16:00 UTC.
            var split = Ms("2026-11-30T16:00:00Z");
            var direct = c.QuerySingle<(long Calls, long Live, long Abandoned)>("""
                SELECT COUNT(*), SUM(CASE WHEN outcome IN ('human','abandoned') THEN 1 ELSE 0 END), SUM(CASE WHEN outcome = 'abandoned' THEN 1 ELSE 0 END)
                FROM attempts WHERE placed_at < @split
                """, new { split });
            Assert.Equal(direct.Calls, byDay[0].GetProperty("calls").GetInt64());
            Assert.Equal(direct.Live, byDay[0].GetProperty("live_answers").GetInt64());
            Assert.Equal((double)direct.Abandoned / direct.Live, byDay[0].GetProperty("abandon_rate").GetDouble(), 12);
        }
        var byHour = (await _http.GetFromJsonAsync<JsonElement>("/reports/calls?campaign=renewals&by=hour&conversions=renewed,callback")).GetProperty("rows");
        Assert.Equal("2026-11-30T23:00", byHour[0].GetProperty("key").GetString());
        Assert.Equal(2, byHour[0].GetProperty("conversions").GetInt64());

        var csv = await _http.GetAsync("/reports/calls?campaign=renewals&by=agent&format=csv");
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        var lines = (await csv.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("agent,calls,live_answers,abandoned,abandon_rate,bridged,talk_seconds,talk_seconds_mean,conversions,conversion_rate,disposition_callback,disposition_refused,disposition_renewed", lines[0]);
        Assert.Equal("a1,2,2,0,0,2,150,75,1,0.5,1,0,1", lines[2]);

        foreach (var (query, field) in new[] { ("by=agent", "campaign"), ("campaign=renewals&by=week", "by"), ("campaign=renewals&format=xml", "format") })
            Assert.Contains($"\"{field}\"", await (await _http.GetAsync("/reports/calls?" + query)).Content.ReadAsStringAsync());
    }
}
