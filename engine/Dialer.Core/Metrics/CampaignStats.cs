using Dialer.Core.Domain;

namespace Dialer.Core.Metrics;

/// <summary>The engine's running account of a campaign: what every report (simulate, demo, API) is computed from.</summary>
public sealed class CampaignStats(TimeZoneInfo campaignZone, int trunks, int agents)
{
    public long CallsPlaced { get; internal set; }
    public long LiveAnswers { get; internal set; }
    public long MachineAnswers { get; internal set; }
    public long Abandoned { get; internal set; }
    public long Connected { get; internal set; }
    /// <summary>Abandoned per live answer so far (0 before the first).</summary>
    public double AbandonRate => LiveAnswers == 0 ? 0 : (double)Abandoned / LiveAnswers;
    public long[] Outcomes { get; } = new long[Enum.GetValues<CallOutcome>().Length];
    /// <summary>Calls ended, by trunk index.</summary>
    public long[] TrunkCalls { get; } = new long[trunks];
    // Placed, live answers, machines and abandons by trunk: an answer rate per carrier (the /metrics series).
    public long[] TrunkPlaced { get; } = new long[trunks];
    public long[] TrunkLive { get; } = new long[trunks];
    public long[] TrunkMachine { get; } = new long[trunks];
    public long[] TrunkAbandoned { get; } = new long[trunks];
    public double[] TrunkCost { get; } = new double[trunks];
    /// <summary>Seconds agents spent in each <see cref="AgentState"/>, summed over agents.</summary>
    public double[] AgentSeconds { get; } = new double[Enum.GetValues<AgentState>().Length];
    public double[] AgentLoggedInSeconds { get; } = new double[agents];
    /// <summary>Live answer → agent connected, in milliseconds (last bin: 2 s or more).</summary>
    public MillisecondHistogram AnswerToAgent { get; } = new(2000);
    public double AnswerToAgentMsSum => AnswerToAgent.SumMs;
    /// <summary>Connects per whole millisecond from live answer (last bin: 2 s or more).</summary>
    public long[] AnswerToAgentMs => AnswerToAgent.Bins;
    /// <summary>How late past the 2 s each callee sent to safe harbor went (ms): the loop's own delay in acting on the deadline.</summary>
    public MillisecondHistogram SafeHarborLateness { get; } = new(10_000);
    /// <summary>Commands the driver reported failed, by <see cref="Engine.CallCommand"/>.</summary>
    public long[] CommandFailures { get; } = new long[Enum.GetValues<Engine.CallCommand>().Length];
    /// <summary>Calls whose hang-up failed <see cref="Engine.DialerEngine.MaxHangups"/> times: left to the driver's reconciliation.</summary>
    public long HangupsGivenUp { get; internal set; }
    /// <summary>Pacing decisions that placed nothing because the attempt store was behind (database slow or down).</summary>
    public long PlacementsHeldForStore { get; internal set; }
    /// <summary>Leads held back a while (<see cref="Engine.DialerEngine.TrunkOutHoldSeconds"/>) because no trunk in service could carry them.</summary>
    public long LeadsHeldForTrunk { get; internal set; }
    // Preview: leads offered to agents and what became of them.
    public long PreviewsOffered { get; internal set; }
    public long PreviewsAccepted { get; internal set; }
    public long PreviewsSkipped { get; internal set; }
    public long PreviewCallbacks { get; internal set; }
    public long PreviewsTimedOut { get; internal set; }
    /// <summary>Accepted, but not placed: a clock rule (calling window, holiday) held the lead at the yes, no line was free, or the store was behind; the lead went back.</summary>
    public long PreviewsUnplaced { get; internal set; }
    /// <summary>Decisions on offers already gone (after the time-out, or sent twice): ignored.</summary>
    public long PreviewDecisionsStale { get; internal set; }
    /// <summary>Agentless: callees who asked for an agent, and those whose script did not offer it (no agent, budget spent).</summary>
    public long Transfers { get; internal set; }
    public long TransfersWithheld { get; internal set; }
    /// <summary>Agentless: scripts by how they ended (<see cref="Modes.ScriptEnd"/>).</summary>
    public long[] ScriptEnds { get; } = new long[Enum.GetValues<Modes.ScriptEnd>().Length];
    /// <summary>Agentless: per question, answers by key (index <see cref="KeyIndex"/>: 0-9, *, #, then no usable answer).</summary>
    public Dictionary<string, long[]> Answers { get; } = new(StringComparer.Ordinal);
    public const string AnswerKeys = "0123456789*#";

    public static int KeyIndex(char? key) => key is { } k && AnswerKeys.IndexOf(k) is var i and >= 0 ? i : AnswerKeys.Length;

    internal void CountScript(Modes.ScriptResult result)
    {
        ScriptEnds[(int)result.End]++;
        foreach (var a in result.Answers)
        {
            if (!Answers.TryGetValue(a.Question, out var counts)) Answers[a.Question] = counts = new long[AnswerKeys.Length + 1];
            counts[KeyIndex(a.Key)]++;
        }
    }
    /// <summary>Live answers and abandons per local day of the campaign (the hour still counting included).</summary>
    public SortedDictionary<DateOnly, (long Live, long Abandoned)> ByDay
    {
        get
        {
            CloseHour();
            return _byDay;
        }
    }

    /// <summary>Live answers and abandons per local hour of the campaign (the hour still counting included).</summary>
    public SortedDictionary<DateTime, (long Live, long Abandoned)> ByHour
    {
        get
        {
            CloseHour();
            return _byHour;
        }
    }

    private readonly SortedDictionary<DateOnly, (long Live, long Abandoned)> _byDay = [];
    private readonly SortedDictionary<DateTime, (long Live, long Abandoned)> _byHour = [];
    // The local hour now counting stays out of the dictionaries until another hour starts or they are read: an answer or an
    // abandon then allocates nothing (a sorted dictionary boxes a struct key for its null check until the JIT optimizes it:
    // 96 B an answer on the loop) and walks no tree.
    private DateTime _hour;
    private long _hourLive, _hourAbandoned;

    internal void CountLive(DateTime utc)
    {
        LiveAnswers++;
        Bump(utc, live: 1, abandoned: 0);
    }

    internal void CountAbandoned(DateTime utc)
    {
        Abandoned++;
        Bump(utc, live: 0, abandoned: 1);
    }

    internal void CountConnect(double answerToAgentSeconds)
    {
        Connected++;
        AnswerToAgent.Add(answerToAgentSeconds * 1000);
    }

    /// <summary>A connect counted by <see cref="CountConnect"/> did not happen (the bridge failed).</summary>
    internal void UncountConnect(double answerToAgentSeconds)
    {
        Connected--;
        AnswerToAgent.Remove(answerToAgentSeconds * 1000);
    }

    /// <summary>The smallest whole millisecond value at or below which <paramref name="q"/> of connects fell.</summary>
    public double AnswerToAgentPercentile(double q) => AnswerToAgent.Percentile(q);

    private void Bump(DateTime utc, int live, int abandoned)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, campaignZone);
        var hour = new DateTime(local.Year, local.Month, local.Day, local.Hour, 0, 0);
        if (hour != _hour)
        {
            CloseHour();
            _hour = hour;
        }
        _hourLive += live;
        _hourAbandoned += abandoned;
    }

    /// <summary>The hour counting so far into <see cref="ByHour"/> and <see cref="ByDay"/>.</summary>
    private void CloseHour()
    {
        if (_hourLive == 0 && _hourAbandoned == 0) return;
        Add(_byHour, _hour, _hourLive, _hourAbandoned);
        Add(_byDay, DateOnly.FromDateTime(_hour), _hourLive, _hourAbandoned);
        _hourLive = _hourAbandoned = 0;
    }

    private static void Add<TKey>(SortedDictionary<TKey, (long Live, long Abandoned)> counts, TKey key, long live, long abandoned) where TKey : notnull =>
        counts[key] = counts.TryGetValue(key, out var c) ? (c.Live + live, c.Abandoned + abandoned) : (live, abandoned);
}
