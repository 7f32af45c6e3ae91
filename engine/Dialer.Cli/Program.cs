using System.CommandLine;
using Dialer.Cli.Commands;
using Dialer.Sim.Config;

var root = new RootCommand("dialer — a predictive dialer engine on Asterisk ARI, with a simulator for capacity planning");
root.Subcommands.Add(SimulateCommand.Create());
root.Subcommands.Add(DemoCommand.Create());

try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ConfigException or ArgumentException or FileNotFoundException or InvalidDataException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
