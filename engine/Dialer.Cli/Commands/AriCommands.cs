using System.CommandLine;
using Dialer.Core.Hosting;
using Dialer.Emulator;
using Dialer.Runtime;

namespace Dialer.Cli.Commands;

/// <summary>The ARI sub-commands of <c>dialer</c>; the CLI adds them with <c>root.Subcommands.Add(...)</c> for each.</summary>
public static class AriCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Emulator();
        yield return Run();
    }

    private static Command Run()
    {
        var config = new Option<FileInfo[]>("--config")
        {
            Description = "Run config: campaign, pacer, trunks, agents, leads CSV and the ari: servers (see asterisk-conf/README.md); " +
                          "give it once per campaign this node may pace (every node of a cluster can be given the same files)",
            Required = true, AllowMultipleArgumentsPerToken = false,
        };
        var status = new Option<double>("--status-seconds") { Description = "Seconds between live status lines", DefaultValueFactory = _ => 1 };
        var node = new Option<string?>("--node") { Description = "This engine node's name, unique in the cluster (default: the config's node:, else the host name)" };
        var lease = new Option<double>("--lease-seconds") { Description = "A campaign's ownership lease: a standby takes a dead node's campaigns within it", DefaultValueFactory = _ => 15 };
        var drain = new Option<double>("--drain-seconds") { Description = "At stop, let the calls up finish for this long before hanging up the rest (0: hang up at once)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("run", "An engine node in real time against one or more Asterisk ARI servers, with live status: it paces the campaigns whose " +
                                     "lease it holds and stands by for the others; Ctrl+C hangs up (or drains) and hands them over") { config, status, node, lease, drain };
        cmd.SetAction(async (parse, ct) =>
        {
            var name = parse.GetValue(node);
            var runs = parse.GetValue(config)!.Select(f => RunConfig.Load(f.FullName)).Select(r => name is null ? r : r with { Node = name }).ToList();
            var seconds = parse.GetValue(lease);
            if (seconds is < 1 or > 3600) throw new ArgumentException($"--lease-seconds: {seconds} is not between 1 and 3600");
            var drainSeconds = parse.GetValue(drain);
            if (drainSeconds is < 0 or > 86_400) throw new ArgumentException($"--drain-seconds: {drainSeconds} is not between 0 and 86400");
            var options = new NodeOptions { Lease = TimeSpan.FromSeconds(seconds), DrainTimeout = TimeSpan.FromSeconds(drainSeconds) };
            var status_ = await AriRunner.RunAsync(runs, options, Console.Out, TimeSpan.FromSeconds(Math.Max(0.1, parse.GetValue(status))), ct);
            return status_ == EngineStatus.Faulted ? ExitCodes.Faulted : ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Emulator()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen (loopback only by default); with --servers, server k listens on the port + k − 1", DefaultValueFactory = _ => "http://127.0.0.1:8088" };
        var scenario = new Option<FileInfo?>("--scenario") { Description = "YAML emulator scenario (callee mix, faults); default: the lab's number-prefix callees" };
        var servers = new Option<int>("--servers") { Description = "Linked Asterisk servers pbx1..pbxN (calls cross between them over the inter-server trunk named after each)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("ari-emulator", "An ARI-speaking stand-in for Asterisk (REST + events WebSocket), for tests and load runs") { urls, scenario, servers };
        cmd.SetAction(async (parse, ct) =>
        {
            var file = parse.GetValue(scenario);
            var count = parse.GetValue(servers);
            // Bad input reaches the CLI's one handler (exit code table in ExitCodes).
            if (count is < 1 or > 16) throw new ArgumentException($"--servers: {count} is not between 1 and 16");
            if (!Uri.TryCreate(parse.GetValue(urls), UriKind.Absolute, out var baseUrl)) throw new ArgumentException($"--urls: '{parse.GetValue(urls)}' is not an absolute URL");
            var s = file is null ? new EmulatorScenario() : EmulatorScenario.Load(file.FullName);
            var emulators = new List<AriEmulator>();
            try
            {
                for (var k = 0; k < count; k++)
                {
                    var url = new UriBuilder(baseUrl) { Port = baseUrl.Port + k }.Uri.ToString().TrimEnd('/');
                    // Each server its own Asterisk id, as real servers have: ARI keys carry it.
                    var own = k == 0 ? s : file is null ? new EmulatorScenario() : EmulatorScenario.Load(file.FullName);
                    if (count > 1) own.AsteriskId = $"02:fc:00:00:00:{k + 1:x2}";
                    emulators.Add(await AriEmulator.StartAsync(own, url));
                }
                for (var a = 0; a < count; a++)
                    for (var b = a + 1; b < count; b++)
                        AriEmulator.Link(emulators[a], $"pbx{a + 1}", emulators[b], $"pbx{b + 1}");
                for (var k = 0; k < count; k++)
                    Console.WriteLine($"ARI emulator {(count == 1 ? "" : $"pbx{k + 1} ")}on {emulators[k].BaseUri} (user '{s.User}', app from the events URL); trunks {string.Join(", ", s.Trunks)}; " +
                                      $"phones '{s.PhonePrefix}*'; {(s.Mix is null ? "lab number-prefix callees" : "callee mix")}");
                Console.WriteLine("Ctrl+C stops");
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
                while (await timer.WaitForNextTickAsync(ct))
                    foreach (var (emu, k) in emulators.Select((e, k) => (e, k)))
                        Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {(count == 1 ? "" : $"pbx{k + 1} ")}channels created {emu.ChannelsCreated} up now {emu.ActiveChannels} " +
                                          $"REST requests {emu.RestRequests} events {emu.EventsEmitted} event sockets {emu.ConnectedSockets}");
            }
            catch (OperationCanceledException) { }
            finally
            {
                foreach (var emu in emulators) await emu.DisposeAsync();
            }
            return 0;
        });
        return cmd;
    }
}
