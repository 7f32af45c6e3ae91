using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Sim;

/// <summary>Runs scenarios: one pacer and seed, or every pacer over several seeds on identical traffic.</summary>
public static class Simulation
{
    public sealed record Options
    {
        /// <summary>Answer-rate predictor per run (e.g. a trained model); null → campaign history per region × hour.</summary>
        public Func<IAnswerPredictor>? Predictor { get; init; }
        public Func<ulong, IAttemptLog?>? History { get; init; }
        /// <summary>Called every simulated minute of the single run (the demo's live table).</summary>
        public Action<SimWorld>? EveryMinute { get; init; }
        /// <summary>Sees the world once it is built (e.g. to read its callee model from an attempt log).</summary>
        public Action<SimWorld>? OnWorld { get; init; }
    }

    public static SimReport Run(Scenario scenario, string pacerName, ulong seed, Options? options = null)
    {
        options ??= new Options();
        var pacer = Pacers.Create(pacerName, scenario.Vicidial, scenario.Predictive, seed);
        var predictor = options.Predictor?.Invoke() ?? new RateTable(perRegionHour: true);
        var world = new SimWorld(scenario, seed, pacer, predictor, options.History?.Invoke(seed));
        options.OnWorld?.Invoke(world);
        if (options.EveryMinute is { } tick)
            for (var t = world.Start; t < world.End; t = t.AddMinutes(1))
            {
                world.RunUntil(t);
                tick(world);
            }
        world.Finish();
        return Metrics.Report(scenario.Name, pacer.Name, seed, world.Engine.Stats, world.Engine, scenario.OracleOccupancy);
    }

    /// <summary>Every pacer × seeds 1..n, two at a time (one per core); results in a fixed order whatever finishes first.</summary>
    public static CompareReport Compare(Scenario scenario, IReadOnlyList<string> pacers, int seeds, Options? options = null, Action<int, int>? progress = null)
    {
        var runs = new SimReport[pacers.Count * seeds];
        var done = 0;
        Parallel.For(0, runs.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            runs[i] = Run(scenario, pacers[i / seeds], (ulong)(i % seeds + 1), options);
            var n = Interlocked.Increment(ref done);
            progress?.Invoke(n, runs.Length);
        });
        return CompareReport.From(scenario, runs.Chunk(seeds).ToList());
    }
}
