using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>When a lead is dialed again after an attempt: the one rule every hopper applies.</summary>
public static class Retry
{
    /// <summary>Renewals expiring within this many days are never held back for a better hour.</summary>
    public const int UrgentDays = 7;

    /// <summary>
    /// The time the lead may be dialed next, or null when it is retired (out of attempts, or an outcome with
    /// no retry delay: reached, refused, bad number). With <paramref name="bestTime"/>, the retry goes to the
    /// open hour (within a day of when it could first be made) with the highest predicted live-answer rate.
    /// First attempts never wait for it: fresh leads keep the agents fed at every hour, and a lead with no
    /// history is where a model knows least.
    /// </summary>
    public static DateTime? Next(CampaignConfig config, Lead lead, CallOutcome outcome, DateTime utcNow, IAnswerPredictor? bestTime)
    {
        if (Delay(config, lead.Attempts, outcome) is not { } delay) return null;
        var earliest = utcNow.AddSeconds(delay);
        return bestTime is null ? earliest : BestHour(config, bestTime, lead, earliest);
    }

    /// <summary>Seconds before a lead with <paramref name="attempts"/> made may be dialed again, or null when it is retired.</summary>
    public static double? Delay(CampaignConfig config, int attempts, CallOutcome outcome) =>
        attempts < config.MaxAttempts && config.RetryDelaySeconds.TryGetValue(outcome, out var delay) ? delay : null;

    private static DateTime BestHour(CampaignConfig config, IAnswerPredictor predictor, Lead lead, DateTime earliest)
    {
        var from = CallingWindow.NextOpen(config, lead, earliest);
        if (lead.PolicyExpiry is { } expiry && expiry.DayNumber - DateOnly.FromDateTime(from).DayNumber <= UrgentDays) return from;
        var best = from;
        var bestP = predictor.PredictLive(lead, from);
        for (var h = 1; h < 24; h++)
        {
            var t = from.AddHours(h);
            if (!CallingWindow.IsOpen(config, lead, t)) continue;
            // Later only when materially better: waiting has a cost of its own.
            if (predictor.PredictLive(lead, t) is var p && p > bestP * 1.05f) (best, bestP) = (t, p);
        }
        return best;
    }
}
