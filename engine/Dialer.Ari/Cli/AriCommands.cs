using System.CommandLine;
using Dialer.Ari.Emulator;

namespace Dialer.Ari.Cli;

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
        var config = new Option<FileInfo>("--config") { Description = "Run config: campaign, pacer, trunks, agents, leads CSV and the ari: servers (see asterisk-conf/README.md)", Required = true };
        var status = new Option<double>("--status-seconds") { Description = "Seconds between live status lines", DefaultValueFactory = _ => 1 };
        var cmd = new Command("run", "The engine in real time against one or more Asterisk ARI servers, with live status; Ctrl+C hangs up and stops") { config, status };
        cmd.SetAction(async (parse, ct) =>
        {
            var run = RunConfig.Load(parse.GetValue(config)!.FullName);
            await AriRunner.RunAsync(run, Console.Out, TimeSpan.FromSeconds(Math.Max(0.1, parse.GetValue(status))), ct);
            return 0;
        });
        return cmd;
    }

    private static Command Emulator()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen (loopback only by default)", DefaultValueFactory = _ => "http://127.0.0.1:8088" };
        var scenario = new Option<FileInfo?>("--scenario") { Description = "YAML emulator scenario (callee mix, faults); default: the lab's number-prefix callees" };
        var cmd = new Command("ari-emulator", "An ARI-speaking stand-in for Asterisk (REST + events WebSocket), for tests and load runs") { urls, scenario };
        cmd.SetAction(async (parse, ct) =>
        {
            var file = parse.GetValue(scenario);
            EmulatorScenario s;
            try
            {
                s = file is null ? new EmulatorScenario() : EmulatorScenario.Load(file.FullName);
            }
            catch (Exception e) when (e is ArgumentException or IOException or YamlDotNet.Core.YamlException)
            {
                await Console.Error.WriteLineAsync($"ari-emulator: {e.Message}");
                return 2;
            }
            await using var emu = await AriEmulator.StartAsync(s, parse.GetValue(urls)!);
            Console.WriteLine($"ARI emulator on {emu.BaseUri} (user '{s.User}', app from the events URL); trunks {string.Join(", ", s.Trunks)}; " +
                              $"phones '{s.PhonePrefix}*'; {(s.Mix is null ? "lab number-prefix callees" : "callee mix")}; Ctrl+C stops");
            try
            {
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
                while (await timer.WaitForNextTickAsync(ct))
                    Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} channels created {emu.ChannelsCreated} up now {emu.ActiveChannels} " +
                                      $"REST requests {emu.RestRequests} events {emu.EventsEmitted} event sockets {emu.ConnectedSockets}");
            }
            catch (OperationCanceledException) { }
            return 0;
        });
        return cmd;
    }
}
