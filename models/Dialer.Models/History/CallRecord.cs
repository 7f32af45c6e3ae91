namespace Dialer.Models.History;

/// <summary>One attempt from the call history, validated.</summary>
public sealed class CallRecord
{
    public required string LeadId { get; init; }
    public required string Phone { get; init; }
    public required string Region { get; init; }
    public required TimeZoneInfo TimeZone { get; init; }
    public required int Attempt { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required CallOutcome Outcome { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? PolicyExpiry { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];

    /// <summary>The simulator's true live-answer probability, when the history carries p_live_true.</summary>
    public float? PLiveTrue { get; init; }

    /// <summary>Row number in the source CSV (header is row 1); 0 when not read from a file.</summary>
    public int Row { get; init; }

    /// <summary>The lead's previous attempt, linked by <see cref="CallHistory"/>.</summary>
    public CallRecord? Previous { get; internal set; }

    public bool IsLive => Outcome.IsLive();
}

/// <summary>A row that was skipped, with why.</summary>
public sealed record BadRow(int Row, string Field, string Reason)
{
    public override string ToString() => $"row {Row}: {Field}: {Reason}";
}
