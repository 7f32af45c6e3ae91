using System.Text.Json.Serialization;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Metrics;
using Dialer.Core.Modes;

namespace Dialer.Sim;

public sealed record TrunkUse(string Name, long Calls, double Cost);
public sealed record DayAbandon(string Day, long LiveAnswers, long Abandoned, double AbandonRate);
public sealed record HourAbandon(string Hour, long LiveAnswers, long Abandoned, double AbandonRate);
public sealed record PreviewFigures(long Offered, long Accepted, long Skipped, long Callbacks, long TimedOut, long Unplaced);
/// <summary>One question's answers: key → count, and askings that ended with no usable key.</summary>
public sealed record QuestionFigures(string Question, long Answered, IReadOnlyDictionary<string, long> Keys, long NoAnswer);
public sealed record SurveyFigures(IReadOnlyDictionary<string, long> Ends, long Transfers, long TransfersWithheld, IReadOnlyList<QuestionFigures> Questions);

/// <summary>One run's metrics, as pacing-baselines.md lists them. Keys are snake_case in JSON.</summary>
public sealed record SimReport
{
    public required string Scenario { get; init; }
    public required string Pacer { get; init; }
    public required ulong Seed { get; init; }
    public required long CallsPlaced { get; init; }
    public required long LiveAnswers { get; init; }
    public required long MachineAnswers { get; init; }
    public required long Abandoned { get; init; }
    public required double AbandonRate { get; init; }
    public required double WorstDayAbandonRate { get; init; }
    /// <summary>Worst clock hour among hours with at least <see cref="Metrics.MinLiveForHour"/> live answers (fewer is noise).</summary>
    public required double WorstHourAbandonRate { get; init; }
    public required double Occupancy { get; init; }
    public required double Utilisation { get; init; }
    public required double IdleSecondsPerAgentHour { get; init; }
    public required double ConnectsPerAgentHour { get; init; }
    public required double PausedShare { get; init; }
    public required double OracleOccupancyBound { get; init; }
    public required double OccupancyVsOracle { get; init; }
    public required double AnswerToAgentMsMean { get; init; }
    public required double AnswerToAgentMsP95 { get; init; }
    /// <summary>Share of connects with an agent already free at the answer (under 0.5 ms: virtual time gives bridging no delay).</summary>
    public required double AnswerToAgentAtOnceShare { get; init; }
    /// <summary>Mean and p95 over the connects that did wait for an agent: the figures a reader of "p95 0 ms" needs.</summary>
    public required double AnswerToAgentWaitedMsMean { get; init; }
    public required double AnswerToAgentWaitedMsP95 { get; init; }
    public required double LiveConnectsPerAttempt { get; init; }
    public required double TotalCost { get; init; }
    public required IReadOnlyList<TrunkUse> Trunks { get; init; }
    public required IReadOnlyList<DayAbandon> Days { get; init; }
    /// <summary>Each clock hour's live answers and abandons (the cap is per day, but a burst shows here).</summary>
    public required IReadOnlyList<HourAbandon> Hours { get; init; }
    /// <summary>Campaigns that preview leads only.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PreviewFigures? Preview { get; init; }
    /// <summary>Agentless campaigns only: how scripts ended and each question's answer distribution.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public SurveyFigures? Survey { get; init; }
}

public static class Metrics
{
    public const int MinLiveForHour = 20;

    /// <summary>
    /// Agent time is measured over time available to the dialer (logged in and not paused): occupancy =
    /// talk / available, utilisation = (talk + wrap-up) / available, idle = ready time per available hour.
    /// Pauses are reported apart (<see cref="SimReport.PausedShare"/>), so breaks do not read as pacing loss.
    /// </summary>
    public static SimReport Report(string scenario, string pacer, ulong seed, CampaignStats st, DialerEngine engine, double oracle)
    {
        double Seconds(AgentState s) => st.AgentSeconds[(int)s];
        var paused = Seconds(AgentState.Paused);
        var available = Seconds(AgentState.Ready) + Seconds(AgentState.Talking) + Seconds(AgentState.WrapUp);
        var hours = available / 3600;
        var occupancy = Ratio(Seconds(AgentState.Talking), available);
        var days = st.ByDay.Select(d => new DayAbandon(d.Key.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
            d.Value.Live, d.Value.Abandoned, Ratio(d.Value.Abandoned, d.Value.Live))).ToList();
        var trunks = Enumerable.Range(0, engine.Trunks.Count)
            .Select(t => new TrunkUse(engine.Trunks[t].Name, st.TrunkCalls[t], Math.Round(st.TrunkCost[t], 4))).ToList();
        return new SimReport
        {
            Scenario = scenario,
            Pacer = pacer,
            Seed = seed,
            CallsPlaced = st.CallsPlaced,
            LiveAnswers = st.LiveAnswers,
            MachineAnswers = st.MachineAnswers,
            Abandoned = st.Abandoned,
            AbandonRate = Ratio(st.Abandoned, st.LiveAnswers),
            WorstDayAbandonRate = days.Count == 0 ? 0 : days.Max(d => d.AbandonRate),
            WorstHourAbandonRate = st.ByHour.Values.Where(h => h.Live >= MinLiveForHour).Select(h => Ratio(h.Abandoned, h.Live)).DefaultIfEmpty(0).Max(),
            Occupancy = occupancy,
            Utilisation = Ratio(Seconds(AgentState.Talking) + Seconds(AgentState.WrapUp), available),
            IdleSecondsPerAgentHour = Ratio(Seconds(AgentState.Ready), hours),
            ConnectsPerAgentHour = Ratio(st.Connected, hours),
            PausedShare = Ratio(paused, available + paused),
            OracleOccupancyBound = oracle,
            OccupancyVsOracle = Ratio(occupancy, oracle),
            AnswerToAgentMsMean = Ratio(st.AnswerToAgentMsSum, st.Connected),
            AnswerToAgentMsP95 = st.AnswerToAgentPercentile(0.95),
            AnswerToAgentAtOnceShare = Ratio(st.AnswerToAgentMs[0], st.Connected),
            AnswerToAgentWaitedMsMean = Ratio(st.AnswerToAgentMsSum, st.Connected - st.AnswerToAgentMs[0]),
            AnswerToAgentWaitedMsP95 = WaitedPercentile(st.AnswerToAgentMs, 0.95),
            LiveConnectsPerAttempt = Ratio(st.Connected, st.CallsPlaced),
            TotalCost = Math.Round(st.TrunkCost.Sum(), 4),
            Trunks = trunks,
            Days = days,
            Hours = [.. st.ByHour.Select(h => new HourAbandon(h.Key.ToString("yyyy-MM-dd HH:00", System.Globalization.CultureInfo.InvariantCulture),
                h.Value.Live, h.Value.Abandoned, Ratio(h.Value.Abandoned, h.Value.Live)))],
            Preview = st.PreviewsOffered == 0 ? null
                : new PreviewFigures(st.PreviewsOffered, st.PreviewsAccepted, st.PreviewsSkipped, st.PreviewCallbacks, st.PreviewsTimedOut, st.PreviewsUnplaced),
            Survey = engine.State.Config.Script is { } script ? Survey(st, script) : null,
        };
    }

    /// <summary>Per question in script order: answers by key (as the store's survey report gives them).</summary>
    public static SurveyFigures Survey(CampaignStats st, Core.Modes.CallScript script)
    {
        var ends = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var end in Enum.GetValues<Core.Modes.ScriptEnd>())
            if (end != Core.Modes.ScriptEnd.None && st.ScriptEnds[(int)end] > 0) ends[end.ToName()] = st.ScriptEnds[(int)end];
        var questions = script.Questions.Select(q =>
        {
            var counts = st.Answers.GetValueOrDefault(q.Id) ?? new long[CampaignStats.AnswerKeys.Length + 1];
            var keys = new SortedDictionary<string, long>(StringComparer.Ordinal);
            for (var k = 0; k < CampaignStats.AnswerKeys.Length; k++)
                if (counts[k] > 0) keys[CampaignStats.AnswerKeys[k].ToString()] = counts[k];
            return new QuestionFigures(q.Id, counts.Sum(), keys, counts[^1]);
        }).ToList();
        return new SurveyFigures(ends, st.Transfers, st.TransfersWithheld, questions);
    }

    public static double Ratio(double a, double b) => b <= 0 ? 0 : a / b;

    /// <summary>Quantile <paramref name="q"/> in whole ms of the connects that waited (bins 1 ms and up; the last bin is 2 s or more).</summary>
    private static double WaitedPercentile(long[] byMs, double q)
    {
        long waited = 0;
        for (var ms = 1; ms < byMs.Length; ms++) waited += byMs[ms];
        if (waited == 0) return 0;
        long seen = 0;
        for (var ms = 1; ms < byMs.Length; ms++)
            if ((seen += byMs[ms]) >= q * waited) return ms;
        return byMs.Length - 1;
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(SimReport))]
[JsonSerializable(typeof(CompareReport))]
public sealed partial class SimJson : JsonSerializerContext;
