namespace Dialer.Models.History;

/// <summary>How an attempt ended, as written in the call history CSV.</summary>
public enum CallOutcome
{
    Human,
    Machine,
    Busy,
    NoAnswer,
    Congestion,
    BadNumber,
    Rejected,
    Abandoned,
}

public static class CallOutcomes
{
    /// <summary>The CSV spellings, indexed by <see cref="CallOutcome"/>.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["human", "machine", "busy", "no_answer", "congestion", "bad_number", "rejected", "abandoned"];

    /// <summary>The model's label: a live person answered (abandoned calls were answered live too).</summary>
    public static bool IsLive(this CallOutcome outcome) => outcome is CallOutcome.Human or CallOutcome.Abandoned;

    public static string ToCsv(this CallOutcome outcome) => Names[(int)outcome];

    public static bool TryParse(ReadOnlySpan<char> text, out CallOutcome outcome)
    {
        for (int i = 0; i < Names.Count; i++)
        {
            if (text.Equals(Names[i], StringComparison.OrdinalIgnoreCase))
            {
                outcome = (CallOutcome)i;
                return true;
            }
        }
        outcome = default;
        return false;
    }
}
