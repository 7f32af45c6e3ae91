using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

/// <summary>
/// The abandonment controller: how much overflow risk a dial may take, from the abandon budget left today
/// and over 30 days. risk = target · e^(gain · margin), margin = target · live answers − abandons (the
/// abandons still affordable), so each abandon over budget tightens and each quiet stretch loosens, and the
/// day's rate is steered onto the target. At 95% of the cap only near-certain supply is dialed for.
/// </summary>
public static class AbandonBudget
{
    public const double MinRisk = 1e-4, MaxRisk = 0.6;

    public static double AllowedRisk(DialerState s, double target, double gain, double maxCredit)
    {
        var l = s.Ledger;
        var cap = s.Config.AbandonCap;
        if ((l.LiveToday >= 30 && l.RateToday >= cap * 0.95) || (l.Live30 >= 30 && l.Rate30 >= cap * 0.95)) return MinRisk;
        var margin = Math.Min(target * l.LiveToday - l.AbandonedToday, target * l.Live30 - l.Abandoned30);
        margin = Math.Min(margin, maxCredit);
        return Math.Clamp(target * Math.Exp(gain * margin), MinRisk, MaxRisk);
    }
}
