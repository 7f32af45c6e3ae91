using System.Net;
using System.Net.Http.Json;
using System.Text;
using Dialer.Api;
using Dialer.Runtime;
using Dialer.Emulator;
using Dialer.Store;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;

namespace Dialer.Ari.Tests;

/// <summary>`dialer serve --run-config`: the API starts a campaign's engine on the emulated Asterisk, streams its calls, pauses and stops it (its /metrics in ServeTests.Metrics.cs).</summary>
public partial class ServeTests : IDisposable
{
    private const string Key = "serve-test-key-0123456789";
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-serve-").FullName;

    [Fact]
    public async Task Starting_a_campaign_through_the_api_runs_its_engine_and_stopping_it_hangs_up()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        await using var app = await StartApi(emu.BaseUri, TimeSpan.FromSeconds(10));
        using var http = await CreateRenewals(app);
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync("/campaigns/renewals/agents/agent1/ready", null)).StatusCode); // no engine yet

        // The event stream, read in the background.
        var events = new StringBuilder();
        using var sse = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/events"), HttpCompletionOption.ResponseHeadersRead);
        _ = Task.Run(async () =>
        {
            using var lines = new StreamReader(await sse.Content.ReadAsStreamAsync());
            while (await lines.ReadLineAsync() is { } line) lock (events) events.AppendLine(line);
        });
        string Events() { lock (events) return events.ToString(); }
        await Rig.Until(() => Events().Contains("event: hello"), TimeSpan.FromSeconds(3), "event stream open");

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/start", null)).StatusCode);
        await Rig.Until(() => Count(Events(), "\"phase\":\"ended\"") == 2, TimeSpan.FromSeconds(10), "both leads called and over, on the stream");
        Assert.Equal(2, Count(Events(), "\"phase\":\"placed\""));
        Assert.Contains("\"outcome\":\"human\"", Events());
        Assert.Contains("\"outcome\":\"busy\"", Events());
        Assert.Contains("\"agent\":\"agent1\"", Events());

        // The engine is attached: agent endpoints reach it, stats read it.
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsJsonAsync("/campaigns/renewals/agents/agent1/pause", new { reason = "lunch" })).StatusCode);
        await Rig.Until(() => http.GetStringAsync("/campaigns/renewals/stats").Result.Contains("\"agents_paused\":1"), TimeSpan.FromSeconds(3), "agent paused in the engine");
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/pause", null)).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await http.PostAsync("/campaigns/renewals/agents/agent1/ready", null)).StatusCode); // paused campaign: engine stays

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
        Assert.Equal(0, emu.ActiveChannels); // the agent's line was hung up before stop answered
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync("/campaigns/renewals/agents/agent1/ready", null)).StatusCode);
        Assert.Contains("\"status\":\"stopped\"", await http.GetStringAsync("/campaigns/renewals"));
        Assert.Equal(3, emu.ChannelsCreated); // two calls and the agent's phone: nothing dialed twice
        sse.Dispose(); // the client leaves the stream
        await app.StopAsync();
    }

    [Fact]
    public async Task A_campaign_whose_asterisk_cannot_be_reached_does_not_start_and_says_why()
    {
        await using var app = await StartApi(new Uri("http://127.0.0.1:9/ari/"), TimeSpan.FromMilliseconds(300)); // nothing listens there
        using var http = app.GetTestClient();
        http.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);
        await http.PostAsJsonAsync("/campaigns", new { name = "renewals" });
        var start = await http.PostAsync("/campaigns/renewals/start", null);
        Assert.Equal(HttpStatusCode.BadGateway, start.StatusCode);
        Assert.Contains("pbx1", await start.Content.ReadAsStringAsync());
        Assert.Contains("\"status\":\"stopped\"", await http.GetStringAsync("/campaigns/renewals"));
        await app.StopAsync();
    }

    /// <summary>Serve takes the campaign's ownership lease as `dialer run` does: a second node cannot start it until the first stops it.</summary>
    [Fact]
    public async Task A_campaign_another_serve_node_paces_does_not_start_there_until_this_node_stops_it()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        await using var a = await StartApi(emu.BaseUri, TimeSpan.FromSeconds(10), "serve-a");
        using var http = await CreateRenewals(a);
        await using var b = await StartApi(emu.BaseUri, TimeSpan.FromSeconds(10), "serve-b");
        using var other = b.GetTestClient();
        other.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/start", null)).StatusCode);
        var refused = await other.PostAsync("/campaigns/renewals/start", null);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("paced by node serve-a", await refused.Content.ReadAsStringAsync());
        Assert.Contains("\"status\":\"running\"", await http.GetStringAsync("/campaigns/renewals")); // the refusal stopped nothing

        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("/campaigns/renewals/start", null)).StatusCode); // handed back at stop: taken at once
        Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync("/campaigns/renewals/start", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
        await b.StopAsync();
        await a.StopAsync();
    }

    /// <summary>A client with the key, and campaign "renewals" created with the two leads (one answers, one is busy), not started.</summary>
    private static async Task<HttpClient> CreateRenewals(Microsoft.AspNetCore.Builder.WebApplication app)
    {
        var http = app.GetTestClient();
        http.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);
        var created = await http.PostAsJsonAsync("/campaigns", new
        {
            name = "renewals",
            settings = new { time_zone = "UTC", window_start = "00:00", window_end = "23:59", pacer = "progressive", retry_delay_seconds = new Dictionary<string, double> { ["busy"] = 3600 } },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var upload = await http.PostAsync("/campaigns/renewals/leads", new StringContent(RunConfigTests.Leads, Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        return http;
    }

    /// <summary>The API in memory, launching engines with a run config's telephony (one agent, one trunk, ARI at <paramref name="ari"/>).</summary>
    private async Task<Microsoft.AspNetCore.Builder.WebApplication> StartApi(Uri ari, TimeSpan connectTimeout, string node = "serve-node")
    {
        var runFile = Path.Combine(_dir, "run.yaml");
        File.WriteAllText(runFile, $$"""
            timezone: UTC
            trunks:
              - {name: carrier-a, channels: 10, calls_per_second: 5, rates: {"+": 0.01}, endpoint: "PJSIP/{number}@carrier-a"}
            agents:
              - {id: agent1}
            ari:
              servers: [{id: pbx1, url: "{{ari}}", user: dialer, password: dialer}]
              auto_ready_seconds: 0.05
            """);
        var run = RunConfig.Load(runFile);
        var pii = Pii.FromConfig(RunConfigTests.PiiKey);
        var db = $"sqlite:{Path.Combine(_dir, "serve.db")}";
        using (var store = StoreDb.Open(db)) Migrator.Migrate(store);
        var app = DialerApi.Build(new ApiOptions { Db = db, ApiKeys = [Key], Pii = pii }, b => b.WebHost.UseTestServer(),
            store => new AriEngineLauncher(run.Telephony, store, pii, node, _ => { }) { ConnectTimeout = connectTimeout });
        await app.StartAsync();
        return app;
    }

    private static int Count(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
