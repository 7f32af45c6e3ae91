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
    /// <summary>A command the engine gave (see <see cref="CallCommand"/>) did not happen; the engine decides what now.</summary>
    CommandFailed,
    /// <summary>A trunk can (or can no longer) take calls: its server's event socket or REST is down or slow, its endpoint offline, its breaker open.</summary>
    TrunkState,
    /// <summary>The call's attempt row is durable (an outbox <see cref="IAttemptLog"/> wrote it): the engine may now originate it.</summary>
    AttemptStored,
    /// <summary>Preview: the agent accepted, skipped or asked for a callback on the lead offered (<see cref="EngineEvent.CallId"/> is the offer's id).</summary>
    PreviewDecision,
    /// <summary>Agentless: the call's script is over (<see cref="EngineEvent.Script"/>); a transfer asks for an agent now.</summary>
    ScriptDone,
    /// <summary>A trunk's share of its channels is lowered (or given back): <see cref="EngineEvent.Share"/> of them, at least one.</summary>
    TrunkShare,
    /// <summary>The lead prefetch, found empty at the engine's last look, has leads again: the engine looks at once, not at its next timer.</summary>
    LeadsStocked,
}

public enum PreviewChoice : byte
{
    Accept,
    /// <summary>Not now (<see cref="EngineEvent.Reason"/> says why): offered again after the campaign's skip delay.</summary>
    Skip,
    /// <summary>The customer is to be called at <see cref="EngineEvent.Until"/>.</summary>
    Callback,
}

/// <summary>The commands whose failure comes back to the engine as <see cref="EventKind.CommandFailed"/>.</summary>
public enum CallCommand : byte
{
    Originate,
    /// <summary>Sending an answered call on from AMD to the app failed: a live callee may be waiting.</summary>
    Continue,
    /// <summary>Bridging the callee to the reserved agent failed.</summary>
    Connect,
    SafeHarbor,
    Hangup,
}

/// <summary>Something that happened in the world, posted to the engine by a driver or the API.</summary>
public readonly record struct EngineEvent
{
    public EventKind Kind { get; private init; }
    public long CallId { get; private init; }
    public int Agent { get; private init; }
    public bool Human { get; private init; }
    /// <summary>For a call that ended before answer: busy, no answer, congestion...</summary>
    public CallOutcome Outcome { get; private init; }
    public int Cause { get; private init; }
    public string? Reason { get; private init; }
    /// <summary>When it happened (UTC): Asterisk's own timestamp where it gives one, else arrival; default until the host stamps it.</summary>
    public DateTime At { get; private init; }
    public CallCommand Command { get; private init; }
    public int Trunk { get; private init; }
    /// <summary>For <see cref="EventKind.TrunkState"/>: the trunk takes calls again.</summary>
    public bool Available { get; private init; }
    /// <summary><see cref="EventKind.TrunkShare"/>: the share (0, 1] of the trunk's channels calls may use.</summary>
    public double Share { get; private init; }
    public PreviewChoice Choice { get; private init; }
    /// <summary>For a callback: when.</summary>
    public DateTime Until { get; private init; }
    public Modes.ScriptResult? Script { get; private init; }

    /// <summary>This event, stamped with when it happened (kept if it already has a time).</summary>
    public EngineEvent HappenedAt(DateTime utc) => At == default ? this with { At = utc } : this;

    public static EngineEvent Answered(long callId, bool human, DateTime at = default) => new() { Kind = EventKind.CallAnswered, CallId = callId, Human = human, At = at };
    /// <summary>
    /// A call ended. <paramref name="unansweredOutcome"/>: the driver's verdict on an unanswered call (busy, congestion…), or
    /// <see cref="CallOutcome.Abandoned"/> for a callee matched to an agent who never reached them in time.
    /// </summary>
    public static EngineEvent Ended(long callId, CallOutcome unansweredOutcome = CallOutcome.None, int cause = 16, DateTime at = default) =>
        new() { Kind = EventKind.CallEnded, CallId = callId, Outcome = unansweredOutcome, Cause = cause, At = at };
    public static EngineEvent Login(int agent, DateTime at = default) => new() { Kind = EventKind.AgentLogin, Agent = agent, At = at };
    public static EngineEvent Ready(int agent, DateTime at = default) => new() { Kind = EventKind.AgentReady, Agent = agent, At = at };
    public static EngineEvent Pause(int agent, string reason, DateTime at = default) => new() { Kind = EventKind.AgentPause, Agent = agent, Reason = reason, At = at };
    public static EngineEvent Logout(int agent, DateTime at = default) => new() { Kind = EventKind.AgentLogout, Agent = agent, At = at };
    /// <summary><paramref name="agent"/> is the agent the command concerned (Connect), or −1.</summary>
    public static EngineEvent Failed(long callId, CallCommand command, string reason, int agent = -1, DateTime at = default) =>
        new() { Kind = EventKind.CommandFailed, CallId = callId, Command = command, Reason = reason, Agent = agent, At = at };
    public static EngineEvent Stored(long callId, DateTime at = default) => new() { Kind = EventKind.AttemptStored, CallId = callId, At = at };
    public static EngineEvent Stocked(DateTime at = default) => new() { Kind = EventKind.LeadsStocked, At = at };
    public static EngineEvent TrunkShareOf(int trunk, double share, string reason, DateTime at = default) =>
        new() { Kind = EventKind.TrunkShare, Trunk = trunk, Share = share, Reason = reason, At = at };
    public static EngineEvent Preview(int agent, long offerId, PreviewChoice choice, string? reason = null, DateTime callbackAt = default, DateTime at = default) =>
        new() { Kind = EventKind.PreviewDecision, Agent = agent, CallId = offerId, Choice = choice, Reason = reason, Until = callbackAt, At = at };
    public static EngineEvent ScriptOver(long callId, Modes.ScriptResult result, DateTime at = default) =>
        new() { Kind = EventKind.ScriptDone, CallId = callId, Script = result, At = at };
    public static EngineEvent TrunkAvailability(int trunk, bool available, string reason, DateTime at = default) =>
        new() { Kind = EventKind.TrunkState, Trunk = trunk, Available = available, Reason = reason, At = at };
}
