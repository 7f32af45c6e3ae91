using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Core.Routing;

/// <summary>
/// The pacer sizes the whole dial; this decides which leads may fill it. A lead that needs skills is dialed
/// only while the agents able to take it (ready, or likely free within the horizon) cover the live answers
/// already expected for that requirement — else a free agent without the skill meets a callee it cannot take,
/// and the callee is abandoned. "Cover" is the pacer's own test: the expected overflow of live answers over
/// able agents (normal approximation) stays within a small share of those answers. Leads needing no skill are
/// never held back here.
/// </summary>
internal sealed class SkillBalancer(AgentRouter router)
{
    private double[] _supply = new double[8], _supplyVar = new double[8];
    private double[] _demand = new double[8], _demandVar = new double[8];
    private bool[] _known = new bool[8];
    private DialerState? _state;
    private Outlook _outlook;
    private double _risk;

    /// <summary>Forget the last dial's figures; they are recomputed lazily, per requirement, as leads come.</summary>
    public void Begin(DialerState state)
    {
        _state = state;
        _outlook = Forecast.Of(state);
        // Skill-bound answers also meet agents taken meanwhile by calls that need no skill, so this gets a third
        // of the budget the controller allows, whichever pacer runs.
        var cap = state.Config.AbandonCap;
        _risk = AbandonBudget.AllowedRisk(state, cap * 2 / 3, gain: 0.25, maxCredit: 6) / 3;
        Array.Clear(_known);
    }

    public bool Accept(Lead lead, float pLive)
    {
        var req = lead.Requirement;
        if (req.Id == 0) return true;
        if (req.Id >= _known.Length)
        {
            var n = Math.Max(req.Id + 1, _known.Length * 2);
            Array.Resize(ref _supply, n);
            Array.Resize(ref _supplyVar, n);
            Array.Resize(ref _demand, n);
            Array.Resize(ref _demandVar, n);
            Array.Resize(ref _known, n);
        }
        if (!_known[req.Id]) Measure(req);
        var r = req.Id;
        var demand = _demand[r] + pLive;
        var variance = _supplyVar[r] + _demandVar[r] + pLive * (1 - pLive);
        if (Gaussian.ExpectedExcess(demand - _supply[r], variance) > _risk * demand) return false;
        _demand[r] = demand;
        _demandVar[r] += pLive * (1 - pLive);
        return true;
    }

    private void Measure(SkillRequirement req)
    {
        var s = _state!;
        double supply = 0, supplyVar = 0, demand = 0, demandVar = 0;
        for (var a = 0; a < s.AgentStates.Length; a++)
        {
            if (s.Leaving[a] || !router.CanTake(a, req)) continue;
            var f = _outlook.FreeWithin(s.AgentStates[a], s.Now - s.AgentSince[a]);
            supply += f;
            supplyVar += f * (1 - f);
        }
        foreach (var c in s.WaitingCalls)
            if (c.Lead.Requirement == req) demand += 1;
        var calls = s.RingingCalls;
        for (var i = 0; i < s.Ringing; i++)
        {
            if (calls[i].Lead.Requirement != req) continue;
            var q = _outlook.StillLive(calls[i].PLive, s.Now - s.RingingPlacedAt[i]);
            demand += q;
            demandVar += q * (1 - q);
        }
        _supply[req.Id] = supply;
        _supplyVar[req.Id] = supplyVar;
        _demand[req.Id] = demand;
        _demandVar[req.Id] = demandVar;
        _known[req.Id] = true;
    }
}
