using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

public enum EventKind : byte
{
    /// <summary>The far end answered; <see cref="EngineEvent.Human"/> tells a person from a machine (AMD).</summary>
    CallAnswered,
    /// <summary>The call is gone (any side hung up, or it never answered: see Outcome/Cause).</summary>
    CallEnded,
    AgentLogin,
    AgentReady,
    AgentPause,
    AgentLogout,
}

/// <summary>Something that happened in the world, posted to the engine by a driver or the API.</summary>
public readonly struct EngineEvent
{
    public EventKind Kind { get; private init; }
    public long CallId { get; private init; }
    public int Agent { get; private init; }
    public bool Human { get; private init; }
    /// <summary>For a call that ended before answer: busy, no answer, congestion...</summary>
    public CallOutcome Outcome { get; private init; }
    public int Cause { get; private init; }
    public string? Reason { get; private init; }

    public static EngineEvent Answered(long callId, bool human) => new() { Kind = EventKind.CallAnswered, CallId = callId, Human = human };
    public static EngineEvent Ended(long callId, CallOutcome unansweredOutcome = CallOutcome.None, int cause = 16) =>
        new() { Kind = EventKind.CallEnded, CallId = callId, Outcome = unansweredOutcome, Cause = cause };
    public static EngineEvent Login(int agent) => new() { Kind = EventKind.AgentLogin, Agent = agent };
    public static EngineEvent Ready(int agent) => new() { Kind = EventKind.AgentReady, Agent = agent };
    public static EngineEvent Pause(int agent, string reason) => new() { Kind = EventKind.AgentPause, Agent = agent, Reason = reason };
    public static EngineEvent Logout(int agent) => new() { Kind = EventKind.AgentLogout, Agent = agent };
}
