namespace Dialer.Core.Domain;

public enum AgentState : byte
{
    LoggedOut, Ready, Talking, WrapUp, Paused,
    /// <summary>Preview: reading an offered lead, or waiting on the call they accepted (not supply for the pacer).</summary>
    Previewing,
}

/// <summary>A logged-in seat. Index is dense (0..n-1) so state lives in arrays; Id is what platforms call it.</summary>
public sealed class Agent
{
    public required int Index { get; init; }
    public required string Id { get; init; }
    public required SkillSet Skills { get; init; }
    public AgentState State { get; internal set; }
    public DateTime StateSince { get; internal set; }
    public string? PauseReason { get; internal set; }
    public Call? CurrentCall { get; internal set; }
    /// <summary>Skill profile id assigned by the agent router (agents with equal skills share one).</summary>
    internal int Profile { get; set; } = -1;
}
