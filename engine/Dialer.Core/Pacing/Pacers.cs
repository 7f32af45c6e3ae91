using System.Globalization;

namespace Dialer.Core.Pacing;

/// <summary>Builds a pacer from its command-line name: progressive, ratio:K, vicidial-hard|tapered|average, fixed-rate:λ, predictive.</summary>
public static class Pacers
{
    public static readonly string[] Compared = ["progressive", "ratio:2", "vicidial-hard", "vicidial-tapered", "vicidial-average", "predictive"];

    public static IPacer Create(string name, VicidialOptions vicidial, PredictiveOptions predictive, ulong seed)
    {
        var (kind, arg) = name.IndexOf(':') is var i and >= 0 ? (name[..i], name[(i + 1)..]) : (name, null);
        return kind switch
        {
            "progressive" when arg is null => new ProgressivePacer(),
            "ratio" => new RatioPacer(Positive(name, arg)),
            "fixed-rate" => new FixedRatePacer(Positive(name, arg), seed),
            "vicidial-hard" when arg is null => new VicidialPacer(VicidialDropClamp.HardLimit, vicidial),
            "vicidial-tapered" when arg is null => new VicidialPacer(VicidialDropClamp.Tapered, vicidial),
            "vicidial-average" when arg is null => new VicidialPacer(VicidialDropClamp.Average, vicidial),
            "predictive" when arg is null => new PredictivePacer(predictive),
            "agentless" => Agentless(name, arg),
            _ => throw new ArgumentException(
                $"unknown pacer '{name}': expected progressive, ratio:K, vicidial-hard, vicidial-tapered, vicidial-average, fixed-rate:λ, predictive or agentless:LINES/RATE"),
        };
    }

    /// <summary>agentless:LINES/RATE — at most LINES calls up and RATE new calls a second (agentless survey and notice campaigns).</summary>
    private static AgentlessPacer Agentless(string name, string? arg)
    {
        var slash = arg?.IndexOf('/') ?? -1;
        if (slash < 0 || !int.TryParse(arg![..slash], NumberStyles.None, CultureInfo.InvariantCulture, out var lines) || lines < 1)
            throw new ArgumentException($"pacer '{name}': expected agentless:LINES/RATE, e.g. agentless:60/5 (60 calls up, 5 new calls a second)");
        return new AgentlessPacer(lines, Positive(name, arg[(slash + 1)..]));
    }

    private static double Positive(string name, string? arg) =>
        double.TryParse(arg, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v
            : throw new ArgumentException($"pacer '{name}': '{arg}' is not a positive number");
}
