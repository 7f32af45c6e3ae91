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

/// <summary>A decision's view of the learned curves: fetched once, then cheap per agent and per call.</summary>
public readonly struct Outlook
{
    private readonly SurvivalCurve _liveDelay, _otherRing, _talk, _wrap, _pause;
    private readonly double _talkHorizon;

    internal Outlook(DialerState s)
    {
        Horizon = Forecast.Horizon(s);
        _liveDelay = s.LiveAnswerDelay.Curve;
        _otherRing = s.OtherRingTime.Curve;
        _talk = s.TalkTime.Curve;
        _wrap = s.WrapTime.Curve;
        _pause = s.PauseTime.Curve;
        // Still talking: free only if the call ends early enough to leave time for wrap-up.
        _talkHorizon = Horizon - s.WrapTime.Mean;
    }

    public double Horizon { get; }
    public bool TalkCanEndInTime => _talkHorizon > 0;

    /// <summary>Chance an agent in <paramref name="state"/> for <paramref name="elapsed"/> seconds is free within the horizon (ready now: 1).</summary>
    public float FreeWithin(AgentState state, double elapsed) => state switch
    {
        AgentState.Ready => 1f,
        AgentState.WrapUp => _wrap.EndsWithin(elapsed, Horizon),
        AgentState.Talking => _talk.EndsWithin(elapsed, _talkHorizon),
        // Breaks have their usual lengths too: an agent back in a moment is worth a call now.
        AgentState.Paused => _pause.EndsWithin(elapsed, Horizon),
        _ => 0f,
    };

    /// <summary>Chance a call that has rung <paramref name="age"/> seconds unanswered still brings a live person (Bayes on its prior <paramref name="p"/>).</summary>
    public float StillLive(float p, double age)
    {
        var live = p * _liveDelay.Survival(age);
        var other = (1 - p) * _otherRing.Survival(age);
        return live / (live + other + 1e-9f);
    }
}
