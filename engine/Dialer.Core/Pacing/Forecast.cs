using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>The two forecasts pacing rests on, from what the engine has learned so far.</summary>
public static class Forecast
{
    /// <summary>
    /// How far ahead supply is counted: a new call's mean time to reach a live person, the grace before it
    /// counts as abandoned, and 3 s for answers that come later than the mean (the best of 0..10 s measured
    /// on the shipped scenarios).
    /// </summary>
    public static double Horizon(DialerState s) => s.LiveAnswerDelay.Mean + s.Config.SafeHarborSeconds + 3;

    /// <summary>Chance agent <paramref name="agent"/> is free within <paramref name="horizon"/> seconds (ready now: 1).</summary>
    public static float FreeWithin(DialerState s, int agent, double horizon) => s.AgentStates[agent] switch
    {
        AgentState.Ready => 1f,
        AgentState.WrapUp => s.WrapTime.EndsWithin(s.Now - s.AgentSince[agent], horizon),
        // Still talking: free only if the call ends early enough to leave time for wrap-up.
        AgentState.Talking => s.TalkTime.EndsWithin(s.Now - s.AgentSince[agent], horizon - s.WrapTime.Mean),
        _ => 0f,
    };

    /// <summary>Chance a call that has rung <paramref name="age"/> seconds unanswered still brings a live person (Bayes on its prior <paramref name="p"/>).</summary>
    public static float StillLive(DialerState s, float p, double age)
    {
        var live = p * s.LiveAnswerDelay.Survival(age);
        var other = (1 - p) * s.OtherRingTime.Survival(age);
        return live / (live + other + 1e-9f);
    }
}
