using Dialer.Core.Text;
using System.CommandLine;
using Dialer.Core.Domain;
using Dialer.Core.Routing;
using Dialer.Sim;
using Dialer.Store;
using Spectre.Console;

namespace Dialer.Cli.Commands;

/// <summary>
/// The README's first command: a campaign on the embedded default — the simulator as the telephony
/// world, SQLite as the store (leads imported, hopper and attempt log on the database) — with a live table,
/// then the summary.
/// </summary>
internal static class DemoCommand
{
    private const string DefaultDb = "dialer-demo.db";
    // Demo data only (simulated numbers): a fixed key so the demo needs no setup; real runs set DIALER_PII_KEY.
    private const string DemoPiiKey = "ZGlhbGVyLWRlbW8tb25seS1ub3QtYS1yZWFsLWtleSE=";

    public static Command Create()
    {
        var scenario = new Option<string>("--scenario") { Description = "Scenario to run", DefaultValueFactory = _ => "medium-team" };
        var pacer = new Option<string>("--pacer") { Description = "Pacer to run", DefaultValueFactory = _ => "predictive" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 1 };
        var db = new Option<string>("--db") { Description = $"Store: sqlite:PATH or a PostgreSQL connection string (default: a fresh sqlite:{DefaultDb})" };
        var delay = new Option<int>("--frame-ms") { Description = "Real milliseconds per simulated 5 minutes (0: as fast as possible)", DefaultValueFactory = _ => 60 };
        var cmd = new Command("demo", "Run a simulated campaign on SQLite with live figures, then print the summary") { scenario, pacer, seed, db, delay };
        cmd.SetAction(parse =>
        {
            var s = ScenarioFiles.Load(parse.GetValue(scenario)!);
            var frame = parse.GetValue(delay);
            var connection = parse.GetValue(db);
            if (connection is null)
            {
                foreach (var f in new[] { DefaultDb, DefaultDb + "-wal", DefaultDb + "-shm" }) File.Delete(f);
                connection = "sqlite:" + DefaultDb;
            }
            using var store = StoreDb.Open(connection);
            Migrator.Migrate(store);
            var pii = Pii.FromConfig(Environment.GetEnvironmentVariable(Pii.EnvVar) ?? DemoPiiKey);
            var campaigns = new Campaigns(store);
            var now = DateTime.UtcNow;
            var campaign = campaigns.Create($"demo-{s.Name}-{now:yyyyMMddHHmmss}", s.Settings, now); // the scenario's campaign section, profile included: `leads why` judges by it
            campaigns.SetStatus(campaign.Id, CampaignStatus.Running, now);
            var log = new DbAttemptLog(store, campaign.Id, "demo");
            ImportReport? imported = null;

            if (AnsiConsole.Profile.Width < 110) AnsiConsole.Profile.Width = 110; // redirected output reports 80 columns and would wrap
            var table = new Table().Border(TableBorder.Rounded).AddColumns("time", "dial level", "in flight", "ready", "talking", "wrap-up", "paused", "placed", "live", "abandon rate");
            SimReport? report = null;
            AnsiConsole.MarkupLine($"[bold]dialer demo[/]: scenario [green]{s.Name}[/] ({Markup.Escape(s.Description)}), pacer [green]{parse.GetValue(pacer)}[/], store [green]{Markup.Escape(connection)}[/]");
            AnsiConsole.Live(table).Start(ctx =>
            {
                var minute = 0;
                report = Simulation.Run(s, parse.GetValue(pacer)!, parse.GetValue(seed), new Simulation.Options
                {
                    LeadSource = (_, bestTime) => new DbLeadSource(store, pii, campaign.Id, s.Campaign, "demo")
                    {
                        Routing = new RoutingRules(s.Campaign, s.Skills, new RequirementTable()),
                        BestTime = bestTime, // +best-time: retries at each lead's best open hour, as the in-memory hopper does
                    },
                    History = _ => log,
                    FirstCallId = log.ReserveCallIds(),
                    OnWorld = w => imported = new LeadImporter(store, pii).Import(campaign.Id, campaign.Name, CsvReader.Text(LeadFactory.ToCsv(w.Leads)), w.Start),
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
            var counts = campaigns.Counts(campaign.Id);
            Console.WriteLine($"  store                   {connection}: campaign '{campaign.Name}', leads imported {imported!.Accepted} " +
                              $"(merged {imported.Merged}, rejected {imported.Rejected}), attempts written {counts.Attempts}");
            var key = Environment.GetEnvironmentVariable(Pii.EnvVar) is null ? $"{Pii.EnvVar}={DemoPiiKey} " : "";
            Console.WriteLine($"  why a lead was (not) called, by the scenario's rules: {key}dialer leads why --db {connection} --lead ID [--at TIME]");
            return 0;
        });
        return cmd;
    }

    private static void AddRow(Table table, SimWorld w, Scenario s)
    {
        var st = w.Engine.State;
        var stats = w.Engine.Stats;
        var local = TimeZoneInfo.ConvertTimeFromUtc(w.Now, s.Campaign.TimeZone);
        var rate = stats.AbandonRate;
        if (table.Rows.Count >= 12) table.Rows.RemoveAt(0);
        table.AddRow($"{local:HH:mm}", $"{st.DialLevel:0.00}", $"{st.InFlight}",
            $"{st.Count(AgentState.Ready)}", $"{st.Count(AgentState.Talking)}", $"{st.Count(AgentState.WrapUp)}", $"{st.Count(AgentState.Paused)}",
            $"{stats.CallsPlaced}", $"{stats.LiveAnswers}", rate > s.Campaign.AbandonCap ? $"[red]{rate:P2}[/]" : $"{rate:P2}");
    }
}
