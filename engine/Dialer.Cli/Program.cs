using System.CommandLine;
using Dialer.Api;
using Dialer.Runtime;
using Dialer.Cli.Commands;
using Dialer.Cli;
using Dialer.Store;

Interrupts.Take(); // before the console is touched: the runtime then installs its SIGINT handler
var root = new RootCommand("dialer — a predictive dialer engine on Asterisk ARI, with a simulator for capacity planning");
root.Subcommands.Add(SimulateCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(ModelCommand.Create());
root.Subcommands.Add(ReportCommands.Create());
// serve --run-config starts campaigns' engines on Asterisk: telephony from the run config, store and PII key from serve's own settings.
var serve = ApiCommands.Create((file, options, db) =>
{
    var run = RunConfig.Load(file);
    return new AriEngineLauncher(run.Telephony, db, options.Pii, run.Node, Console.WriteLine);
});
foreach (var c in StoreCommands.Create().Concat(serve).Concat(AriCommands.Create())) root.Subcommands.Add(c);

try
{
    // SIGTERM / Ctrl+C cancel the command's token; a stop hangs up and closes every attempt, so it gets its time before the process is ended.
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration
    {
        EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = CampaignEngine.StopTimeout + TimeSpan.FromSeconds(5) + DrainTime(args),
    });
}
catch (Exception e)
{
    return Failures.Report(e);
}

// `run --drain-seconds N` lets calls finish for N s at stop: the process waits for that too (a bad value fails in the command).
static TimeSpan DrainTime(string[] args)
{
    var i = Array.IndexOf(args, "--drain-seconds");
    return i >= 0 && i + 1 < args.Length && double.TryParse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture, out var s) && s is > 0 and <= 86_400
        ? TimeSpan.FromSeconds(s) : TimeSpan.Zero;
}
