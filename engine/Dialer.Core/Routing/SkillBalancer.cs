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
/// the part of their supply the others' expected answers leave over counts: each other requirement's answers are
/// spread over its own able agents in proportion to their supply, and the share that falls on this requirement's
/// agents is taken off. Without that a senior pool that can take anyone was counted whole for high-value callees
/// (18–24% of them abandoned, skill-pools seed 1), and then whole again for each requirement it serves (every lead
/// senior-bound: 12.4% abandoned in the first hour). Leads needing no skill are never held back here.
/// </summary>
internal sealed class SkillBalancer(AgentRouter router)
{
    // Per requirement id (0: none): able agents' supply and its variance (once measured this dial), and live answers:
    // callees waiting and expected of the calls ringing (measured with the first skill-bound lead of a dial), and
    // expected of the calls this dial added (calibrated).
    private double[] _supply = new double[8], _supplyVar = new double[8];
    private double[] _waiting = new double[8], _ringing = new double[8], _demandVar = new double[8], _added = new double[8];
    // Calls ringing, and added by this dial, per requirement: counted as if each brought a live person while the calibration is unsure.
    private int[] _ringingCalls = new int[8], _addedCalls = new int[8];
    private bool[] _measured = new bool[8];
    private SkillRequirement[] _reqs = new SkillRequirement[8];
    // Share of requirement q's answers that falls on requirement r's able agents, at [q * _n + r] (NaN: not known yet).
    private double[] _share = new double[64];
    private int _n = 8;
    private DialerState? _state;
    private Outlook _outlook;
    private double _risk, _allSupply, _factor, _relativeVariance;
    /// <summary>The calibration's relative variance (1 / live answers it remembers) above which a pool is dialed at zero risk only.</summary>
    private const double ColdRelativeVariance = 0.1;
    private bool _callsKnown;

    /// <summary>Forget the last dial's figures; they are recomputed lazily, per requirement, as leads come.</summary>
    public void Begin(DialerState state)
    {
        _state = state;
        _outlook = Forecast.Of(state);
        // Skill-bound answers also meet agents taken meanwhile by calls that need no skill, so this gets a third
        // of the budget the controller allows, whichever pacer runs.
        var cap = state.Config.AbandonCap;
        _risk = AbandonBudget.AllowedRisk(state, cap * 2 / 3, gain: 0.25, maxCredit: 6) / 3;
        // Predictions times how live answers matched them lately, and that match's uncertainty, as the pacer takes them:
        // at a cold start it is unsure, and the first dial for 9 senior agents drew 22 live answers (13 abandoned).
        _factor = state.Calibration.Factor;
        _relativeVariance = state.Calibration.Variance / (_factor * _factor);
        Array.Clear(_measured);
        Array.Clear(_waiting);
        Array.Clear(_ringing);
        Array.Clear(_demandVar);
        Array.Clear(_added);
        Array.Clear(_ringingCalls);
        Array.Clear(_addedCalls);
        Array.Fill(_share, double.NaN);
        _callsKnown = false;
    }

    public bool Accept(Lead lead, float pLive)
    {
        var r = Note(lead.Requirement);
        var p = Math.Min(pLive * _factor, 0.99);
        if (r == 0)
        {
            _added[0] += p;
            return true;
        }
        if (!_callsKnown) MeasureCalls(_state!);
        if (!_measured[r]) MeasureSupply(lead.Requirement);
        // What the other requirements' expected answers take of this one's able agents.
        var taken = 0.0;
        for (var q = 0; q < _n; q++)
        {
            var d = _waiting[q] + _ringing[q] * _factor + _added[q];
            if (q != r && d > 0) taken += d * Share(q, r);
        }
        var supply = Math.Max(0, _supply[r] - taken);
        var left = _supply[r] > 0 ? supply / _supply[r] : 0;
        var coming = _ringing[r] * _factor + _added[r] + p;
        var demand = _waiting[r] + coming;
        // Predicted answers share one calibration error, so its variance grows with their square.
        var variance = _supplyVar[r] * left * left + _demandVar[r] + p * (1 - p) + coming * coming * _relativeVariance;
        if (Gaussian.ExpectedExcess(demand - supply, variance) > _risk * demand) return false;
        // Until a few live answers have come back the predictions may be far off for a pool's leads (a 0.2 prior where
        // senior-bound leads answer at 0.5–0.7), and a small pool has no slack: it is dialed only for agents who can
        // take every call up, as if each brought a live person (zero risk), like the pacer's floor.
        if (_relativeVariance > ColdRelativeVariance && _waiting[r] + _ringingCalls[r] + _addedCalls[r] + 1 > supply) return false;
        _added[r] += p;
        _addedCalls[r]++;
        _demandVar[r] += p * (1 - p);
        return true;
    }

    /// <summary>Share of requirement <paramref name="q"/>'s answers that meets <paramref name="r"/>'s able agents: their part of q's able supply.</summary>
    private double Share(int q, int r)
    {
        ref var share = ref _share[q * _n + r];
        if (!double.IsNaN(share)) return share;
        var s = _state!;
        if (q == 0) return share = _allSupply > 0 ? _supply[r] / _allSupply : 0;
        var reqs = _reqs;
        if (!_measured[q]) MeasureSupply(reqs[q]);
        double both = 0;
        for (var a = 0; a < s.AgentStates.Length; a++)
            if (!s.Leaving[a] && router.CanTake(a, reqs[q]) && router.CanTake(a, reqs[r]))
                both += _outlook.FreeWithin(s.AgentStates[a], s.Now - s.AgentSince[a]);
        return share = _supply[q] > 0 ? both / _supply[q] : 0; // nobody able: its callees take no one's time
    }

    private void MeasureSupply(SkillRequirement req)
    {
        var s = _state!;
        double supply = 0, supplyVar = 0;
        for (var a = 0; a < s.AgentStates.Length; a++)
        {
            if (s.Leaving[a] || !router.CanTake(a, req)) continue;
            var f = _outlook.FreeWithin(s.AgentStates[a], s.Now - s.AgentSince[a]);
            supply += f;
            supplyVar += f * (1 - f);
        }
        _supply[req.Id] = supply;
        _supplyVar[req.Id] = supplyVar;
        _measured[req.Id] = true;
    }

    /// <summary>Every agent's supply, and the live answers expected of the calls up, by requirement.</summary>
    private void MeasureCalls(DialerState s)
    {
        double supply = 0;
        for (var a = 0; a < s.AgentStates.Length; a++)
            if (!s.Leaving[a]) supply += _outlook.FreeWithin(s.AgentStates[a], s.Now - s.AgentSince[a]);
        _allSupply = supply;
        foreach (var c in s.WaitingCalls) _waiting[Note(c.Lead.Requirement)] += 1;
        var calls = s.RingingCalls;
        for (var i = 0; i < s.Ringing; i++)
        {
            var r = Note(calls[i].Lead.Requirement);
            var q = _outlook.StillLive(calls[i].PLive, s.Now - s.RingingPlacedAt[i]);
            _ringing[r] += q;
            _ringingCalls[r]++;
            _demandVar[r] += q * (1 - q);
        }
        _callsKnown = true;
    }

    /// <summary>Room for the requirement's figures; its id.</summary>
    private int Note(SkillRequirement req)
    {
        if (req.Id >= _n) Grow(req.Id);
        _reqs[req.Id] = req;
        return req.Id;
    }

    /// <summary>The share table starts over when it grows (it is cheap to refill).</summary>
    private void Grow(int id)
    {
        var n = Math.Max(id + 1, _n * 2);
        Array.Resize(ref _supply, n);
        Array.Resize(ref _supplyVar, n);
        Array.Resize(ref _waiting, n);
        Array.Resize(ref _ringing, n);
        Array.Resize(ref _ringingCalls, n);
        Array.Resize(ref _addedCalls, n);
        Array.Resize(ref _demandVar, n);
        Array.Resize(ref _added, n);
        Array.Resize(ref _measured, n);
        Array.Resize(ref _reqs, n);
        _share = new double[n * n];
        Array.Fill(_share, double.NaN);
        _n = n;
    }
}
