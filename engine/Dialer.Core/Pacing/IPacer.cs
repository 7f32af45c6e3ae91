using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>"Place this many calls now; ask me again at this time." Data, so it can be logged, tested and replayed.</summary>
public readonly record struct PacingDecision(int CallsToPlace, double NextDecisionAt);

/// <summary>A dialing policy. Reads the engine's state, never changes it; may keep its own memory (e.g. a dial level).</summary>
public interface IPacer
{
    string Name { get; }
    /// <summary>Whether the engine should ask again right after every event, besides at <see cref="PacingDecision.NextDecisionAt"/>.</summary>
    bool ReactsToEvents { get; }
    PacingDecision Decide(DialerState state);
}
