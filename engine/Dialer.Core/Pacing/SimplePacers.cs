using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>Power dialing 1:1: one call in flight for each ready agent.</summary>
public sealed class ProgressivePacer : IPacer
{
    public string Name => "progressive";
    public bool ReactsToEvents => true;

    public PacingDecision Decide(DialerState s) =>
        new(Math.Max(0, s.Count(AgentState.Ready) - s.InFlight), s.Now + 1);
}

/// <summary>Fixed ratio K: keep round(K × N) lines in use, N = ready agents + agents on a live call (lines counted as VICIdial does).</summary>
public sealed class RatioPacer(double ratio) : IPacer
{
    public string Name => FormattableString.Invariant($"ratio:{ratio}");
    public bool ReactsToEvents => true;

    public PacingDecision Decide(DialerState s)
    {
        var goal = (int)Math.Round(ratio * (s.Count(AgentState.Ready) + s.Count(AgentState.Talking)), MidpointRounding.AwayFromZero);
        return new(Math.Max(0, goal - s.LinesInUse), s.Now + 1);
    }
}

/// <summary>
/// Agentless broadcast: a Poisson stream of λ calls a second, no agent reservation. With callee patience 0
/// and exponential talk its drop fraction must equal Erlang B — the simulator's queueing check.
/// </summary>
public sealed class FixedRatePacer(double callsPerSecond, ulong seed) : IPacer
{
    private ulong _rng = seed ^ 0x9E3779B97F4A7C15UL;
    private double _next = double.NaN;

    public string Name => FormattableString.Invariant($"fixed-rate:{callsPerSecond}");
    public bool ReactsToEvents => false;

    public PacingDecision Decide(DialerState s)
    {
        if (double.IsNaN(_next)) _next = s.Now + Gap();
        var n = 0;
        while (_next <= s.Now)
        {
            n++;
            _next += Gap();
        }
        return new(n, _next);
    }

    private double Gap()
    {
        // SplitMix64 → uniform in (0,1] → exponential gap.
        var z = _rng += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        var u = ((z >> 11) + 1) * (1.0 / (1UL << 53));
        return -Math.Log(u) / callsPerSecond;
    }
}
