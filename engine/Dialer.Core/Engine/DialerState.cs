using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Metrics;
using Dialer.Core.Pacing;

namespace Dialer.Core.Engine;

/// <summary>
/// Everything live the engine owns, laid out for pacers to read fast: dense arrays indexed by agent,
/// and a dense table of ringing calls. Time is seconds since <see cref="Epoch"/>.
/// </summary>
public sealed class DialerState
{
    private readonly int[] _stateCounts = new int[Enum.GetValues<AgentState>().Length];

    internal DialerState(CampaignConfig config, IReadOnlyList<Agent> agents, DateTime epoch, int channelCapacity)
    {
        Config = config;
        Agents = agents;
        Epoch = epoch;
        AgentStates = new AgentState[agents.Count];
        AgentSince = new double[agents.Count];
        Leaving = new bool[agents.Count];
        _stateCounts[(int)AgentState.LoggedOut] = agents.Count;
        RingingCalls = new Call[Math.Max(16, channelCapacity)];
        RingingP = new float[RingingCalls.Length];
        RingingPlacedAt = new double[RingingCalls.Length];
        RingingOdds = new float[RingingCalls.Length];
        Ledger = new AbandonLedger(config.TimeZone);
        var ring = config.RingTimeoutSeconds;
        LiveAnswerDelay = new DurationHistogram(0.25, ring + 5, priorMean: 8, priorWeight: 20, priorShape: 4);
        OtherRingTime = new DurationHistogram(0.25, ring + 5, priorMean: ring * 0.7, priorWeight: 20);
        TalkTime = new DurationHistogram(2, 3600, priorMean: 300, priorWeight: 10);
        WrapTime = new DurationHistogram(1, 600, priorMean: 30, priorWeight: 10);
        PauseTime = new DurationHistogram(10, 4 * 3600, priorMean: 1800, priorWeight: 3);
        Calibration = new LiveCalibration(ring + 5);
    }

    public CampaignConfig Config { get; }
    public DateTime Epoch { get; }
    /// <summary>Seconds since <see cref="Epoch"/>.</summary>
    public double Now { get; internal set; }
    public DateTime UtcNow => Epoch.AddSeconds(Now);

    public IReadOnlyList<Agent> Agents { get; }
    public AgentState[] AgentStates { get; }
    /// <summary>When each agent entered its current state.</summary>
    public double[] AgentSince { get; }
    /// <summary>Agents who asked to pause or log out once their call is over: not supply for the next calls.</summary>
    public bool[] Leaving { get; }
    public int Count(AgentState s) => _stateCounts[(int)s];
    public int LoggedIn => Agents.Count - _stateCounts[(int)AgentState.LoggedOut];

    internal Call[] RingingCalls { get; private set; }
    internal float[] RingingP { get; private set; }
    internal double[] RingingPlacedAt { get; private set; }
    /// <summary>(1 − p) / p of each ringing call, so the pacer's per-call update is one multiply-add and a divide.</summary>
    internal float[] RingingOdds { get; private set; }
    public int Ringing { get; private set; }
    public ReadOnlySpan<float> RingingLiveP => RingingP.AsSpan(0, Ringing);
    public ReadOnlySpan<double> RingingSince => RingingPlacedAt.AsSpan(0, Ringing);
    public ReadOnlySpan<float> RingingLiveOdds => RingingOdds.AsSpan(0, Ringing);

    /// <summary>Live callees waiting for an agent, oldest first.</summary>
    internal List<Call> WaitingCalls { get; } = [];
    public int Waiting => WaitingCalls.Count;
    /// <summary>Calls ringing or answered and waiting: VICIdial's "calls in flight".</summary>
    public int InFlight => Ringing + Waiting;
    /// <summary>
    /// What VICIdial counts as existing calls: ringing, waiting, and calls already with an agent
    /// (vicidial_auto_calls in SENT, RINGING, LIVE, XFER, CLOSER — XFER is a call handed to an agent).
    /// </summary>
    public int LinesInUse => InFlight + Count(AgentState.Talking);
    /// <summary>The dial level shown to operators: calls in flight per agent ready or on a live call (VICIdial's N); 0 with no such agent.</summary>
    public double DialLevel => Count(AgentState.Ready) + Count(AgentState.Talking) is var n and > 0 ? (double)InFlight / n : 0;
    public int FreeChannels { get; internal set; }
    /// <summary>Agentless: answered calls in the campaign's script (prompts, questions).</summary>
    public int InScript { get; internal set; }

    public AbandonLedger Ledger { get; }
    public WindowCounter PlacedLastMinute { get; } = new(60);
    public WindowCounter DroppedLastMinute { get; } = new(60);
    /// <summary>Live answers and drops since the campaign-local midnight (what VICIdial's drop% reads).</summary>
    public long CallsToday { get; internal set; }

    // What the forecasts learn from finished calls.
    public DurationHistogram LiveAnswerDelay { get; }
    public DurationHistogram OtherRingTime { get; }
    public DurationHistogram TalkTime { get; }
    public DurationHistogram WrapTime { get; }
    public DurationHistogram PauseTime { get; }
    /// <summary>How well the predictions have matched the live answers that came back.</summary>
    public LiveCalibration Calibration { get; }
    /// <summary>Moving average of the live-answer probability of calls placed lately (what a next call is worth).</summary>
    public double RecentLiveP { get; internal set; } = double.NaN;
    /// <summary>
    /// When the lead source last had no due lead for a call the pacer asked for (none refused for want of an able agent):
    /// the list, not the team, bounds the conversations then.
    /// </summary>
    public double LeadsRanOutAt { get; internal set; } = double.NegativeInfinity;
    /// <summary>What the lead source has left to dial within <see cref="LeadStock.HorizonDays"/>, as of this decision.</summary>
    public LeadStock LeadStock { get; internal set; } = LeadStock.Unknown;

    internal void SetAgentState(int agent, AgentState s, double now)
    {
        _stateCounts[(int)AgentStates[agent]]--;
        _stateCounts[(int)s]++;
        AgentStates[agent] = s;
        AgentSince[agent] = now;
    }

    internal void AddRinging(Call call, double placedAt)
    {
        if (Ringing == RingingCalls.Length)
        {
            var n = Ringing * 2;
            RingingCalls = Grow(RingingCalls, n);
            RingingP = Grow(RingingP, n);
            RingingPlacedAt = Grow(RingingPlacedAt, n);
            RingingOdds = Grow(RingingOdds, n);
        }
        call.Slot = Ringing;
        RingingCalls[Ringing] = call;
        RingingP[Ringing] = call.PLive;
        RingingPlacedAt[Ringing] = placedAt;
        RingingOdds[Ringing] = (1 - call.PLive) / Math.Max(call.PLive, 1e-6f);
        Ringing++;
    }

    internal void RemoveRinging(Call call)
    {
        var i = call.Slot;
        if (i < 0) return;
        var last = --Ringing;
        if (i != last)
        {
            RingingCalls[i] = RingingCalls[last];
            RingingP[i] = RingingP[last];
            RingingPlacedAt[i] = RingingPlacedAt[last];
            RingingOdds[i] = RingingOdds[last];
            RingingCalls[i].Slot = i;
        }
        RingingCalls[last] = null!;
        call.Slot = -1;
    }

    private static T[] Grow<T>(T[] a, int n)
    {
        Array.Resize(ref a, n);
        return a;
    }
}
