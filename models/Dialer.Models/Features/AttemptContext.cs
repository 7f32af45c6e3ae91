using Dialer.Models.History;

namespace Dialer.Models.Features;

/// <summary>
/// What is known about a lead at the moment of an attempt: the only input to feature extraction,
/// built from a history row for training and from the lead's state for serving.
/// </summary>
public readonly record struct AttemptContext(
    string Region,
    TimeZoneInfo TimeZone,
    DateTimeOffset At,
    int Attempt,
    DateTimeOffset? LastAttemptAt,
    CallOutcome? LastOutcome,
    DateTimeOffset? CreatedAt,
    DateTimeOffset? PolicyExpiry,
    IReadOnlyList<string>? Tags)
{
    /// <summary>The context of a history row, with the lead's previous attempt as "last".</summary>
    public static AttemptContext FromHistory(CallRecord record) => new(
        record.Region,
        record.TimeZone,
        record.StartedAt,
        record.Attempt,
        record.Previous?.StartedAt,
        record.Previous?.Outcome,
        record.CreatedAt,
        record.PolicyExpiry,
        record.Tags);
}
