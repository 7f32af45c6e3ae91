using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// An attempt the campaign made before this engine started (read from the store), as <see cref="DialerEngine.Learn"/> takes
/// it: <see cref="Lead"/> carries what a predictor looks at (region, time zone), not the number.
/// </summary>
public readonly record struct PastAttempt(Lead Lead, DateTime PlacedAt, DateTime? AnsweredAt, DateTime? ConnectedAt, DateTime EndedAt, CallOutcome Outcome)
{
    /// <summary>A live person answered (whether an agent reached them or not).</summary>
    public bool Live => Outcome is CallOutcome.Human or CallOutcome.Abandoned;
}
