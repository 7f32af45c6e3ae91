using System.Globalization;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>
/// Agentless campaigns (survey, notice): nobody waits for an agent, so the dial is set by lines and rate, not by people.
/// Keeps at most <paramref name="maxLines"/> calls up (ringing, in the script, waiting for or talking to an agent after a
/// transfer) and starts at most <paramref name="callsPerSecond"/> a second (a token bucket of one second's worth, so a
/// freed line is refilled at once but a burst never passes the rate). Trunk channels and each trunk's own calls per second
/// still bound it (the engine's trunk pick); the calling window and attempt caps are the hopper's.
/// </summary>
public sealed class AgentlessPacer(int maxLines, double callsPerSecond) : IPacer
{
    private double _tokens = Math.Max(1, callsPerSecond);
    private double _last = double.NaN;

    public string Name => string.Create(CultureInfo.InvariantCulture, $"agentless:{maxLines}/{callsPerSecond}");
    // Every end frees a line: refill it then rather than at the next tick.
    public bool ReactsToEvents => true;

    public PacingDecision Decide(DialerState s)
    {
        var burst = Math.Max(1, callsPerSecond);
        if (!double.IsNaN(_last)) _tokens = Math.Min(burst, _tokens + (s.Now - _last) * callsPerSecond);
        _last = s.Now;
        var lines = s.InFlight + s.InScript + s.Count(Domain.AgentState.Talking);
        var n = (int)Math.Min(Math.Max(0, maxLines - lines), Math.Floor(_tokens));
        _tokens -= n;
        // With lines to fill but no token: ask again when the next one is due.
        var next = lines + n < maxLines ? s.Now + Math.Max(0, 1 - _tokens) / callsPerSecond : s.Now + 1;
        return new(n, Math.Max(next, s.Now + 0.001));
    }
}
