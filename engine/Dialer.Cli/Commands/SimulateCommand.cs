using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;
using Dialer.Models.Serving;
using Dialer.Sim;

namespace Dialer.Cli.Commands;

internal static class SimulateCommand
{
    public static Command Create()
    {
        var scenario = new Option<string>("--scenario") { Description = "Scenario file, or the name of a shipped one (tiny-team, small-team, medium-team, long-variable, heavy-tail, low-answer, skill-pools, senior-pool, evening-surge, large-team)", Required = true };
        var pacer = new Option<string>("--pacer")
        {
            Description = "progressive | ratio:K | vicidial-hard | vicidial-tapered | vicidial-average | fixed-rate:λ | predictive, "
                + "optionally @rates|@average|@model (answer-rate predictor) and +best-time (best-time-to-call)",
            DefaultValueFactory = _ => "predictive",
        };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the simulated traffic (same seed, same callees)", DefaultValueFactory = _ => 1 };
        var seeds = new Option<int>("--seeds") { Description = "With --compare: run seeds 1..N", DefaultValueFactory = _ => 10 };
        var compare = new Option<bool>("--compare") { Description = "Run every pacer on identical traffic and print a table" };
        var pacers = new Option<string?>("--pacers") { Description = "With --compare: comma-separated pacers (default: all baselines and predictive)" };
        var days = new Option<int?>("--days") { Description = "Override the scenario's number of days" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var historyOut = new Option<FileInfo?>("--history-out") { Description = "Write the call history CSV of the run" };
        var model = new Option<DirectoryInfo?>("--model") { Description = "A trained answer-rate model (dialer model train) for pacers named pacer@model" };
        var cmd = new Command("simulate", "Run a campaign in virtual time: capacity planning and pacer comparison")
        {
            scenario, pacer, seed, seeds, compare, pacers, days, json, historyOut, model,
        };
        cmd.SetAction(parse =>
        {
            var s = ScenarioFiles.Load(parse.GetValue(scenario)!);
            if (parse.GetValue(days) is { } d)
                s = d >= 1 ? s.WithDays(d) : throw new ArgumentException("--days: must be ≥ 1");
            var asJson = parse.GetValue(json);
            var options = new Simulation.Options { Model = LoadModel(parse.GetValue(model)) };
            if (parse.GetValue(compare))
            {
                var n = parse.GetValue(seeds);
                if (n < 1) throw new ArgumentException("--seeds: must be ≥ 1");
                var list = parse.GetValue(pacers)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? Pacers.Compared;
                foreach (var p in list) Pacers.Create(Simulation.ParseSpec(p).Pacer, s.Vicidial, s.Predictive, 1); // fail fast on a bad name
                var report = Simulation.Compare(s, list, n, options, asJson ? null : (done, total) => Console.Error.Write($"\r  {done}/{total} runs"));
                if (!asJson) Console.Error.WriteLine();
                Console.WriteLine(asJson ? JsonSerializer.Serialize(report, SimJson.Default.CompareReport) : Tables.Compare(report));
                return 0;
            }
            var file = parse.GetValue(historyOut);
            using var history = file is null ? null : new StreamWriter(file.FullName);
            var r = history is null
                ? Simulation.Run(s, parse.GetValue(pacer)!, parse.GetValue(seed), options)
                : RunWithHistory(s, parse.GetValue(pacer)!, parse.GetValue(seed), history, options);
            Console.WriteLine(asJson ? JsonSerializer.Serialize(r, SimJson.Default.SimReport) : Tables.Single(r));
            return 0;
        });
        return cmd;
    }

    /// <summary>The trained model, shared by every run (its evaluator is immutable); each run gets its own predictor.</summary>
    private static Func<IAnswerPredictor>? LoadModel(DirectoryInfo? dir)
    {
        if (dir is null) return null;
        if (!File.Exists(Path.Combine(dir.FullName, "model.json")))
            throw new FileNotFoundException($"--model: no trained model in {dir.FullName} (expected model.json from `dialer model train`)");
        var model = TreeEnsembleModel.Load(dir.FullName);
        return () => new ModelAnswerPredictor(model);
    }

    private static SimReport RunWithHistory(Scenario s, string pacer, ulong seed, StreamWriter output, Simulation.Options options)
    {
        SimWorld? world = null;
        var writer = new HistoryWriter(output, call => world!.Callees.PLiveTrue(world.CalleeOf(call.Lead), call.Attempt, call.PlacedAt, call.Trunk, s.Campaign.RingTimeoutSeconds))
        {
            TrunkName = t => s.Trunks[t].Name,
        };
        return Simulation.Run(s, pacer, seed, options with { History = _ => writer, OnWorld = w => world = w });
    }
}

/// <summary>Plain-text tables: readable in a terminal, stable for diffs.</summary>
internal static class Tables
{
    private static string P(double x) => (100 * x).ToString("0.00", CultureInfo.InvariantCulture) + "%";
    private static string N(double x, string f = "0") => x.ToString(f, CultureInfo.InvariantCulture);

    public static string Single(SimReport r)
    {
        var lines = new List<string>
        {
            $"scenario {r.Scenario}, pacer {r.Pacer}, seed {r.Seed}",
            $"  calls placed            {r.CallsPlaced}",
            $"  live answers            {r.LiveAnswers}   machines {r.MachineAnswers}",
            $"  abandoned               {r.Abandoned}   rate {P(r.AbandonRate)}   worst day {P(r.WorstDayAbandonRate)}   worst hour {P(r.WorstHourAbandonRate)}",
            $"  occupancy               {P(r.Occupancy)}   ({P(r.OccupancyVsOracle)} of the oracle bound {P(r.OracleOccupancyBound)})",
            $"  utilisation             {P(r.Utilisation)}   paused {P(r.PausedShare)} of logged-in time",
            $"  idle s / agent-hour     {N(r.IdleSecondsPerAgentHour, "0.0")}",
            $"  connects / agent-hour   {N(r.ConnectsPerAgentHour, "0.00")}   per attempt {N(r.LiveConnectsPerAttempt, "0.000")}",
            // Most live answers find an agent free and connect at the same virtual instant (0 ms): say so, and give the waits apart.
            $"  answer → agent          {P(r.AnswerToAgentAtOnceShare)} at once (virtual time: no bridging delay); the {P(1 - r.AnswerToAgentAtOnceShare)} who waited: " +
            $"mean {N(r.AnswerToAgentWaitedMsMean)} ms, p95 {N(r.AnswerToAgentWaitedMsP95)} ms (all connects: mean {N(r.AnswerToAgentMsMean, "0.0")} ms, p95 {N(r.AnswerToAgentMsP95)} ms)",
            $"  cost                    {N(r.TotalCost, "0.00")}   " + string.Join("   ", r.Trunks.Select(t => $"{t.Name}: {t.Calls} calls, {N(t.Cost, "0.00")}")),
        };
        lines.AddRange(r.Days.Select(d => $"  day {d.Day}          live {d.LiveAnswers}, abandoned {d.Abandoned} ({P(d.AbandonRate)})"));
        return string.Join(Environment.NewLine, lines);
    }

    public static string Compare(CompareReport c)
    {
        var head = $"{"pacer",-18}{"placed",9}{"live",8}{"aband%",8}{"worstday",9}{"worsthr",9}{"≤cap",6}{"occup",8}{"/oracle",8}{"idle s/h",9}{"conn/h",8}{"p95 ms",8}";
        var rows = c.Pacers.Select(p =>
            $"{p.Pacer,-18}{N(p.CallsPlaced),9}{N(p.LiveAnswers),8}{P(p.AbandonRate),8}{P(p.WorstDayAbandonRate),9}{P(p.WorstHourAbandonRate),9}{$"{p.SeedsWithinCap}/{p.Seeds}",6}" +
            $"{P(p.Occupancy),8}{P(p.OccupancyVsOracle),8}{N(p.IdleSecondsPerAgentHour, "0.0"),9}{N(p.ConnectsPerAgentHour, "0.00"),8}{N(p.AnswerToAgentMsP95),8}");
        string[] reference = c.Reference.Length == 0 ? [] :
            [$"reference (best VICIdial within the cap in every seed, else progressive): {c.Reference}; predictive idle / reference idle = {N(c.PredictiveIdleVsReference, "0.000")}"];
        return string.Join(Environment.NewLine, [
            $"scenario {c.Scenario}: oracle occupancy bound {P(c.OracleOccupancyBound)}, abandon cap {P(c.AbandonCap)} per day",
            head, .. rows, .. reference,
        ]);
    }
}
