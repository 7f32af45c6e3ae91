using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Modes;

namespace Dialer.Core.Engine;

/// <summary>
/// Preview and agentless campaigns on the one engine loop: the same hopper order, trunk pick, attempt rows and stats as
/// predictive calls. Preview: the longest-idle ready agent with the skills a lead needs is offered it; only on accept is
/// the call placed, for that agent alone. Agentless: an answered call runs the campaign's script; a transfer ("press 1")
/// goes through agent routing with the same 2 s rule as a predictive call.
/// </summary>
public sealed partial class DialerEngine
{
    private readonly IPreviewDesk? _desk;
    private readonly PreviewOffer?[] _offerOf;
    private readonly List<PreviewOffer> _offers = [];
    private long _nextOfferId = 1;
    private double _offerRetryAt = double.NegativeInfinity;
    private Func<Lead, bool>? _previewable;

    /// <summary>Offers waiting for an agent's decision.</summary>
    public IReadOnlyList<PreviewOffer> Offers => _offers;

    /// <summary>
    /// Told on the loop when an offer is made, decided (accepted, skipped, callback) or taken back (withdrawn, with why), and when:
    /// the event stream's `offer` events. It must only copy what it needs and queue it.
    /// </summary>
    public Action<PreviewOffer, OfferChange, string?, DateTime>? OfferChanged { get; set; }

    /// <summary>Time-outs first (their agents are paused, their leads back in the order), then new offers.</summary>
    private void Offer(double now, DateTime utcNow)
    {
        ExpireOffers(now);
        OfferPreviews(now, utcNow);
    }

    /// <summary>Offers due leads to ready agents able to take them, longest idle first, until either runs out.</summary>
    private void OfferPreviews(double now, DateTime utcNow)
    {
        if (!_s.Config.Previews || Halted || _router.ReadyCount == 0 || now < _offerRetryAt) return;
        _previewable ??= lead => _s.Config.IsPreview(lead) && _router.PickLongestIdle(lead.Requirement) >= 0;
        while (_router.ReadyCount > 0)
        {
            var lead = _leads.Next(utcNow, _previewable);
            if (lead is null)
            {
                _offerRetryAt = now + 1; // nothing due for the agents free now: look again in a second, not at every event
                return;
            }
            var agent = _router.PickLongestIdle(lead.Requirement);
            _router.Remove(agent);
            SetAgentState(agent, AgentState.Previewing, now);
            var offer = new PreviewOffer(_nextOfferId++, _s.Agents[agent], lead, utcNow, utcNow.AddSeconds(_s.Config.PreviewTimeoutSeconds));
            _offerOf[agent] = offer;
            _offers.Add(offer);
            Stats.PreviewsOffered++;
            _desk!.Offer(offer);
            OfferChanged?.Invoke(offer, OfferChange.Offered, null, _s.UtcNow);
        }
    }

    private double NextOfferWake()
    {
        var wake = double.PositiveInfinity;
        foreach (var o in _offers) wake = Math.Min(wake, Seconds(o.Deadline));
        if (_s.Config.Previews && _offerRetryAt > _s.Now && _router.ReadyCount > 0) wake = Math.Min(wake, _offerRetryAt);
        return wake;
    }

    /// <summary>An agent who let the offer time out is probably away: the lead goes back to the head of the order and the agent is paused.</summary>
    private void ExpireOffers(double now)
    {
        for (var i = _offers.Count - 1; i >= 0; i--)
        {
            var o = _offers[i];
            if (Seconds(o.Deadline) > now) continue;
            Withdraw(o, "timed out", now);
            Stats.PreviewsTimedOut++;
            OnAgentPause(o.Agent.Index, "preview timed out", now);
        }
    }

    /// <summary>Takes the offer back: its lead returns untouched and the agent, still previewing, is ready again.</summary>
    private void Withdraw(PreviewOffer offer, string reason, double now)
    {
        _offers.Remove(offer);
        _offerOf[offer.Agent.Index] = null;
        _leads.Release(offer.Lead, _s.UtcNow);
        _desk!.Withdraw(offer, reason);
        OfferChanged?.Invoke(offer, OfferChange.Withdrawn, reason, _s.UtcNow);
        ReadyAgain(offer.Agent.Index, now);
    }

    private void OnPreviewDecision(in EngineEvent e, double now, DateTime utcNow)
    {
        if ((uint)e.Agent >= (uint)_s.Agents.Count || _offerOf[e.Agent] is not { } offer || offer.Id != e.CallId)
        {
            Stats.PreviewDecisionsStale++; // decided after the time-out, or twice: that offer is gone
            return;
        }
        _offers.Remove(offer);
        _offerOf[e.Agent] = null;
        var lead = offer.Lead;
        switch (e.Choice)
        {
            case PreviewChoice.Accept:
                var held = HeldAtAccept(lead, utcNow);
                var trunk = held is not null || Halted || _log is { Accepting: false } ? -1 : _trunks.TryTake(lead.Phone, now);
                if (trunk < 0)
                {
                    // Held by a rule, no line, or the store behind: nothing was dialed; the lead goes back (the hopper holds
                    // it by that rule), the agent may get another.
                    var why = held ?? "no line free to place the call";
                    _leads.Release(lead, utcNow);
                    _desk!.Withdraw(offer, why);
                    OfferChanged?.Invoke(offer, OfferChange.Withdrawn, why, _s.UtcNow);
                    Stats.PreviewsUnplaced++;
                    ReadyAgain(e.Agent, now);
                    return;
                }
                Stats.PreviewsAccepted++;
                OfferChanged?.Invoke(offer, OfferChange.Accepted, null, _s.UtcNow);
                Place(lead, trunk, _predictor.PredictLive(lead, utcNow), now, utcNow, _s.Agents[e.Agent]);
                break;
            case PreviewChoice.Skip:
                Stats.PreviewsSkipped++;
                OfferChanged?.Invoke(offer, OfferChange.Skipped, e.Reason, _s.UtcNow);
                _leads.Reschedule(lead, utcNow.AddSeconds(_s.Config.PreviewSkipRetrySeconds), callback: false, utcNow);
                ReadyAgain(e.Agent, now);
                break;
            case PreviewChoice.Callback:
                Stats.PreviewCallbacks++;
                OfferChanged?.Invoke(offer, OfferChange.Callback, null, _s.UtcNow);
                _leads.Reschedule(lead, e.Until > utcNow ? e.Until : utcNow, callback: true, utcNow);
                ReadyAgain(e.Agent, now);
                break;
        }
    }

    /// <summary>
    /// The offer waited for the agent (up to <c>preview_timeout_seconds</c>): the rules that run by the clock (calling window,
    /// holiday, the policy-expiry lead time) are read again at the yes, as a predictive call is judged when placed. The
    /// lead's own claim is already in its daily count, so it is left out of this look. The rule and why, or null.
    /// </summary>
    private string? HeldAtAccept(Lead lead, DateTime utcNow)
    {
        lead.AttemptsToday--;
        var verdict = ComplianceGate.Check(_s.Config, lead, utcNow);
        lead.AttemptsToday++;
        return verdict.Allowed ? null : $"{verdict.Rule}: {verdict.Reason}";
    }

    /// <summary>
    /// A previewing agent is free again (offer over, or their accepted call ended unanswered): ready, or the pause or
    /// log-out they asked for meanwhile.
    /// </summary>
    private void ReadyAgain(int agent, double now)
    {
        _s.Agents[agent].CurrentCall = null;
        if (_logoutAfterCall[agent])
        {
            _logoutAfterCall[agent] = false;
            _s.Leaving[agent] = false;
            _pauseAfterCall[agent] = null;
            SetAgentState(agent, AgentState.LoggedOut, now);
        }
        else if (_pauseAfterCall[agent] is { } reason)
        {
            _pauseAfterCall[agent] = null;
            _s.Leaving[agent] = false;
            _s.Agents[agent].PauseReason = reason;
            SetAgentState(agent, AgentState.Paused, now);
        }
        else
        {
            SetAgentState(agent, AgentState.Ready, now);
            _router.MarkReady(agent, now);
        }
    }

    /// <summary>A previewing agent pauses or leaves: an open offer is taken back now; a call they accepted is seen out first.</summary>
    private bool LeavePreview(int agent, bool logout, string? reason, double now)
    {
        if (_s.AgentStates[agent] != AgentState.Previewing) return false;
        if (logout) _logoutAfterCall[agent] = true;
        else _pauseAfterCall[agent] = reason;
        _s.Leaving[agent] = true;
        if (_offerOf[agent] is { } offer) Withdraw(offer, logout ? "agent logged out" : "agent paused", now);
        return true;
    }

    private void WithdrawAllOffers(string reason, double now)
    {
        for (var i = _offers.Count - 1; i >= 0; i--) Withdraw(_offers[i], reason, now);
    }

    /// <summary>
    /// A preview call was answered: a person goes straight to the agent who accepted the lead (no wait, so no abandon; the
    /// abandon ledger counts neither its answer nor an abandon, so preview calls cannot dilute a mixed campaign's rate);
    /// a machine is hung up and the agent is free again when the call ends.
    /// </summary>
    private void AnsweredForAgent(Call call, bool human, double now, DateTime utcNow, DateTime at)
    {
        if (!human)
        {
            SetPhase(call, CallPhase.Machine);
            Stats.MachineAnswers++;
            Stats.TrunkMachine[call.Trunk]++;
            HangUp(call);
            return;
        }
        Stats.CountLive(at);
        Stats.TrunkLive[call.Trunk]++;
        Connect(call, call.ReservedFor!.Index, now, utcNow);
    }

    /// <summary>
    /// Agentless: a person (or, for a message, a machine) enters the script. A transfer is offered only while an agent is
    /// logged in and both abandon budgets (today, 30 days) are under the cap; else the script's "unavailable" branch runs.
    /// </summary>
    private void StartScript(Call call, bool machine)
    {
        var script = _s.Config.Script!;
        var ledger = _s.Ledger;
        var cap = _s.Config.AbandonCap;
        var offer = !machine && script.HasTransfer && !Halted && _s.LoggedIn > 0 && ledger.RateToday < cap && ledger.Rate30 < cap;
        SetPhase(call, CallPhase.Script);
        _s.InScript++;
        if (!offer && script.HasTransfer && !machine) Stats.TransfersWithheld++;
        _control.RunScript(call, new ScriptRun(script, offer, machine));
    }

    /// <summary>
    /// The script is over. A transfer is routed like a predictive call's answer, with 2 s from the key press: no agent by
    /// then is an abandon in the ledger, whose live answers are every person the script reached (each heard it at once,
    /// nobody was left in silence) — the same accounting as a predictive campaign's.
    /// </summary>
    private void OnScriptDone(long id, ScriptResult? result, double now, DateTime utcNow, DateTime at)
    {
        if (!_calls.TryGetValue(id, out var call) || call.Phase != CallPhase.Script || result is null) return;
        call.Script = result;
        if (result.End != ScriptEnd.Transfer) return; // the driver hangs up; the call's end closes it
        _s.InScript--;
        call.TransferAt = at < call.AnsweredAt ? call.AnsweredAt : at;
        Stats.Transfers++;
        RouteToAgent(call, now, utcNow);
    }

    /// <summary>When a live callee's 2 s start: their answer, or for an agentless transfer the key press.</summary>
    private static DateTime HeardFrom(Call c) => c.TransferAt ?? c.AnsweredAt!.Value;
}
