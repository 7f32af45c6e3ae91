using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// An attempt the campaign made before this engine started (read from the store), as <see cref="DialerEngine.Learn"/> takes
/// it: <see cref="Lead"/> carries what a predictor looks at (region, time zone), not the number; <see cref="Attempt"/> is
/// the attempt's number on its lead (1: the first), which a predictor that tells first attempts from retries needs.
/// </summary>
public readonly record struct PastAttempt(Lead Lead, DateTime PlacedAt, DateTime? AnsweredAt, DateTime? ConnectedAt, DateTime EndedAt, CallOutcome Outcome,
    int Attempt = 1)
{
    /// <summary>A live person answered (whether an agent reached them or not).</summary>
    public bool Live => Outcome is CallOutcome.Human or CallOutcome.Abandoned;
}
