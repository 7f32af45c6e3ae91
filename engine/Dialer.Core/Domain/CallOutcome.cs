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
    public static string ToCsv(this CallOutcome o) => o switch
    {
        CallOutcome.Human => "human",
        CallOutcome.Machine => "machine",
        CallOutcome.Busy => "busy",
        CallOutcome.NoAnswer => "no_answer",
        CallOutcome.Congestion => "congestion",
        CallOutcome.BadNumber => "bad_number",
        CallOutcome.Rejected => "rejected",
        CallOutcome.Abandoned => "abandoned",
        _ => throw new ArgumentOutOfRangeException(nameof(o), o, "no CSV name for this outcome"),
    };

    public static bool TryParse(ReadOnlySpan<char> s, out CallOutcome outcome)
    {
        outcome = s switch
        {
            "human" => CallOutcome.Human,
            "machine" => CallOutcome.Machine,
            "busy" => CallOutcome.Busy,
            "no_answer" => CallOutcome.NoAnswer,
            "congestion" => CallOutcome.Congestion,
            "bad_number" => CallOutcome.BadNumber,
            "rejected" => CallOutcome.Rejected,
            "abandoned" => CallOutcome.Abandoned,
            _ => CallOutcome.None,
        };
        return outcome != CallOutcome.None;
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
