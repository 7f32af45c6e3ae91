namespace Dialer.Core.Quality;

/// <summary>Who spoke a segment, as the speech recogniser's diarisation labelled it.</summary>
public enum Speaker : byte { Agent, Customer }

/// <summary>One stretch of speech: seconds from the call's answer, and the recognised text.</summary>
public readonly record struct Segment(Speaker Speaker, double Start, double End, string Text);

/// <summary>
/// A call's transcript from any recogniser, in order of <see cref="Segment.Start"/>. <paramref name="DurationSeconds"/> is how
/// long the call lasted when the caller knows it (silence after the last words counts for a disclosure's deadline);
/// without it the call is taken to end with its last segment.
/// </summary>
public sealed record Transcript(IReadOnlyList<Segment> Segments, double? DurationSeconds = null)
{
    public double Length
    {
        get
        {
            var end = DurationSeconds ?? 0;
            foreach (var s in Segments) end = Math.Max(end, s.End);
            return end;
        }
    }
}
