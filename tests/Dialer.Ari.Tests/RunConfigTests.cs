using Dialer.Ari.Cli;
using Dialer.Ari.Emulator;
using Dialer.Sim.Config;

namespace Dialer.Ari.Tests;

public class RunConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-run-").FullName;

    private string Write(string yaml, string leads = "phone,region,timezone,priority,tags\n+2001,lab,UTC,1,vip;renewal\n+4861,lab,UTC,,\n")
    {
        File.WriteAllText(Path.Combine(_dir, "leads.csv"), leads);
        var file = Path.Combine(_dir, "run.yaml");
        File.WriteAllText(file, yaml);
        return file;
    }

    private static string Yaml(Uri ari, string extra = "") => $$"""
        name: lab
        timezone: UTC
        pacer: progressive
        campaign: {window: {start: "00:00", end: "24:00"}, retry_seconds: {busy: 3600} }
        trunks:
          - {name: carrier-a, channels: 10, calls_per_second: 5, rates: {"+": 0.01}, endpoint: "PJSIP/{number}@carrier-a"}
        agents:
          - {id: agent1}
        leads: leads.csv
        ari:
          servers: [{id: pbx1, url: "{{ari}}", user: dialer, password: dialer}]
          auto_ready_seconds: 0.05
        {{extra}}
        """;

    [Fact]
    public async Task Run_places_the_leads_through_the_emulator_and_prints_live_status()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.05 });
        var config = RunConfig.Load(Write(Yaml(emu.BaseUri)));
        Assert.Equal(["vip", "renewal"], config.Engine.Leads.Next(DateTime.UtcNow)!.Tags);
        config = RunConfig.Load(Write(Yaml(emu.BaseUri)));
        var log = new StringWriter();
        var output = TextWriter.Synchronized(log);
        string Text() { lock (output) return log.ToString(); } // the synchronized writer locks on itself
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var run = AriRunner.RunAsync(config, output, TimeSpan.FromMilliseconds(100), cts.Token);
        // Both leads: the human is bridged to the agent and hangs up, the busy number is not retried within the run.
        await Rig.Until(() => Text().Contains("placed 2 live 1"), TimeSpan.FromSeconds(10), "both leads placed, one live");
        await cts.CancelAsync();
        await run;
        var text = Text();
        Assert.Contains("dial level", text);
        Assert.True(text.Split('\n').Last(l => l.Contains("placed")).Contains("placed 2 live 1"), text);
        Assert.Equal(0, emu.ActiveChannels); // the agent's phone was hung up at stop
    }

    [Theory]
    [InlineData("  no_such_setting: 1", "ari.no_such_setting: unknown key")]
    [InlineData("  amd: maybe", "ari.amd: expected true or false")]
    public void Config_errors_name_the_key(string extra, string message)
    {
        var e = Assert.Throws<ConfigException>(() => RunConfig.Load(Write(Yaml(new Uri("http://127.0.0.1:1/ari/"), extra))));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Lead_rows_are_validated_with_row_and_field()
    {
        var e = Assert.Throws<ConfigException>(() => RunConfig.Load(Write(Yaml(new Uri("http://127.0.0.1:1/ari/")), "phone,region,timezone\n+2001,lab,Mars/Olympus\n")));
        Assert.Contains("leads.csv:2: timezone: 'Mars/Olympus'", e.Message);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
