using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json;
using Dapper;
using Dialer.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Store.Tests;

/// <summary>POST /attempts/{id}/transcript, the QA queue, reviews and the report, on both databases, through the API in memory.</summary>
[Collection("db")]
public sealed class QualityApiTests(PostgresServer pg)
{
    private const string Key = "test-key-0123456789abcdef";

    private sealed class Rig : IAsyncDisposable
    {
        public required TestDb Db { get; init; }
        public required WebApplication App { get; init; }
        public required HttpClient Client { get; init; }

        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
            Db.Dispose();
        }
    }

    /// <summary>A campaign with one lead and three attempts: 101 by agent a1, 102 by a2, 103 bridged to nobody.</summary>
    private async Task<Rig> Start(string dialect)
    {
        var t = new TestDb(dialect, pg);
        var campaign = t.Campaign();
        t.Import(campaign, "phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n");
        using (var c = t.Db.Connect())
            foreach (var (id, agent) in new[] { (101L, "a1"), (102L, "a2"), (103L, (string?)null) })
                c.Execute("INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, agent, placed_at) VALUES (@id, @campaign, 1, 1, @channel, 'n1', 0, @agent, 0)",
                    new { id, campaign, channel = $"dialer-{id}-", agent });
        var app = DialerApi.Build(new ApiOptions { Db = t.Connection, ApiKeys = [Key], Pii = TestDb.Pii }, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        var client = app.GetTestClient();
        client.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);
        return new Rig { Db = t, App = app, Client = client };
    }

    private static StringContent Json(object body) => new(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static object Transcript(params (string Speaker, double Start, string Text)[] segments) => new
    {
        segments = segments.Select(s => new { speaker = s.Speaker, start = s.Start, end = s.Start + 3, text = s.Text }),
        duration_seconds = 120,
    };

    // Identity and recording notice in time, the refusal offer made: only what a case adds is a violation.
    private static readonly (string, double, string)[] Compliant =
        [("agent", 0, "您好，我是平安车险的续保专员小王。"), ("agent", 4, "本次通话将会录音。"), ("agent", 60, "您可以随时拒绝我们的来电。")];

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public async Task A_violation_is_stored_with_segment_time_and_rule_version_and_alerts_the_event_stream(string dialect)
    {
        await using var rig = await Start(dialect);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var events = rig.App.Services.GetRequiredService<EventHub>().Subscribe(null, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await events.MoveNextAsync()); // hello: subscribed before the post

        var r = await rig.Client.PostAsync("/attempts/101/transcript", Json(Transcript(
            [.. Compliant, ("customer", 8, "我的电话是13800138000"), ("agent", 12.5, "这个续保是强制的，我的工号是123456")])));
        Assert.Equal(HttpStatusCode.Created, r.StatusCode);
        var body = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("car-insurance-renewal", 1, 1), (body.GetProperty("rule_set").GetString(), body.GetProperty("rule_set_version").GetInt32(), body.GetProperty("violations").GetInt32()));
        var results = body.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(7, results.Count);
        var v = results.Single(x => x.GetProperty("outcome").GetString() == "violation");
        Assert.Equal(("compulsory-renewal", 1, 4, 12500, "a1"), (v.GetProperty("rule_id").GetString(), v.GetProperty("rule_version").GetInt32(),
            v.GetProperty("segment").GetInt32(), v.GetProperty("offset_ms").GetInt32(), v.GetProperty("agent_id").GetString()));
        Assert.Equal("这个续保是强制的，我的工号是******", v.GetProperty("excerpt").GetString()); // digit runs never stored
        Assert.Equal("pass", results.Single(x => x.GetProperty("rule_id").GetString() == "recording-notice").GetProperty("outcome").GetString());

        Assert.True(await events.MoveNextAsync());
        Assert.Equal("alert", events.Current.EventType);
        var alert = JsonDocument.Parse(events.Current.Data).RootElement;
        Assert.Equal(("compulsory-renewal", 101, "a1", "high"), (alert.GetProperty("rule_id").GetString(), alert.GetProperty("attempt_id").GetInt32(),
            alert.GetProperty("agent").GetString(), alert.GetProperty("severity").GetString()));

        var again = await rig.Client.PostAsync("/attempts/101/transcript", Json(Transcript(Compliant)));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public async Task The_queue_holds_unreviewed_violations_and_the_report_counts_per_agent_and_rule(string dialect)
    {
        await using var rig = await Start(dialect);
        Assert.Equal(HttpStatusCode.Created, (await rig.Client.PostAsync("/attempts/101/transcript", Json(Transcript([.. Compliant, ("agent", 20, "给您内部价")])))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await rig.Client.PostAsync("/attempts/102/transcript", Json(Transcript(Compliant)))).StatusCode);
        // No identity, no recording notice, and a guaranteed payout: three violations, on a call nobody was bridged to.
        Assert.Equal(HttpStatusCode.Created, (await rig.Client.PostAsync("/attempts/103/transcript", Json(Transcript(("agent", 0, "您好"), ("agent", 40, "保证赔付"), ("agent", 60, "您可以随时拒绝"))))).StatusCode);

        var queue = await rig.Client.GetFromJsonAsync<JsonElement[]>("/qa/queue");
        Assert.Equal(["fake-discount", "guaranteed-payout", "identity-disclosure", "recording-notice"], queue!.Select(q => q.GetProperty("rule_id").GetString()).Order());
        var first = queue!.Single(q => q.GetProperty("rule_id").GetString() == "fake-discount").GetProperty("id").GetInt64();
        var review = new { reviewer = "supervisor-1", verdict = "confirmed", note = "heard it on the recording" };
        Assert.Equal(HttpStatusCode.NoContent, (await rig.Client.PostAsync($"/qa/results/{first}/review", Json(review))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await rig.Client.PostAsync($"/qa/results/{first}/review", Json(review))).StatusCode);
        Assert.Equal(3, (await rig.Client.GetFromJsonAsync<JsonElement[]>("/qa/queue"))!.Length);
        var aPass = (await rig.Client.GetFromJsonAsync<JsonElement[]>("/attempts/102/qa"))![0].GetProperty("id").GetInt64();
        Assert.Equal(HttpStatusCode.Conflict, (await rig.Client.PostAsync($"/qa/results/{aPass}/review", Json(review))).StatusCode);

        var byAgent = (await rig.Client.GetFromJsonAsync<JsonElement>("/qa/report?by=agent")).GetProperty("rows").EnumerateArray()
            .ToDictionary(x => x.GetProperty("key").GetString()!, x => (x.GetProperty("calls_checked").GetInt32(), x.GetProperty("violations").GetInt32(),
                x.GetProperty("confirmed").GetInt32(), x.GetProperty("pending").GetInt32()));
        Assert.Equal(new Dictionary<string, (int, int, int, int)> { [""] = (1, 3, 0, 3), ["a1"] = (1, 1, 1, 0), ["a2"] = (1, 0, 0, 0) }, byAgent);
        var byRule = (await rig.Client.GetFromJsonAsync<JsonElement>("/qa/report?by=rule")).GetProperty("rows").EnumerateArray()
            .ToDictionary(x => x.GetProperty("key").GetString()!, x => (x.GetProperty("rule_version").GetInt32(), x.GetProperty("calls_checked").GetInt32(), x.GetProperty("violations").GetInt32()));
        Assert.Equal(7, byRule.Count);
        Assert.Equal((1, 3, 1), byRule["fake-discount"]);
        Assert.Equal((1, 3, 0), byRule["compulsory-renewal"]);
    }

    [Theory, InlineData("sqlite")]
    public async Task Bad_transcripts_are_400s_naming_the_field_and_unknown_attempts_404(string dialect)
    {
        await using var rig = await Start(dialect);
        async Task<string> Field(object body)
        {
            var r = await rig.Client.PostAsync("/attempts/101/transcript", Json(body));
            Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
            return string.Join(",", (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateObject().Select(p => p.Name));
        }
        Assert.Equal("segments[1].speaker", await Field(Transcript(("agent", 0, "您好"), ("bot", 2, "hello"))));
        Assert.Equal("segments[0].end", await Field(new { segments = new[] { new { speaker = "agent", start = 5.0, end = 2.0, text = "x" } } }));
        Assert.Equal("segments", await Field(new { segments = Array.Empty<object>() }));
        Assert.Equal("segments[0].text", await Field(new { segments = new[] { new { speaker = "agent", start = 0.0, end = 1.0 } } }));
        Assert.Equal(HttpStatusCode.NotFound, (await rig.Client.PostAsync("/attempts/999/transcript", Json(Transcript(Compliant)))).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await rig.Client.GetAsync("/qa/report?by=team")).StatusCode);
        var anonymous = rig.App.GetTestClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/qa/queue")).StatusCode);
    }
}
