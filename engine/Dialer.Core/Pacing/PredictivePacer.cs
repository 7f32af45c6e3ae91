using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

public sealed record PredictiveOptions
{
    /// <summary>The abandon rate the controller steers to; below the legal cap so noise stays under it.</summary>
    public double TargetAbandonRate { get; init; } = 0.02;
    /// <summary>How hard each abandon over (or under) budget moves the allowed risk: risk × e^(gain · margin).</summary>
    public double Gain { get; init; } = 0.25;
    /// <summary>Most unspent abandon budget the controller may bank (abandons); bounds how bold it gets after a quiet spell.</summary>
    public double MaxCredit { get; init; } = 6;
    /// <summary>Seconds between decisions when nothing happens (it also decides after every event).</summary>
    public double IntervalSeconds { get; init; } = 0.25;
    /// <summary>Hours a day the team works, for what it can take of the lead stock over <see cref="LeadStock.HorizonDays"/>.</summary>
    public double TeamHoursPerDay { get; init; } = 8;
}

/// <summary>
/// Our pacer. Over the next horizon (<see cref="Forecast.Horizon"/>: the time a new call takes to reach a live person, plus the grace)
/// it forecasts supply — ready agents plus each busy agent's chance to be free by then, from the talk and
/// wrap-up times seen so far and how long that agent has been at it — and demand — callees waiting, plus each
/// ringing call's chance to still bring a live person given how long it has rung, plus what new calls would
/// bring, every prediction scaled by how live answers have matched predictions lately (<see cref="LiveCalibration"/>),
/// whose uncertainty widens demand. It places the most calls for which the expected overflow (live callees with
/// no agent, normal approximation) stays within an allowed fraction of the expected live answers. A controller sets that
/// fraction from the abandon budget left today and over 30 days; at the cap it only dials for sure supply. Beyond the expected
/// overflow, the chance that the calls up take the day over the cap is bounded (<see cref="AbandonBudget.BreachChance"/>).
/// When the lead stock will not keep the team busy (<see cref="ListBound"/>), or the campaign has too few live answers in 30 days
/// for one abandon (<see cref="AbandonBudget.Cold"/>), it dials only for sure supply too.
/// </summary>
public sealed class PredictivePacer(PredictiveOptions options) : IPacer
{
    private float[] _ringRatio = [];
    private readonly ExactOverflow _exact = new();
    private readonly float[] _free = new float[ExactOverflow.MaxTerms], _live = new float[ExactOverflow.MaxTerms];
    /// <summary>
    /// For a day after the list last ran dry only the floor is dialed. Once the team empties the list, the list bounds the
    /// conversations whatever the pacer does: dialing ahead of the agents then only reaches the same leads sooner, and each
    /// abandon spends an attempt of a lead the team would have reached anyway. A list that ran dry within the day will again.
    /// </summary>
    public const double ScarceLeadsSeconds = 86_400;
    public string Name => "predictive";
    public bool ReactsToEvents => true;
    /// <summary>Allowed overflow fraction at the last decision (for monitoring).</summary>
    public double Risk { get; private set; }

    public PacingDecision Decide(DialerState s)
    {
        var now = s.Now;
        var next = new PacingDecision(0, now + options.IntervalSeconds);
        if (s.LoggedIn == 0) return next;

        // The zero-risk floor: a call for a ready agent no other call in flight can take cannot overflow, so it is
        // placed even at the cap (progressive's count); a nearly spent budget must not leave a ready agent idle.
        var ready = s.Count(AgentState.Ready);
        var floor = Math.Clamp(ready - s.InFlight, 0, s.FreeChannels);
        if (now - s.LeadsRanOutAt < ScarceLeadsSeconds) return next with { CallsToPlace = floor };
        // Predictions times how live answers have matched them lately; the match's uncertainty is demand's too.
        var factor = s.Calibration.Factor;
        var p = Math.Clamp(double.IsNaN(s.RecentLiveP) ? 0.2 : s.RecentLiveP, 0.01 / factor, 0.99 / factor);
        if (ListBound(s, p * factor) || AbandonBudget.Cold(s)) return next with { CallsToPlace = floor };
        var outlook = Forecast.Of(s);
        var risk = Risk = AbandonBudget.AllowedRisk(s, options.TargetAbandonRate, options.Gain, options.MaxCredit);
        var relativeVariance = s.Calibration.Variance / (factor * factor);
        var n = BusyTerms(s, outlook) + s.Ringing <= ExactOverflow.MaxTerms
            ? MostExact(s, outlook, risk, p, factor, relativeVariance)
            : MostApproximate(s, outlook, risk, p * factor, factor, relativeVariance);
        return next with { CallsToPlace = Math.Max(floor, n) };
    }

    /// <summary>
    /// Whether the lead stock, not the team, will bound the conversations over the next <see cref="LeadStock.HorizonDays"/>: the
    /// live answers the leads due by then still hold are fewer than the logged-in team can talk to in that time. Every lead is
    /// then reached at one call per free agent anyway; dialing ahead only reaches them sooner, at poorer hours, and each abandon
    /// is a conversation lost (cn-auto-renewal, session 13). So, as after the list ran dry, only the floor is dialed.
    /// </summary>
    private bool ListBound(DialerState s, double p)
    {
        if (s.LeadStock is not { Known: true } stock) return false;
        var conversations = s.LoggedIn * options.TeamHoursPerDay * 3600 * LeadStock.HorizonDays / (s.TalkTime.Mean + s.WrapTime.Mean);
        return stock.Reachable(p) < conversations;
    }

    /// <summary>The most new calls for which the exact expected overflow stays within <paramref name="risk"/> of the expected live answers.</summary>
    private int MostExact(DialerState s, in Outlook outlook, double risk, double p, double factor, double relativeVariance)
    {
        var free = _free.AsSpan(0, FillFree(s, outlook, _free));
        var live = _live.AsSpan(0, FillStillLive(s, _live));
        var exact = _exact;
        exact.Begin(s.Count(AgentState.Ready), s.Waiting, free, live, factor, relativeVariance);
        var most = Math.Min(s.FreeChannels, ExactOverflow.MaxNew);
        // Overflow grows faster than demand: the first n that does not fit ends the scan.
        var waiting = s.Waiting; // already counted live: only the answers still to come raise the allowance
        while (exact.Added < most && exact.Add(p))
            if (exact.Overflow() > risk * Math.Max(exact.Demand, 1e-9)
                || exact.ChanceAbove(AbandonBudget.Slack(s, exact.Demand - waiting)) > AbandonBudget.BreachChance) return exact.Added - 1;
        return exact.Added;
    }

    /// <summary>Same test with a normal approximation (many agents and calls, where it is accurate), by bisection.</summary>
    private int MostApproximate(DialerState s, in Outlook outlook, double risk, double p, double factor, double relativeVariance)
    {
        var (supply, varSupply) = Supply(s, outlook);
        var (ringing, varDemand) = RingingDemand(s, Avx2.IsSupported);
        ringing *= factor;
        var waiting = s.Waiting;
        // The largest n with overflow(n) ≤ risk · demand(n): overflow grows faster than demand, so bisect.
        int lo = 0, hi = s.FreeChannels;
        if (!Fits(hi)) while (lo < hi)
        {
            var mid = (lo + hi + 1) >> 1;
            if (Fits(mid)) lo = mid; else hi = mid - 1;
        }
        else lo = hi;
        return lo;

        bool Fits(int n)
        {
            // Predicted live answers share one calibration error, so its variance grows with their square.
            var coming = ringing + n * p;
            var d = waiting + coming;
            var variance = varDemand + varSupply + n * p * (1 - p) + coming * coming * relativeVariance;
            var overflow = Gaussian.ExpectedExcess(d - supply, variance);
            return overflow <= risk * Math.Max(d, 1e-9)
                && Gaussian.Cdf((d - supply - AbandonBudget.Slack(s, coming)) / Math.Sqrt(Math.Max(variance, 1e-12))) <= AbandonBudget.BreachChance;
        }
    }

    /// <summary>Busy agents who may be free within the horizon: the uncertain part of supply (an upper bound: leaving agents are skipped later).</summary>
    private static int BusyTerms(DialerState s, in Outlook outlook) =>
        s.Count(AgentState.WrapUp) + s.Count(AgentState.Paused) + (outlook.TalkCanEndInTime ? s.Count(AgentState.Talking) : 0);

    /// <summary>Each busy agent's chance to be free within the horizon, into <paramref name="into"/>; returns how many.</summary>
    private static int FillFree(DialerState s, in Outlook outlook, float[] into)
    {
        var k = 0;
        var (states, since, leaving, now) = (s.AgentStates, s.AgentSince, s.Leaving, s.Now);
        for (var a = 0; a < states.Length; a++)
            if (outlook.MayBeFree(states[a]) && !leaving[a]) into[k++] = outlook.FreeWithin(states[a], now - since[a]);
        return k;
    }

    /// <summary>Ready agents, plus the chance each busy or paused agent (staying, able to be free in time) is free within the horizon.</summary>
    private static (double Mean, double Var) Supply(DialerState s, in Outlook outlook)
    {
        double mean = s.Count(AgentState.Ready), var = 0;
        var (states, since, leaving, now) = (s.AgentStates, s.AgentSince, s.Leaving, s.Now);
        for (var a = 0; a < states.Length; a++)
        {
            if (!outlook.MayBeFree(states[a]) || leaving[a]) continue;
            var q = outlook.FreeWithin(states[a], now - since[a]);
            mean += q;
            var += q * (1 - q);
        }
        return (mean, var);
    }

    /// <summary>Each ringing call's chance to still bring a live person, into <paramref name="into"/>; returns how many.</summary>
    private int FillStillLive(DialerState s, float[] into)
    {
        var live = s.LiveAnswerDelay.Curve;
        var ratio = RingRatio(live.Table, s.OtherRingTime.Curve.Table);
        var perSecond = (float)live.PerSecond;
        var top = ratio.Length - 1.001f;
        var odds = s.RingingLiveOdds;
        var placed = s.RingingSince;
        for (var i = 0; i < odds.Length; i++) into[i] = StillLive(ratio, odds[i], (float)(s.Now - placed[i]) * perSecond, top);
        return odds.Length;
    }

    /// <summary>Bayes on the call's prior odds with the ring-time ratio at its age (in table bins).</summary>
    private static float StillLive(ReadOnlySpan<float> ratio, float odds, float bins, float top)
    {
        var x = Math.Min(bins, top);
        var b = (int)x;
        var r = ratio[b] + (ratio[b + 1] - ratio[b]) * (x - b);
        return 1f / (1f + odds * r);
    }

    /// <summary>
    /// Live answers still to come from the ringing calls: each call's chance to still bring a live person, by Bayes
    /// q = 1 / (1 + odds · S_other(age) / S_live(age)), with the ratio of the two ring-time curves tabled
    /// once per decision, so a call costs one look-up, a multiply-add and a divide.
    /// </summary>
    internal (double Mean, double Var) RingingDemand(DialerState s, bool vectorize)
    {
        var live = s.LiveAnswerDelay.Curve;
        var other = s.OtherRingTime.Curve;
        var ratio = RingRatio(live.Table, other.Table);
        var perSecond = (float)live.PerSecond; // both ring-time curves share their bins
        // Ages past the table read its last entry; clamping just below it keeps one path for every age.
        var top = ratio.Length - 1.001f;
        var odds = s.RingingLiveOdds;
        var placed = s.RingingSince;
        var now = s.Now;
        var i = 0;
        var (sum, sumSquares) = vectorize ? DemandAvx2(ratio, odds, placed, now, perSecond, top, ref i) : (0f, 0f);
        for (; i < odds.Length; i++)
        {
            var q = StillLive(ratio, odds[i], (float)(now - placed[i]) * perSecond, top);
            sum += q;
            sumSquares += q * q;
        }
        return (sum, sum - sumSquares);
    }

    /// <summary>Eight calls a step: ages, table look-ups by gather, the Bayes update and the sums in AVX2.</summary>
    private static unsafe (float Sum, float SumSquares) DemandAvx2(ReadOnlySpan<float> ratio, ReadOnlySpan<float> odds,
        ReadOnlySpan<double> placed, double now, float perSecond, float top, ref int i)
    {
        var one = Vector256.Create(1f);
        var sum = Vector256<float>.Zero;
        var squares = Vector256<float>.Zero;
        var nowV = Vector256.Create(now);
        var rate = Vector256.Create(perSecond);
        var topV = Vector256.Create(top);
        fixed (float* r = ratio)
        fixed (float* o = odds)
        fixed (double* p = placed)
        {
            for (; i + 8 <= odds.Length; i += 8)
            {
                var age = Vector256.Create(Avx.ConvertToVector128Single(Avx.Subtract(nowV, Avx.LoadVector256(p + i))),
                                           Avx.ConvertToVector128Single(Avx.Subtract(nowV, Avx.LoadVector256(p + i + 4))));
                var x = Avx.Min(Avx.Multiply(age, rate), topV);
                var b = Avx.ConvertToVector256Int32WithTruncation(x);
                var r0 = Avx2.GatherVector256(r, b, 4);
                var r1 = Avx2.GatherVector256(r + 1, b, 4);
                var rr = Avx.Add(r0, Avx.Multiply(Avx.Subtract(r1, r0), Avx.Subtract(x, Avx.ConvertToVector256Single(b))));
                var q = Avx.Divide(one, Avx.Add(one, Avx.Multiply(Avx.LoadVector256(o + i), rr)));
                sum = Avx.Add(sum, q);
                squares = Avx.Add(squares, Avx.Multiply(q, q));
            }
        }
        return (Vector256.Sum(sum), Vector256.Sum(squares));
    }

    private ReadOnlySpan<float> RingRatio(ReadOnlySpan<float> live, ReadOnlySpan<float> other)
    {
        var n = Math.Min(live.Length, other.Length) - 1; // without the closing zeros
        if (_ringRatio.Length != n) _ringRatio = new float[n];
        // Past every live answer seen, a call cannot bring one: ratio "infinite", q = 0.
        for (var i = 0; i < n; i++) _ringRatio[i] = live[i] > 1e-30f ? other[i] / live[i] : 1e30f;
        return _ringRatio;
    }
}
