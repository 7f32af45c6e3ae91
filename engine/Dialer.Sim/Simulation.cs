using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Sim;

/// <summary>Runs scenarios: one pacer and seed, or every pacer over several seeds on identical traffic.</summary>
public static class Simulation
{
    public sealed record Options
    {
        /// <summary>A trained model's predictor, for runs named <c>pacer@model</c>; a fresh one per run.</summary>
        public Func<IAnswerPredictor>? Model { get; init; }
        public Func<ulong, IAttemptLog?>? History { get; init; }
        /// <summary>Called every simulated minute of the single run (the demo's live table).</summary>
        public Action<SimWorld>? EveryMinute { get; init; }
        /// <summary>Sees the world once it is built (e.g. to read its callee model from an attempt log).</summary>
        public Action<SimWorld>? OnWorld { get; init; }
        /// <summary>
        /// Where leads come from instead of the in-memory hopper (the database hopper), given the start time and, for
        /// a <c>+best-time</c> run, the run's predictor to schedule retries by (null otherwise).
        /// </summary>
        public Func<DateTime, IAnswerPredictor?, ILeadSource>? LeadSource { get; init; }
        public long FirstCallId { get; init; } = 1;
        /// <summary>Sees each refusal a simulated callee gives (the call, when): the disposition log a check of the run reads.</summary>
        public Action<Call, DateTime>? Refused { get; init; }
    }

    /// <summary>
    /// One run. <paramref name="spec"/> is <c>pacer[@predictor][+best-time]</c>: the predictor is <c>rates</c>
    /// (campaign history per region × hour, the default), <c>average</c> (the campaign's average only) or
    /// <c>model</c> (<see cref="Options.Model"/>); <c>+best-time</c> schedules attempts at each lead's best hour.
    /// </summary>
    public static SimReport Run(Scenario scenario, string spec, ulong seed, Options? options = null)
    {
        options ??= new Options();
        return Run(scenario, spec, seed, options, Oracle.Bound(scenario, seed));
    }

    private static SimReport Run(Scenario scenario, string spec, ulong seed, Options options, double oracle)
    {
        var (pacerName, predictorName, bestTime) = ParseSpec(spec);
        var pacer = Pacers.Create(pacerName, scenario.Vicidial, scenario.Predictive, seed);
        IAnswerPredictor predictor = predictorName switch
        {
            "rates" => new RateTable(perRegionHour: true),
            "average" => new RateTable(perRegionHour: false),
            "model" => options.Model?.Invoke() ?? throw new ArgumentException($"'{spec}': @model needs a trained model (--model DIR)"),
            _ => throw new ArgumentException($"'{spec}': unknown predictor '{predictorName}' (expected rates, average or model)"),
        };
        var world = new SimWorld(scenario, seed, pacer, predictor, options.History?.Invoke(seed), bestTime, options.LeadSource, options.FirstCallId, refused: options.Refused);
        options.OnWorld?.Invoke(world);
        if (options.EveryMinute is { } tick)
            for (var t = world.Start; t < world.End; t = t.AddMinutes(1))
            {
                world.RunUntil(t);
                tick(world);
            }
        world.Finish();
        return Metrics.Report(scenario.Name, spec == pacerName ? pacer.Name : spec, seed, world.Engine.Stats, world.Engine, oracle);
    }

    /// <summary>Splits and checks a run spec, so a bad name fails before any run starts.</summary>
    public static (string Pacer, string Predictor, bool BestTime) ParseSpec(string spec)
    {
        const string bestTimeSuffix = "+best-time";
        var bestTime = spec.EndsWith(bestTimeSuffix, StringComparison.Ordinal);
        var rest = bestTime ? spec[..^bestTimeSuffix.Length] : spec;
        var at = rest.IndexOf('@');
        return at < 0 ? (rest, "rates", bestTime) : (rest[..at], rest[(at + 1)..], bestTime);
    }

    /// <summary>Every pacer × seeds 1..n, two at a time (one per core), against each seed's <see cref="Oracle"/> bound; results in a fixed order whatever finishes first.</summary>
    public static CompareReport Compare(Scenario scenario, IReadOnlyList<string> pacers, int seeds, Options? options = null, Action<int, int>? progress = null)
    {
        options ??= new Options();
        var runs = new SimReport[pacers.Count * seeds];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount };
        var oracle = new double[seeds];
        Parallel.For(0, seeds, parallel, i => oracle[i] = Oracle.Bound(scenario, (ulong)(i + 1)));
        var done = 0;
        Parallel.For(0, runs.Length, parallel, i =>
        {
            runs[i] = Run(scenario, pacers[i / seeds], (ulong)(i % seeds + 1), options, oracle[i % seeds]);
            var n = Interlocked.Increment(ref done);
            progress?.Invoke(n, runs.Length);
        });
        return CompareReport.From(scenario, runs.Chunk(seeds).ToList(), oracle.Average());
    }
}
