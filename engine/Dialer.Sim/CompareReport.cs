namespace Dialer.Sim;

/// <summary>One pacer over all seeds: means, and the worst day any seed saw.</summary>
public sealed record PacerSummary
{
    public required string Pacer { get; init; }
    public required int Seeds { get; init; }
    public required double CallsPlaced { get; init; }
    public required double LiveAnswers { get; init; }
    public required double AbandonRate { get; init; }
    public required double WorstDayAbandonRate { get; init; }
    public required double WorstHourAbandonRate { get; init; }
    /// <summary>Seeds in which every simulated day stayed at or under the cap.</summary>
    public required int SeedsWithinCap { get; init; }
    public required double Occupancy { get; init; }
    public required double OccupancyVsOracle { get; init; }
    public required double Utilisation { get; init; }
    public required double IdleSecondsPerAgentHour { get; init; }
    public required double ConnectsPerAgentHour { get; init; }
    public required double LiveConnectsPerAttempt { get; init; }
    public required double AnswerToAgentMsP95 { get; init; }
    public required double TotalCost { get; init; }
}

public sealed record CompareReport
{
    public required string Scenario { get; init; }
    public required double AbandonCap { get; init; }
    /// <summary>Mean over the seeds of each one's <see cref="Oracle"/> bound.</summary>
    public required double OracleOccupancyBound { get; init; }
    public required IReadOnlyList<PacerSummary> Pacers { get; init; }
    /// <summary>Best VICIdial variant whose every day stayed under the cap in every seed (else progressive): the bar predictive is held to.</summary>
    public required string Reference { get; init; }
    /// <summary>predictive's idle seconds per agent-hour ÷ the reference's (goal ≤ 0.5).</summary>
    public required double PredictiveIdleVsReference { get; init; }

    public static CompareReport From(Scenario scenario, IReadOnlyList<SimReport[]> byPacer, double oracleBound)
    {
        var cap = scenario.Campaign.AbandonCap;
        var summaries = byPacer.Select(runs => new PacerSummary
        {
            Pacer = runs[0].Pacer,
            Seeds = runs.Length,
            CallsPlaced = runs.Average(r => r.CallsPlaced),
            LiveAnswers = runs.Average(r => r.LiveAnswers),
            AbandonRate = runs.Average(r => r.AbandonRate),
            WorstDayAbandonRate = runs.Max(r => r.WorstDayAbandonRate),
            WorstHourAbandonRate = runs.Max(r => r.WorstHourAbandonRate),
            SeedsWithinCap = runs.Count(r => r.WorstDayAbandonRate <= cap),
            Occupancy = runs.Average(r => r.Occupancy),
            OccupancyVsOracle = runs.Average(r => r.OccupancyVsOracle),
            Utilisation = runs.Average(r => r.Utilisation),
            IdleSecondsPerAgentHour = runs.Average(r => r.IdleSecondsPerAgentHour),
            ConnectsPerAgentHour = runs.Average(r => r.ConnectsPerAgentHour),
            LiveConnectsPerAttempt = runs.Average(r => r.LiveConnectsPerAttempt),
            AnswerToAgentMsP95 = runs.Max(r => r.AnswerToAgentMsP95),
            TotalCost = runs.Average(r => r.TotalCost),
        }).ToList();
        var compliant = summaries.Where(s => s.Pacer.StartsWith("vicidial-", StringComparison.Ordinal) && s.SeedsWithinCap == s.Seeds)
            .OrderBy(s => s.IdleSecondsPerAgentHour).FirstOrDefault()
            ?? summaries.FirstOrDefault(s => s.Pacer == "progressive");
        var predictive = summaries.FirstOrDefault(s => s.Pacer == "predictive");
        return new CompareReport
        {
            Scenario = scenario.Name,
            AbandonCap = cap,
            OracleOccupancyBound = oracleBound,
            Pacers = summaries,
            Reference = compliant?.Pacer ?? "",
            PredictiveIdleVsReference = predictive is null || compliant is null ? 0 : Metrics.Ratio(predictive.IdleSecondsPerAgentHour, compliant.IdleSecondsPerAgentHour),
        };
    }
}
