using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

public sealed record PredictiveOptions
{
    /// <summary>The abandon rate the controller steers to; below the legal cap so noise stays under it.</summary>
    public double TargetAbandonRate { get; init; } = 0.02;
    /// <summary>How hard each abandon over (or under) budget moves the allowed risk: risk × e^(gain · margin).</summary>
    public double Gain { get; init; } = 0.25;
    /// <summary>Most unspent abandon budget the controller may bank (abandons); bounds how bold it gets after a quiet spell.</summary>
    public double MaxCredit { get; init; } = 6;
    /// <summary>Seconds between decisions when nothing happens (it also decides after every event).</summary>
    public double Interval { get; init; } = 0.25;

    public void Validate(double cap)
    {
        if (TargetAbandonRate <= 0 || TargetAbandonRate >= cap)
            throw new ArgumentException($"target_abandon_rate: {TargetAbandonRate} must be above 0 and below the cap {cap}");
        if (Gain <= 0) throw new ArgumentException("gain: must be > 0");
        if (MaxCredit < 0) throw new ArgumentException("max_credit: must be ≥ 0");
        if (Interval <= 0) throw new ArgumentException("interval: must be > 0");
    }
}

/// <summary>
/// Our pacer. Over the next horizon (the time a new call takes to reach a live person, plus the 2 s grace)
/// it forecasts supply — ready agents plus each busy agent's chance to be free by then, from the talk and
/// wrap-up times seen so far and how long that agent has been at it — and demand — callees waiting, plus each
/// ringing call's chance to still bring a live person given how long it has rung, plus what new calls would
/// bring. It places the most calls for which the expected overflow (live callees with no agent, normal
/// approximation) stays within an allowed fraction of the expected live answers. A controller sets that
/// fraction from the abandon budget left today and over 30 days; at the cap it only dials for sure supply.
/// </summary>
public sealed class PredictivePacer(PredictiveOptions options) : IPacer
{
    public string Name => "predictive";
    public bool ReactsToEvents => true;
    /// <summary>Allowed overflow fraction at the last decision (for monitoring).</summary>
    public double Risk { get; private set; }

    public PacingDecision Decide(DialerState s)
    {
        var now = s.Now;
        var next = new PacingDecision(0, now + options.Interval);
        if (s.LoggedIn == 0) return next;

        var horizon = Forecast.Horizon(s);
        var (supply, varSupply) = Supply(s, horizon);
        var (demand, varDemand) = Demand(s);
        var risk = Risk = AbandonBudget.AllowedRisk(s, options.TargetAbandonRate, options.Gain, options.MaxCredit);

        var p = double.IsNaN(s.RecentLiveP) ? 0.2 : Math.Max(s.RecentLiveP, 0.01);
        // The largest n with overflow(n) ≤ risk · demand(n): overflow grows faster than demand, so bisect.
        int lo = 0, hi = s.FreeChannels;
        if (!Fits(hi)) while (lo < hi)
        {
            var mid = (lo + hi + 1) >> 1;
            if (Fits(mid)) lo = mid; else hi = mid - 1;
        }
        else lo = hi;
        return next with { CallsToPlace = lo };

        bool Fits(int n)
        {
            var d = demand + n * p;
            var overflow = Gaussian.ExpectedExcess(d - supply, varDemand + varSupply + n * p * (1 - p));
            return overflow <= risk * Math.Max(d, 1e-9);
        }
    }

    /// <summary>Ready agents, plus the chance each busy agent is free within the horizon.</summary>
    private static (double Mean, double Var) Supply(DialerState s, double horizon)
    {
        double mean = s.Count(AgentState.Ready), var = 0;
        var states = s.AgentStates;
        for (var a = 0; a < states.Length; a++)
        {
            if (states[a] is not (AgentState.WrapUp or AgentState.Talking)) continue;
            var q = Forecast.FreeWithin(s, a, horizon);
            mean += q;
            var += q * (1 - q);
        }
        return (mean, var);
    }

    /// <summary>Callees waiting now, plus each ringing call's chance to still bring a live person.</summary>
    private static (double Mean, double Var) Demand(DialerState s)
    {
        double mean = s.Waiting, var = 0;
        var p = s.RingingLiveP;
        var placed = s.RingingSince;
        for (var i = 0; i < p.Length; i++)
        {
            var q = Forecast.StillLive(s, p[i], s.Now - placed[i]);
            mean += q;
            var += q * (1 - q);
        }
        return (mean, var);
    }
}
