using System.Runtime.CompilerServices;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>The two forecasts pacing rests on, from what the engine has learned so far.</summary>
public static class Forecast
{
    /// <summary>
    /// How far ahead supply is counted: a new call's mean time to reach a live person and the grace before it
    /// counts as abandoned. Measured on the shipped scenarios with calibrated predictions, a margin past that for
    /// late answers of 0..1 s did best and 3 s cost 25-agent teams 0.3 pt of occupancy; 0 s rather than 1 s gave
    /// low-answer (10% live, patience 4 s) 0.2 pt of occupancy and changed long-variable's idle by under 1 s an hour.
    /// </summary>
    public static double Horizon(DialerState s) => s.LiveAnswerDelay.Mean + s.Config.SafeHarborSeconds;

    /// <summary>The curves as of now, read once for a decision's loops.</summary>
    public static Outlook Of(DialerState s) => new(s);
}

/// <summary>
/// A decision's view of the learned curves: fetched once, then cheap per agent and per call. What frees an agent of each state
/// (its curve and how far ahead it is counted) sits in tables indexed by the state, so a busy agent costs two look-ups and
/// no branch on its state (a switch on 2,000 mixed states mispredicted on most agents).
/// </summary>
public readonly struct Outlook
{
    private const int States = (int)AgentState.Previewing + 1;
    private readonly SurvivalCurve _liveDelay, _otherRing;
    // Per state: the curve whose end frees the agent and the time it has to end in (0: the state gives no supply).
    private readonly PerState<SurvivalCurve> _frees;
    private readonly PerState<double> _within;

    internal Outlook(DialerState s)
    {
        Horizon = Forecast.Horizon(s);
        _liveDelay = s.LiveAnswerDelay.Curve;
        _otherRing = s.OtherRingTime.Curve;
        _frees[(int)AgentState.WrapUp] = s.WrapTime.Curve;
        _within[(int)AgentState.WrapUp] = Horizon;
        // Still talking: free only if the call ends early enough to leave time for wrap-up.
        _frees[(int)AgentState.Talking] = s.TalkTime.Curve;
        _within[(int)AgentState.Talking] = Horizon - s.WrapTime.Mean;
        // Breaks have their usual lengths too: an agent back in a moment is worth a call now.
        _frees[(int)AgentState.Paused] = s.PauseTime.Curve;
        _within[(int)AgentState.Paused] = Horizon;
    }

    public double Horizon { get; }
    public bool TalkCanEndInTime => _within[(int)AgentState.Talking] > 0;

    /// <summary>Whether an agent in <paramref name="state"/> may be free within the horizon, not being ready already (wrap-up, a break, a call that can end in time).</summary>
    public bool MayBeFree(AgentState state) => _within[(int)state] > 0;

    /// <summary>Chance an agent in <paramref name="state"/> for <paramref name="elapsed"/> seconds is free within the horizon (ready now: 1).</summary>
    public float FreeWithin(AgentState state, double elapsed) =>
        state == AgentState.Ready ? 1f : _frees[(int)state].EndsWithin(elapsed, _within[(int)state]);

    /// <summary>Chance a call that has rung <paramref name="age"/> seconds unanswered still brings a live person (Bayes on its prior <paramref name="p"/>).</summary>
    public float StillLive(float p, double age)
    {
        var live = p * _liveDelay.Survival(age);
        var other = (1 - p) * _otherRing.Survival(age);
        return live / (live + other + 1e-9f);
    }

    [InlineArray(States)]
    private struct PerState<T>
    {
        private T _first;
    }
}
