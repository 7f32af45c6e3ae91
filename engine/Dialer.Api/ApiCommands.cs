using System.CommandLine;
using Dialer.Core.Hosting;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;

namespace Dialer.Api;

/// <summary>`dialer serve`, for the CLI to add to its root command.</summary>
public static class ApiCommands
{
    /// <param name="engines">
    /// Given the --run-config file, the serve options and the store: the launcher that starts campaigns' engines (the CLI
    /// passes the ARI one). Without it, start/pause/stop only set the campaign's status.
    /// </param>
    public static IEnumerable<Command> Create(Func<string, ApiOptions, StoreDb, IEngineLauncher>? engines = null)
    {
        var config = new Option<FileInfo?>("--config") { Description = "JSON settings: db, api_keys, metrics_key, pii_key, max_upload_bytes (DIALER_DB, DIALER_API_KEYS, DIALER_METRICS_KEY, DIALER_PII_KEY override)" };
        var urls = new Option<string>("--urls") { Description = "where to listen", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var runConfig = new Option<FileInfo?>("--run-config") { Description = "Run engines here: POST /campaigns/{name}/start dials with this file's trunks, agents and ari: servers (see `dialer run`)" };
        var logRequests = new Option<bool>("--log-requests") { Description = "Log every HTTP request (off by default: it costs disk and speed)" };
        var serve = new Command("serve", "REST API and Server-Sent Events stream (API key in the X-Api-Key header)") { config, urls, logRequests };
        if (engines is not null) serve.Options.Add(runConfig);
        serve.SetAction(parse =>
        {
            // Failures (bad settings, the database, a port in use) reach the CLI's one handler, which picks the exit code.
            var file = parse.GetValue(config);
            if (file is { Exists: false }) throw new ArgumentException($"--config: '{file.FullName}' does not exist");
            var builder = new ConfigurationBuilder();
            if (file is not null) builder.AddJsonFile(file.FullName, optional: false);
            var options = ApiOptions.From(builder.Build(), parse.GetValue(logRequests));
            using (var db = StoreDb.Open(options.Db))
                foreach (var m in Migrator.Migrate(db)) Console.WriteLine($"applied {m.Name}");
            var run = parse.GetValue(runConfig);
            if (run is { Exists: false }) throw new ArgumentException($"--run-config: '{run.FullName}' does not exist");
            var app = DialerApi.Build(options, b => b.WebHost.UseUrls(parse.GetValue(urls)!),
                run is null || engines is null ? null : db => engines(run.FullName, options, db));
            app.Run();
            return ExitCodes.Ok;
        });
        return [serve];
    }
}
