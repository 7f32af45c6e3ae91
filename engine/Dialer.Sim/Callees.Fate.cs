using Dialer.Core.Domain;

namespace Dialer.Sim;

/// <summary>What happens to one attempt: drawn only from (seed, lead, attempt), so every pacer meets the same callees.</summary>
public readonly record struct Fate(CallOutcome Outcome, double At, int Cause, double TalkSeconds, double PatienceSeconds);

/// <summary>The callee model: live-answer probability by region × local hour and lead features, then ring, talk, patience.</summary>
public sealed class CalleeModel(Scenario scenario, ulong seed)
{
    private readonly Callees _c = scenario.Callees;
    private readonly Dictionary<string, Region> _regions = scenario.Regions.ToDictionary(r => r.Name, StringComparer.Ordinal);

    public Region RegionOf(Lead lead) =>
        _regions.TryGetValue(lead.Region, out var r) ? r : throw new InvalidDataException($"lead {lead.Id}: region '{lead.Region}' is not in the scenario");

    /// <summary>True probability a person answers attempt <paramref name="attempt"/> placed at <paramref name="utc"/> (before ring time-out, bad numbers and congestion).</summary>
    public double PLive(Lead lead, int attempt, DateTime utc)
    {
        var region = RegionOf(lead);
        var local = TimeZoneInfo.ConvertTimeFromUtc(utc, region.Zone);
        var p = Math.Clamp(region.LiveAnswer * region.HourFactor[local.Hour], 0.001, 0.95);
        var logit = Math.Log(p / (1 - p)) + _c.AttemptLogOdds * (attempt - 1);
        foreach (var tag in lead.Tags)
            if (_c.TagLogOdds.TryGetValue(tag, out var x)) logit += x;
        if (lead.PolicyExpiry is { } exp && exp.DayNumber - DateOnly.FromDateTime(local).DayNumber <= 7) logit += _c.ExpirySoonLogOdds;
        return 1 / (1 + Math.Exp(-logit));
    }

    /// <summary>
    /// P(outcome is live) for this attempt given all that can be known when it is placed: what a perfect
    /// model would predict (the Bayes limit). Whether the number is dead is not knowable before the first
    /// call (and a dead number is never called again), so first attempts carry the bad-number share.
    /// </summary>
    public double PLiveTrue(Lead lead, int attempt, DateTime utc, int trunk, double ringTimeout) =>
        (attempt == 1 ? 1 - _c.BadNumberShare : 1) * (1 - scenario.TrunkCongestion[trunk]) * PLive(lead, attempt, utc) * _c.RingSeconds.Cdf(ringTimeout);

    public Fate Draw(Lead lead, int attempt, DateTime utc, int trunk, double ringTimeout)
    {
        double U(int stream) => Crn.Uniform(seed, lead.Id, attempt, stream);
        if (IsBadNumber(lead)) return new(CallOutcome.BadNumber, 1 + 2 * U(Crn.Busy), 1, 0, 0);
        if (U(Crn.Congestion) < scenario.TrunkCongestion[trunk]) return new(CallOutcome.Congestion, 0.5, 34, 0, 0);
        var p = PLive(lead, attempt, utc);
        var u = U(Crn.Outcome);
        var ring = _c.RingSeconds.Sample(U(Crn.Ring));
        var noAnswer = new Fate(CallOutcome.NoAnswer, ringTimeout, 19, 0, 0);
        if (u < p)
            return ring <= ringTimeout
                ? new(CallOutcome.Human, ring, 16, _c.TalkSeconds.Sample(U(Crn.Talk)), _c.PatienceSeconds.Sample(U(Crn.Patience)))
                : noAnswer;
        // Some leads have voicemail on, most others never do: "last outcome" carries signal for a model.
        var machine = Math.Min(0.95, _c.MachineShare * (Crn.Uniform(seed, lead.Id, 0, Crn.Voicemail) < 0.5 ? 1.6 : 0.4));
        var rest = (u - p) / (1 - p);
        if (rest < machine)
            return ring + _c.AmdSeconds <= ringTimeout ? new(CallOutcome.Machine, ring + _c.AmdSeconds, 16, 0, 0) : noAnswer;
        if (rest < machine + _c.BusyShare) return new(CallOutcome.Busy, 1 + 3 * U(Crn.Busy), 17, 0, 0);
        return noAnswer;
    }

    private bool IsBadNumber(Lead lead) => Crn.Uniform(seed, lead.Id, 0, Crn.BadNumber) < _c.BadNumberShare;
}
