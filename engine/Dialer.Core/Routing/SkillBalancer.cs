using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Core.Routing;

/// <summary>
/// The pacer sizes the whole dial; this decides which leads may fill it. A lead that needs skills is dialed
/// only while the agents able to take it (ready, or likely free within the horizon) cover the live answers
/// already expected for that requirement — else a free agent without the skill meets a callee it cannot take,
/// and the callee is abandoned. "Cover" is the pacer's own test: the expected overflow of live answers over
/// able agents (normal approximation) stays within a small share of those answers. Able agents also take the
/// callees of other requirements and of none (an answer goes to the longest-idle agent who may take it), so only
/// the part of their supply the others' expected answers leave over counts, in proportion to all agents' supply:
/// without that, a senior pool that can take anyone was counted whole for high-value callees, and 18–24% of those
/// were abandoned (skill-pools, seed 1). Leads needing no skill are never held back here.
/// </summary>
internal sealed class SkillBalancer(AgentRouter router)
{
    private double[] _supply = new double[8], _supplyVar = new double[8];
    private double[] _demand = new double[8], _demandVar = new double[8];
    private bool[] _known = new bool[8];
    private DialerState? _state;
    private Outlook _outlook;
    private double _risk;
    // Every agent's supply and every call's expected live answers (measured with the first skill-bound lead of a dial),
    // and the live answers this dial has added so far, whatever their requirement.
    private double _allSupply, _allDemand, _added;
    private bool _allKnown;

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
        _allKnown = false;
        _added = 0;
    }

    public bool Accept(Lead lead, float pLive)
    {
        var req = lead.Requirement;
        if (req.Id == 0)
        {
            _added += pLive;
            return true;
        }
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
        // The able agents also take other callees (an answer goes to the longest-idle agent who may take it), about in
        // their share of all agents: what is left for this requirement shrinks as the others' live answers fill supply.
        var others = _allDemand + _added - _demand[r];
        var left = _allSupply > 0 ? Math.Clamp(1 - others / _allSupply, 0, 1) : 0;
        var supply = _supply[r] * left;
        var variance = _supplyVar[r] * left * left + _demandVar[r] + pLive * (1 - pLive);
        if (Gaussian.ExpectedExcess(demand - supply, variance) > _risk * demand) return false;
        _demand[r] = demand;
        _demandVar[r] += pLive * (1 - pLive);
        _added += pLive;
        return true;
    }

    private void Measure(SkillRequirement req)
    {
        var s = _state!;
        if (!_allKnown) MeasureAll(s);
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

    private void MeasureAll(DialerState s)
    {
        double supply = 0, demand = s.Waiting;
        for (var a = 0; a < s.AgentStates.Length; a++)
            if (!s.Leaving[a]) supply += _outlook.FreeWithin(s.AgentStates[a], s.Now - s.AgentSince[a]);
        var calls = s.RingingCalls;
        for (var i = 0; i < s.Ringing; i++) demand += _outlook.StillLive(calls[i].PLive, s.Now - s.RingingPlacedAt[i]);
        (_allSupply, _allDemand, _allKnown) = (supply, demand, true);
    }
}
