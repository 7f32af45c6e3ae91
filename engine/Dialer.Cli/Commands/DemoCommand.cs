using System.CommandLine;
using Dialer.Core.Domain;
using Dialer.Sim;
using Spectre.Console;

namespace Dialer.Cli.Commands;

/// <summary>The README's first command: a campaign in the simulator with a live table, then the summary.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var scenario = new Option<string>("--scenario") { Description = "Scenario to run", DefaultValueFactory = _ => "medium-team" };
        var pacer = new Option<string>("--pacer") { Description = "Pacer to run", DefaultValueFactory = _ => "predictive" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1 };
        var delay = new Option<int>("--frame-ms") { Description = "Real milliseconds per simulated 5 minutes (0: as fast as possible)", DefaultValueFactory = _ => 60 };
        var cmd = new Command("demo", "Run a simulated campaign with live figures, then print the summary") { scenario, pacer, seed, delay };
        cmd.SetAction(parse =>
        {
            var s = ScenarioFiles.Load(parse.GetValue(scenario)!);
            var frame = parse.GetValue(delay);
            if (AnsiConsole.Profile.Width < 110) AnsiConsole.Profile.Width = 110; // redirected output reports 80 columns and would wrap
            var table = new Table().Border(TableBorder.Rounded).AddColumns("time", "dial level", "in flight", "ready", "talking", "wrap-up", "paused", "placed", "live", "abandon rate");
            SimReport? report = null;
            AnsiConsole.MarkupLine($"[bold]dialer demo[/]: scenario [green]{s.Name}[/] ({Markup.Escape(s.Description)}), pacer [green]{parse.GetValue(pacer)}[/]");
            AnsiConsole.Live(table).Start(ctx =>
            {
                var minute = 0;
                report = Simulation.Run(s, parse.GetValue(pacer)!, parse.GetValue(seed), new Simulation.Options
                {
                    EveryMinute = w =>
                    {
                        if (minute++ % 5 != 0) return;
                        AddRow(table, w, s);
                        ctx.Refresh();
                        if (frame > 0) Thread.Sleep(frame);
                    },
                });
            });
            Console.WriteLine();
            Console.WriteLine(Tables.Single(report!));
            return 0;
        });
        return cmd;
    }

    private static void AddRow(Table table, SimWorld w, Scenario s)
    {
        var st = w.Engine.State;
        var stats = w.Engine.Stats;
        var busy = st.Count(AgentState.Ready) + st.Count(AgentState.Talking);
        var local = TimeZoneInfo.ConvertTimeFromUtc(w.Now, s.Campaign.TimeZone);
        var rate = stats.LiveAnswers == 0 ? 0 : (double)stats.Abandoned / stats.LiveAnswers;
        if (table.Rows.Count >= 12) table.Rows.RemoveAt(0);
        table.AddRow($"{local:HH:mm}", busy == 0 ? "-" : $"{(double)st.InFlight / busy:0.00}", $"{st.InFlight}",
            $"{st.Count(AgentState.Ready)}", $"{st.Count(AgentState.Talking)}", $"{st.Count(AgentState.WrapUp)}", $"{st.Count(AgentState.Paused)}",
            $"{stats.CallsPlaced}", $"{stats.LiveAnswers}", rate > s.Campaign.AbandonCap ? $"[red]{rate:P2}[/]" : $"{rate:P2}");
    }
}
