using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dialer.Api;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;

namespace Dialer.Store.Tests;

/// <summary>The API in memory (TestServer); the event stream's and /metrics' tests are in ApiTests.*.cs.</summary>
public sealed partial class ApiTests : IAsyncLifetime
{
    private const string Key = "test-key-0123456789abcdef";
    private const string MetricsKey = "metrics-key-0123456789abcdef";
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"dialer-api-{Guid.NewGuid():N}.db");
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        var options = new ApiOptions { Db = "sqlite:" + _file, ApiKeys = [Key], MetricsKeys = [MetricsKey], Pii = TestDb.Pii, MaxUploadBytes = 64 * 1024 };
        using (var db = StoreDb.Open(options.Db)) Migrator.Migrate(db);
        _app = DialerApi.Build(options, b => b.WebHost.UseTestServer());
        await _app.StartAsync();
        _client = _app.GetTestClient();
        _client.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in new[] { _file, _file + "-wal", _file + "-shm" }) File.Delete(f);
    }

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> Problem(HttpResponseMessage r, HttpStatusCode expected)
    {
        Assert.Equal(expected, r.StatusCode);
        Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType);
        return await r.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task Health_needs_no_key_and_everything_else_does()
    {
        var anonymous = _app.GetTestClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
        Assert.Contains("X-Api-Key", (await Problem(await anonymous.GetAsync("/campaigns"), HttpStatusCode.Unauthorized)).GetProperty("detail").GetString());
        anonymous.DefaultRequestHeaders.Add(DialerApi.KeyHeader, "wrong-key-0123456789abcdef");
        Assert.Equal("API key not accepted", (await Problem(await anonymous.GetAsync("/campaigns"), HttpStatusCode.Unauthorized)).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/campaigns")).StatusCode);
    }

    [Theory]
    [InlineData("{\"name\": \"x\", \"settings\": {\"max_attempts\": \"six\"}}", "settings.max_attempts")]
    [InlineData("{\"name\": \"x\", \"setings\": {}}", "setings")]
    [InlineData("{\"settings\": {}}", "name")]
    [InlineData("{\"name\": \"x\", \"settings\": {\"ring_timeout_seconds\": 10}}", "settings.ring_timeout_seconds")]
    [InlineData("{\"name\": ", "name")]
    [InlineData("[1, 2]", "body")]
    public async Task A_bad_campaign_body_is_a_400_naming_the_field(string json, string field)
    {
        var p = await Problem(await _client.PostAsync("/campaigns", JsonBody(json)), HttpStatusCode.BadRequest);
        var errors = p.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), $"expected an error for '{field}', got {errors}");
        Assert.Equal(HttpStatusCode.OK, (await _client.GetAsync("/campaigns")).StatusCode);
        Assert.Equal("[]", await (await _client.GetAsync("/campaigns")).Content.ReadAsStringAsync()); // nothing half-created
    }

    [Fact]
    public async Task Upload_reports_each_broken_row_and_keeps_the_good_ones_masked()
    {
        Assert.Equal(HttpStatusCode.Created, (await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"renewals\"}"))).StatusCode);
        var csv = "phone,region,timezone,id_number\n+8613800138000,CN,Asia/Shanghai,110101199003071234\nnot-a-phone,CN,Asia/Shanghai,\n+8613800138001,CN,Europe/Atlantis,\n";
        var r = await _client.PostAsync("/campaigns/renewals/leads", new StringContent(csv, Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var report = await r.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1, report.GetProperty("accepted").GetInt32());
        Assert.Equal(2, report.GetProperty("rejected").GetInt32());
        Assert.Equal([(3, "phone"), (4, "timezone")], report.GetProperty("errors").EnumerateArray().Select(e => (e.GetProperty("row").GetInt32(), e.GetProperty("field").GetString()!)));

        var leads = await (await _client.GetAsync("/campaigns/renewals/leads")).Content.ReadFromJsonAsync<JsonElement>();
        var lead = leads.EnumerateArray().Single();
        Assert.Equal("**********8000", lead.GetProperty("phone").GetString());
        Assert.Equal("**************1234", lead.GetProperty("id_number").GetString());
    }

    /// <summary>The "why (not) called" answer and the one-customer view over HTTP, as the CLI gives them, numbers masked.</summary>
    [Fact]
    public async Task The_api_answers_why_a_lead_was_not_called_and_shows_its_customer_masked()
    {
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"renewals\", \"settings\": {\"compliance_profile\": \"cn-auto-renewal\", \"time_zone\": \"Asia/Shanghai\"}}"));
        var csv = "phone,region,timezone,customer_id,policy_expiry,id_number\n+8613800138000,CN-BJ,Asia/Shanghai,C77,2027-06-30,110101199003071234\n";
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync("/campaigns/renewals/leads", new StringContent(csv, Encoding.UTF8, "text/csv"))).StatusCode);
        var id = (await (await _client.GetAsync("/campaigns/renewals/leads")).Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Single().GetProperty("id").GetInt64();

        var why = await (await _client.GetAsync($"/leads/{id}/why?at=2027-01-04T12:00:00%2B08:00")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((false, "cn-auto-renewal/v4/earliest_before_expiry", "cn-auto-renewal v4"),
            (why.GetProperty("allowed").GetBoolean(), why.GetProperty("rule").GetString(), why.GetProperty("profile").GetString()));
        Assert.Equal(new DateTime(2027, 5, 21, 1, 0, 0, DateTimeKind.Utc), why.GetProperty("held_until_utc").GetDateTime().ToUniversalTime());
        var bad = await Problem(await _client.GetAsync($"/leads/{id}/why?at=yesterday"), HttpStatusCode.BadRequest);
        Assert.True(bad.GetProperty("errors").TryGetProperty("at", out _));
        await Problem(await _client.GetAsync("/leads/999/why"), HttpStatusCode.NotFound);

        foreach (var path in new[] { $"/leads/{id}/customer", "/customers/C77" })
        {
            var text = await (await _client.GetAsync(path)).Content.ReadAsStringAsync();
            Assert.Contains("\"external_id\":\"C77\"", text);
            Assert.Contains("**********8000", text);
            Assert.Contains("1234", text);
            Assert.DoesNotContain("13800138000", text);
            Assert.DoesNotContain("11010119900307", text);
        }
        await Problem(await _client.GetAsync("/customers/C78"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_oversized_upload_is_a_413_and_the_rows_read_before_the_limit_are_kept()
    {
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"big\"}"));
        var csv = new StringBuilder("phone,region,timezone\n");
        for (var i = 0; i < 5000; i++) csv.Append("+86138").Append(i.ToString("D8")).Append(",CN,Asia/Shanghai\n"); // ~150 KB > 64 KB
        // Streamed without a length, so the limit is met mid-body rather than refused up front.
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())));
        content.Headers.ContentType = new("text/csv");
        var request = new HttpRequestMessage(HttpMethod.Post, "/campaigns/big/leads") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        var p = await Problem(await _client.SendAsync(request), HttpStatusCode.RequestEntityTooLarge);
        var kept = p.GetProperty("report").GetProperty("accepted").GetInt32();
        Assert.InRange(kept, 1000, 4999);
        var last = p.GetProperty("report").GetProperty("last_row").GetInt32();
        Assert.Equal(last - 1, kept); // says exactly which rows it kept
        Assert.Contains($"rows 2–{last}", p.GetProperty("detail").GetString());
        var stats = await (await _client.GetAsync("/campaigns/big/stats")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(kept, stats.GetProperty("store").GetProperty("leads").GetInt32());

        var declared = new StringContent(csv.ToString(), Encoding.UTF8, "text/csv");
        await Problem(await _client.PostAsync("/campaigns/big/leads", declared), HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Dnc_entries_are_validated_and_removable()
    {
        var p = await Problem(await _client.PostAsync("/dnc", JsonBody("{\"phone\": \"12\", \"region\": \"CN\"}")), HttpStatusCode.BadRequest);
        Assert.True(p.GetProperty("errors").TryGetProperty("phone", out _));
        Assert.Equal(HttpStatusCode.OK, (await _client.PostAsync("/dnc", JsonBody("{\"phone\": \"138 0013 8000\", \"region\": \"CN\", \"days\": 200}"))).StatusCode);
        var remove = "{\"phone\": \"+8613800138000\", \"region\": \"CN\"}";
        Assert.Equal(HttpStatusCode.NoContent, (await _client.PostAsync("/dnc/remove", JsonBody(remove))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _client.PostAsync("/dnc/remove", JsonBody(remove))).StatusCode);
    }

    [Fact]
    public async Task Agent_commands_without_an_engine_on_this_node_are_a_409()
    {
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"c\"}"));
        await Problem(await _client.PostAsync("/campaigns/c/agents/a1/login", null), HttpStatusCode.Conflict);
        var p = await Problem(await _client.PostAsync("/campaigns/c/agents/a1/pause", JsonBody("{\"reason\": 5}")), HttpStatusCode.BadRequest);
        Assert.True(p.GetProperty("errors").TryGetProperty("reason", out _));
    }

    [Fact]
    public async Task Agent_state_changes_reach_the_campaign_engine_and_skills_are_stored()
    {
        var put = await _client.PutAsync("/agents/a1", JsonBody("{\"name\": \"Ann\", \"skills\": {\"lang:cantonese\": 3}}"));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Contains("\"lang:cantonese\":3", await (await _client.GetAsync("/agents")).Content.ReadAsStringAsync());
        var bad = await Problem(await _client.PutAsync("/agents/a2", JsonBody("{\"skills\": {\"x\": 300}}")), HttpStatusCode.BadRequest);
        Assert.True(bad.GetProperty("errors").TryGetProperty("skills.x", out _));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var (host, loop) = await RunEngine("c", cts.Token);

        Assert.Equal(HttpStatusCode.Accepted, (await _client.PostAsync("/campaigns/c/agents/a1/login", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await _client.PostAsync("/campaigns/c/agents/a1/pause", JsonBody("{\"reason\": \"lunch\"}"))).StatusCode);
        Assert.Equal((AgentState.Paused, "lunch"), await host.QueryAsync(e => (e.State.Agents[0].State, e.State.Agents[0].PauseReason)));
        await Problem(await _client.PostAsync("/campaigns/c/agents/nobody/ready", null), HttpStatusCode.NotFound);
        var stats = await (await _client.GetAsync("/campaigns/c/stats")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(1, stats.GetProperty("live").GetProperty("agents_paused").GetInt32());
        await cts.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10)); // cancelled, the loop returns (not an error)
        Assert.Equal(EngineStatus.Stopped, host.Status);
        var stopped = await (await _client.GetAsync("/campaigns/c/stats")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("stopped", stopped.GetProperty("live").GetProperty("engine").GetString()); // never a query left waiting
    }

    /// <summary>Campaign <paramref name="name"/> created, and its engine (agent a1, trunk "t", no leads) attached to the API and running until <paramref name="ct"/>.</summary>
    private async Task<(EngineHost Host, Task Loop)> RunEngine(string name, CancellationToken ct)
    {
        await _client.PostAsync("/campaigns", JsonBody($"{{\"name\": \"{name}\"}}"), ct);
        var settings = new CampaignSettings();
        var config = settings.ToConfig(name);
        var now = DateTime.UtcNow;
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = config,
            Agents = [new Agent { Index = 0, Id = "a1", Skills = SkillSet.From(new SkillCatalog(), []) }],
            Trunks = [new TrunkConfig { Name = "t", Channels = 1, CallsPerSecond = 1, RatePerMinute = new Dictionary<string, double> { ["+"] = 0.01 } }],
            Pacer = settings.CreatePacer(1),
            Control = new NoCalls(),
            Leads = new MemoryHopper(config, [], now),
            Predictor = new NoPrediction(),
        }, now);
        var host = new EngineHost(engine, TimeProvider.System);
        _app.Services.GetRequiredService<EngineRegistry>().Attach(name, host);
        return (host, host.RunAsync(ct));
    }

    private sealed class NoCalls : ICallControl
    {
        public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout) => throw new InvalidOperationException("no leads, no calls");
        public void Connect(Call call, Agent agent) { }
        public void SafeHarbor(Call call) { }
        public void Hangup(Call call) { }
        public void RunScript(Call call, Dialer.Core.Modes.ScriptRun run) => throw new InvalidOperationException("no leads, no scripts");
    }

    [Fact]
    public async Task The_event_stream_carries_campaign_changes()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await _client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var first = await reader.ReadLineAsync(cts.Token);
        Assert.Equal("event: hello", first);
        await _client.PostAsync("/campaigns", JsonBody("{\"name\": \"live\"}"), cts.Token);
        await _client.PostAsync("/campaigns/live/start", null, cts.Token);
        var lines = new List<string>();
        while (lines.Count(l => l.StartsWith("data: {\"campaign\"")) < 2) lines.Add((await reader.ReadLineAsync(cts.Token))!);
        Assert.Contains("data: {\"campaign\":\"live\",\"status\":\"running\"}", lines);

        // An engine's attempt log feeds `call` events.
        await _client.PostAsync("/campaigns/live/leads", new StringContent("phone,region,timezone\n+8613800138000,CN,Asia/Shanghai\n", Encoding.UTF8, "text/csv"), cts.Token);
        var log = new DbAttemptLog(_app.Services.GetRequiredService<StoreDb>(), 1, "node-1");
        _app.Services.GetRequiredService<EventHub>().Follow("live", log);
        var lead = new Lead { Id = 1, Phone = "+8613800138000", Region = "CN", TimeZone = TimeZoneInfo.Utc, Attempts = 1 };
        log.Placed(new Call { Id = 7, Lead = lead, Attempt = 1, Trunk = 0, TrunkName = "carrier-a", PlacedAt = DateTime.UtcNow, PLive = 0.5f });
        string? line;
        do line = await reader.ReadLineAsync(cts.Token); while (line is not null && !line.StartsWith("data: {\"campaign\":\"live\",\"call_id\""));
        Assert.Contains("\"channel_id\":\"dialer-local-default-call-7-\"", line);
        Assert.Contains("\"phase\":\"placed\"", line);
        Assert.Contains("\"trunk\":\"carrier-a\"", line); // by name, not index
    }

    [Fact]
    public async Task The_openapi_document_lists_every_route()
    {
        var doc = await (await _app.GetTestClient().GetAsync("/openapi.json")).Content.ReadFromJsonAsync<JsonElement>();
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/campaigns/{name}/leads", paths);
        Assert.Contains("/events", paths);
        // Every route the app maps is documented (route constraints such as {id:long} are the document's {id}), and nothing else.
        var routes = _app.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints
            .OfType<Microsoft.AspNetCore.Routing.RouteEndpoint>()
            .Select(e => "/" + System.Text.RegularExpressions.Regex.Replace(e.RoutePattern.RawText!.TrimStart('/'), @"\{(\w+):\w+\}", "{$1}"))
            .ToHashSet();
        Assert.Empty(routes.Except(paths));
        Assert.Empty(paths.Except(routes));
    }
}

/// <summary>Every call is a coin flip: these tests are about storage, not answer rates.</summary>
internal sealed class NoPrediction : IAnswerPredictor
{
    public float PredictLive(Lead lead, DateTime utcNow) => 0.5f;
    public void Observe(Lead lead, DateTime placedUtc, bool live) { }
}
