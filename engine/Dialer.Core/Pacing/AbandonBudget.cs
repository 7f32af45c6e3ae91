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

    /// <summary>
    /// Most chance the calls up at one moment may take today or the 30 days over the cap. The risk above steers the
    /// expected abandons; this bounds their tail where the budget is thin: at a shift start nothing is banked, and one
    /// dial of 134 calls for 25 ready agents (20.4 live answers expected) drew 32, so 7 abandons in 10 s spent a
    /// 136-live-answer day's whole budget (5.15%, cn-auto-renewal seed 4, 12-31). 1% still let one seed's thin day end at
    /// 4 of 133 (3.01%: the factor learned on retries met first attempts), 0.3% kept 10 of 10 seeds under.
    /// </summary>
    public const double BreachChance = 0.003;

    /// <summary>
    /// Abandons the cap still affords today and over 30 days, counting the live answers of the calls still ringing
    /// (<paramref name="expectedLive"/>), which raise the allowance as they come: overflow beyond it breaks the cap.
    /// </summary>
    public static double Slack(DialerState s, double expectedLive)
    {
        var l = s.Ledger;
        var cap = s.Config.AbandonCap;
        // Already over (a thin day's first abandon): any overflow keeps it over, so none is afforded.
        return Math.Max(0, Math.Min(cap * l.LiveToday - l.AbandonedToday, cap * l.Live30 - l.Abandoned30) + cap * expectedLive);
    }

    /// <summary>
    /// Fewer live answers in 30 days than one abandon needs to stay within the cap (34 at 3%: 1 of 33 is 3.03%): the
    /// campaign's first abandon breaks it whatever the pacing. A new campaign's predictive pacer dials only the floor until
    /// then (small-team seed 2 and long-variable seed 5 had 2 abandons among their first 34 live answers); a restart or a
    /// takeover starts from the store's 30 days (AbandonHistory), so only a campaign's first live answers are paced so.
    /// </summary>
    public static bool Cold(DialerState s) => s.Ledger.Live30 * s.Config.AbandonCap < 1;

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
