using System.CommandLine;
using Dialer.Api;
using Dialer.Ari.Cli;
using Dialer.Cli.Commands;
using Dialer.Models.Interop;
using Dialer.Models.Training;
using Dialer.Sim.Config;
using Dialer.Store;

var root = new RootCommand("dialer — a predictive dialer engine on Asterisk ARI, with a simulator for capacity planning");
root.Subcommands.Add(SimulateCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(ModelCommand.Create());
foreach (var c in StoreCommands.Create().Concat(ApiCommands.Create()).Concat(AriCommands.Create())) root.Subcommands.Add(c);

try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ConfigException or ArgumentException or FileNotFoundException or DirectoryNotFoundException
                           or InvalidDataException or InsufficientHistoryException or ModelParityException or XGBoostException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
