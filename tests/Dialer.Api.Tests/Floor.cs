using System.Net;
using System.Net.Http.Json;
using System.Text;
using Dialer.Emulator;
using Dialer.Runtime;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Api.Tests;

/// <summary>
/// A call floor for tests: `dialer serve` on 127.0.0.1 (a real Kestrel port, so a browser can open it) launching engines
/// on an emulated Asterisk, with campaign "renewals" created and its leads loaded, not started.
/// </summary>
internal sealed class Floor : IAsyncDisposable
{
    public const string Key = "dashboard-test-key-0123456789";
    public const string PiiKey = "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5YWJjZGVmMDE=";
    public required AriEmulator Emulator { get; init; }
    public required WebApplication App { get; init; }
    public required Uri BaseUri { get; init; }
    public required HttpClient Http { get; init; }
    public required string Dir { get; init; }
    public string Db => $"sqlite:{Path.Combine(Dir, "floor.db")}";

    /// <param name="leads">How many leads "renewals" gets (distinct South African mobiles).</param>
    /// <param name="settings">Campaign settings beyond the test defaults (open all day, UTC).</param>
    public static async Task<Floor> StartAsync(int agents, int leads, EmulatorScenario scenario, object? settings = null, IReadOnlyList<WebhookTarget>? webhooks = null,
        int channels = 60, int callsPerSecond = 50)
    {
        var emulator = await AriEmulator.StartAsync(scenario);
        var dir = Directory.CreateTempSubdirectory("dialer-floor-").FullName;
        var agentLines = string.Join("\n", Enumerable.Range(1, agents).Select(i => $"  - {{id: agent{i}}}"));
        var runFile = Path.Combine(dir, "run.yaml");
        File.WriteAllText(runFile, $$"""
            timezone: UTC
            trunks:
              - {name: carrier-a, channels: {{channels}}, calls_per_second: {{callsPerSecond}}, rates: {"+": 0.01}, endpoint: "PJSIP/{number}@carrier-a"}
            agents:
            {{agentLines}}
            ari:
              servers: [{id: pbx1, url: "{{emulator.BaseUri}}", user: dialer, password: dialer}]
              auto_ready_seconds: 0.05
            """);
        var run = RunConfig.Load(runFile);
        var pii = Pii.FromConfig(PiiKey);
        var db = $"sqlite:{Path.Combine(dir, "floor.db")}";
        using (var store = StoreDb.Open(db)) Migrator.Migrate(store);
        var options = new ApiOptions { Db = db, ApiKeys = [Key], Pii = pii, Webhooks = webhooks ?? [] };
        var app = DialerApi.Build(options, b => b.WebHost.UseUrls("http://127.0.0.1:0"),
            store => new AriEngineLauncher(run.Telephony, store, pii, "floor-node", _ => { }) { ConnectTimeout = TimeSpan.FromSeconds(10) });
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var http = new HttpClient { BaseAddress = address };
        http.DefaultRequestHeaders.Add(DialerApi.KeyHeader, Key);
        var floor = new Floor { Emulator = emulator, App = app, BaseUri = address, Http = http, Dir = dir };
        var body = new Dictionary<string, object>
        {
            ["time_zone"] = "UTC", ["window_start"] = "00:00", ["window_end"] = "23:59", ["pacer"] = "progressive",
            ["retry_delay_seconds"] = new Dictionary<string, double>(),
        };
        if (settings is not null)
            foreach (var p in System.Text.Json.JsonSerializer.SerializeToElement(settings).EnumerateObject()) body[p.Name] = p.Value;
        var created = await http.PostAsJsonAsync("/campaigns", new { name = "renewals", settings = body });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var csv = new StringBuilder("phone,region,timezone\n");
        for (var i = 0; i < leads; i++) csv.Append($"+2782{1230000 + i},ZA,UTC\n");
        var upload = await http.PostAsync("/campaigns/renewals/leads", new StringContent(csv.ToString(), Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        return floor;
    }

    /// <summary>Polls <paramref name="done"/> every 50 ms until it holds; fails naming <paramref name="what"/>.</summary>
    public static async Task Until(Func<Task<bool>> done, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (!await done())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"timed out waiting for: {what}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        await Emulator.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
