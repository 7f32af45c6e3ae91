namespace Dialer.Core.Domain;

/// <summary>How one call attempt ended, in the words of the call history CSV.</summary>
public enum CallOutcome : byte
{
    None = 0,
    Human,
    Machine,
    Busy,
    NoAnswer,
    Congestion,
    BadNumber,
    Rejected,
    /// <summary>A live person answered and no agent (nor the safe-harbor message) reached them within 2 s.</summary>
    Abandoned,
}

public static class CallOutcomes
{
    /// <summary>The CSV spellings of the real outcomes, in enum order from <see cref="CallOutcome.Human"/>.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["human", "machine", "busy", "no_answer", "congestion", "bad_number", "rejected", "abandoned"];

    public static string ToCsv(this CallOutcome o) =>
        o == CallOutcome.None ? throw new ArgumentOutOfRangeException(nameof(o), o, "no CSV name for this outcome") : Names[(int)o - 1];

    /// <summary>Parses a CSV spelling, any letter case.</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out CallOutcome outcome)
    {
        for (var i = 0; i < Names.Count; i++)
            if (s.Equals(Names[i], StringComparison.OrdinalIgnoreCase))
            {
                outcome = (CallOutcome)(i + 1);
                return true;
            }
        outcome = CallOutcome.None;
        return false;
    }

    /// <summary>Q.850 cause of a call that never answered → outcome (DESIGN.md: classify by cause, not dialstatus).</summary>
    public static CallOutcome FromQ850(int cause) => cause switch
    {
        17 => CallOutcome.Busy,
        18 or 19 => CallOutcome.NoAnswer,
        1 or 3 or 22 or 28 => CallOutcome.BadNumber,
        21 => CallOutcome.Rejected,
        _ => CallOutcome.Congestion,
    };

    /// <summary>Live answer: a person picked up, whether or not an agent reached them.</summary>
    public static bool IsLive(this CallOutcome o) => o is CallOutcome.Human or CallOutcome.Abandoned;
}
