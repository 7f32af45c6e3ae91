using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>An alert raised or cleared, as the stream, the dashboard and the webhooks see it (`alert` event).</summary>
public sealed record AlertEvent(string Campaign, string Rule, string? Trunk, string State, string Severity, string Message,
    IReadOnlyList<string> ActionsTaken, DateTimeOffset At, bool Notify);

/// <summary>
/// The campaigns' alert rules (settings <c>alerts</c>, see <see cref="AlertRule"/>) evaluated on each sample of the
/// <see cref="LiveFeed"/> (once a second, on its thread). A rule whose condition has held for its for_seconds is raised
/// once: an `alert` event (state raised), an audit row, and its actions; it clears (state cleared, audited) when the
/// condition stops holding. An action that fails (the store down while pausing) is reported in the alert's
/// actions_taken as failed, with why, and is not retried until the alert clears and is raised again. A trunk's share
/// lowered by an alert is given back when it clears. Rules, and the dialable leads hopper_low counts, are re-read from
/// the store every 10 s per running campaign (the last figures are kept while the store is down).
/// </summary>
public sealed class Alerts
{
    private static readonly TimeSpan RulesEvery = TimeSpan.FromSeconds(10);
    private const int RecentLength = 100;
    private const int MinTrunkCalls = 20;

    private readonly EngineRegistry _engines;
    private readonly Campaigns _campaigns;
    private readonly AuditLog _audit;
    private readonly EventHub _hub;
    private readonly Action<object> _campaignEvent;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, (DateTimeOffset ReadAt, IReadOnlyList<AlertRule> Rules)> _rules = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Campaign, int Rule, string? Trunk), Condition> _conditions = [];
    private readonly Dictionary<(string Campaign, string Trunk), Queue<(DateTimeOffset At, long Placed, long Live)>> _trunkWindows = [];
    private readonly Dictionary<string, (DateTimeOffset ReadAt, long Leads)> _dialable = new(StringComparer.Ordinal);
    private readonly Func<string, long?> _countDialable;
    private readonly Queue<AlertEvent> _recent = new();
    private readonly object _gate = new(); // the feed evaluates, a stop request forgets: never at once

    /// <param name="campaignEvent">Publishes a campaign's new status (and has the dashboard re-read the list).</param>
    /// <param name="countDialable">A campaign's pending leads due now (null: no such campaign); it may throw when the store is down.</param>
    public Alerts(EngineRegistry engines, Campaigns campaigns, AuditLog audit, EventHub hub, Action<object> campaignEvent, Func<string, long?> countDialable, TimeProvider? time = null)
    {
        _countDialable = countDialable;
        _engines = engines;
        _campaigns = campaigns;
        _audit = audit;
        _hub = hub;
        _campaignEvent = campaignEvent;
        _time = time ?? TimeProvider.System;
    }

    private sealed class Condition
    {
        public DateTimeOffset Since;
        public bool Raised;
        /// <summary>The trunk's index in the engine (-1: none), for giving back a lowered share at clearing.</summary>
        public int TrunkIndex = -1;
    }

    /// <summary>The last 100 alerts raised or cleared, oldest first (the dashboard shows them on opening).</summary>
    public IReadOnlyList<AlertEvent> Recent { get { lock (_recent) return [.. _recent]; } }

    /// <summary>One campaign's sample: <paramref name="s"/> null when its engine did not answer.</summary>
    public void Evaluate(string campaign, EngineSnapshot? s, EngineStatus status)
    {
        lock (_gate) EvaluateLocked(campaign, s, status);
    }

    private void EvaluateLocked(string campaign, EngineSnapshot? s, EngineStatus status)
    {
        var now = _time.GetUtcNow();
        var rules = Rules(campaign, now);
        if (s is not null) RememberTrunks(campaign, s, now, rules);
        var seen = new HashSet<(string, int, string?)>();
        for (var r = 0; r < rules.Count; r++)
            foreach (var (trunk, index, message) in Holding(campaign, rules[r], s, status, now))
            {
                var key = (campaign, r, trunk);
                seen.Add(key);
                if (!_conditions.TryGetValue(key, out var c)) _conditions[key] = c = new Condition { Since = now, TrunkIndex = index };
                if (!c.Raised && (now - c.Since).TotalSeconds >= rules[r].ForSeconds)
                {
                    c.Raised = true;
                    Raise(campaign, rules[r], trunk, index, message, now);
                }
            }
        foreach (var (key, c) in _conditions.Where(kv => kv.Key.Campaign == campaign && !seen.Contains(kv.Key)).ToList())
        {
            _conditions.Remove(key);
            if (c.Raised && key.Rule < rules.Count) Clear(campaign, rules[key.Rule], key.Trunk, c.TrunkIndex, now);
        }
    }

    /// <summary>A campaign that stopped here: its conditions and windows are forgotten (nothing to clear: it no longer dials).</summary>
    public void Forget(string campaign)
    {
        lock (_gate) ForgetLocked(campaign);
    }

    private void ForgetLocked(string campaign)
    {
        foreach (var key in _conditions.Keys.Where(k => k.Campaign == campaign).ToList()) _conditions.Remove(key);
        foreach (var key in _trunkWindows.Keys.Where(k => k.Campaign == campaign).ToList()) _trunkWindows.Remove(key);
        _rules.Remove(campaign);
        _dialable.Remove(campaign);
    }

    private IReadOnlyList<AlertRule> Rules(string campaign, DateTimeOffset now)
    {
        if (_rules.TryGetValue(campaign, out var cached) && now - cached.ReadAt < RulesEvery) return cached.Rules;
        IReadOnlyList<AlertRule> rules;
        try { rules = _campaigns.Find(campaign)?.Settings.Alerts ?? []; }
        catch (Exception) when (cached.Rules is not null) { rules = cached.Rules; } // the store is down: keep the rules read last
        _rules[campaign] = (now, rules);
        return rules;
    }

    /// <summary>Where the rule's condition holds now: the trunk it is about (or null), its index, and what to say.</summary>
    private IEnumerable<(string? Trunk, int Index, string Message)> Holding(string campaign, AlertRule rule, EngineSnapshot? s, EngineStatus status, DateTimeOffset now)
    {
        switch (rule.Kind)
        {
            case "engine_faulted":
                if (status != EngineStatus.Running || s is null)
                    yield return (null, -1, status == EngineStatus.Running ? "the engine did not answer within 2 s" : $"the engine has {status.ToString().ToLowerInvariant()}: {_engines.Find(campaign)?.Fault}");
                break;
            case "abandon_near_cap" when s is not null:
                var worst = Math.Max(s.AbandonRateToday, s.AbandonRate30);
                if (s.AbandonCap > 0 && worst >= rule.Threshold * s.AbandonCap)
                    yield return (null, -1, $"abandon rate {Pct(s.AbandonRateToday, 2)} today, {Pct(s.AbandonRate30, 2)} over 30 days: {Pct(worst / s.AbandonCap, 0)} of the {Pct(s.AbandonCap, 2)} cap (rule: {Pct(rule.Threshold ?? 0, 0)})");
                break;
            case "no_agents" when s is not null:
                if (s.AgentsIn(Core.Domain.AgentState.Ready) + s.AgentsIn(Core.Domain.AgentState.Talking) + s.AgentsIn(Core.Domain.AgentState.WrapUp) == 0)
                    yield return (null, -1, "no agent is ready, talking or in wrap-up");
                break;
            case "trunk_down" when s is not null:
                for (var t = 0; t < s.Trunks.Length; t++)
                    if (!s.Trunks[t].Available) yield return (s.Trunks[t].Name, t, $"trunk {s.Trunks[t].Name} takes no calls");
                break;
            case "trunk_answer_rate_low" when s is not null:
                for (var t = 0; t < s.Trunks.Length; t++)
                    if (TrunkAnswerRate(campaign, s.Trunks[t].Name, rule.ForSeconds, now) is var (rate, calls) && rate < rule.Threshold)
                        yield return (s.Trunks[t].Name, t, $"trunk {s.Trunks[t].Name}: {Pct(rate, 1)} of {calls} calls answered live over {rule.ForSeconds:0} s (rule: under {Pct(rule.Threshold ?? 0, 0)})");
                break;
            case "hopper_low" when s is not null:
                if (Dialable(campaign, now) is { } leads && leads < rule.Threshold)
                    yield return (null, -1, $"{leads} leads due to dial (rule: under {rule.Threshold:0}): the campaign is running out of supply");
                break;
            case "agents_idle" when s is not null:
                var ready = s.Seats.Where(a => a.State == Core.Domain.AgentState.Ready).ToList();
                if (ready.Count > 0 && ready.Average(a => a.SecondsInState) is var idle && idle >= rule.Threshold)
                    yield return (null, -1, $"{ready.Count} ready agents have waited {idle:0} s on average for a call (rule: {rule.Threshold:0} s)");
                break;
            case "safe_harbor_late" when s is not null:
                if (s.SafeHarborLateP99Ms >= rule.Threshold)
                    yield return (null, -1, $"safe-harbor messages start {s.SafeHarborLateP99Ms:0} ms past the callee's deadline (99th percentile; rule: {rule.Threshold:0} ms)");
                break;
            case "outbox_backlog":
                if (_engines.Started(campaign)?.Outbox is { } outbox && outbox.Backlog >= rule.Threshold)
                    yield return (null, -1, $"{outbox.Backlog} attempt writes queued for the store (rule: {rule.Threshold:0}); new calls wait for it");
                break;
        }
    }

    /// <summary>The campaign's dialable leads, counted at most every 10 s; null while the store has not answered yet.</summary>
    private long? Dialable(string campaign, DateTimeOffset now)
    {
        if (_dialable.TryGetValue(campaign, out var last) && now - last.ReadAt < RulesEvery) return last.Leads;
        try { if (_countDialable(campaign) is { } n) _dialable[campaign] = last = (now, n); }
        catch (Exception) { } // the store is down: the last count stands (none yet: the rule waits)
        return _dialable.ContainsKey(campaign) ? last.Leads : null;
    }

    private static string Pct(double share, int decimals) => (share * 100).ToString(decimals == 0 ? "0" : "0." + new string('0', decimals), System.Globalization.CultureInfo.InvariantCulture) + "%";

    /// <summary>Keeps each trunk's counters over the longest window a rule asks for.</summary>
    private void RememberTrunks(string campaign, EngineSnapshot s, DateTimeOffset now, IReadOnlyList<AlertRule> rules)
    {
        var longest = rules.Where(r => r.Kind == "trunk_answer_rate_low").Select(r => r.ForSeconds).DefaultIfEmpty(0).Max();
        if (longest == 0) return;
        foreach (var t in s.Trunks)
        {
            if (!_trunkWindows.TryGetValue((campaign, t.Name), out var q)) _trunkWindows[(campaign, t.Name)] = q = new();
            q.Enqueue((now, t.Placed, t.Live));
            while (q.Count > 1 && (now - q.Peek().At).TotalSeconds > longest + 1) q.Dequeue();
        }
    }

    /// <summary>Live answers per call over the last <paramref name="seconds"/>; null until the window is covered and has 20 calls.</summary>
    private (double Rate, long Calls)? TrunkAnswerRate(string campaign, string trunk, double seconds, DateTimeOffset now)
    {
        if (!_trunkWindows.TryGetValue((campaign, trunk), out var q) || q.Count < 2) return null;
        var first = q.FirstOrDefault(p => (now - p.At).TotalSeconds <= seconds + 1);
        if ((now - q.Peek().At).TotalSeconds < seconds) return null; // the window is not covered yet
        var last = q.Last();
        var calls = last.Placed - first.Placed;
        return calls < MinTrunkCalls ? null : ((double)(last.Live - first.Live) / calls, calls);
    }

    private void Raise(string campaign, AlertRule rule, string? trunk, int trunkIndex, string message, DateTimeOffset now)
    {
        var taken = new List<string>();
        foreach (var action in rule.Actions)
            try
            {
                switch (action)
                {
                    case "pause_campaign":
                        if (_campaigns.Find(campaign) is { Status: CampaignStatus.Running } c)
                        {
                            _campaigns.SetStatus(c.Id, CampaignStatus.Paused, now.UtcDateTime);
                            _campaignEvent(new { campaign, status = "paused", by = $"alert {rule.Kind}" });
                            taken.Add("pause_campaign");
                        }
                        break;
                    case "trunk_out":
                        if (_engines.Find(campaign) is { } host && trunkIndex >= 0)
                        {
                            _ = host.PostAsync(EngineEvent.TrunkAvailability(trunkIndex, false, $"alert {rule.Kind}: {message}")).AsTask();
                            taken.Add($"trunk_out {trunk}");
                        }
                        break;
                    case "trunk_share":
                        if (_engines.Find(campaign) is { } shared && trunkIndex >= 0)
                        {
                            _ = shared.PostAsync(EngineEvent.TrunkShareOf(trunkIndex, rule.Share, $"alert {rule.Kind}: {message}")).AsTask();
                            taken.Add($"trunk_share {trunk} {Pct(rule.Share, 0)}");
                        }
                        break;
                    case "notify":
                        taken.Add("notify");
                        break;
                }
            }
            catch (Exception e) { taken.Add($"{action} failed: {Core.Text.Redact.Numbers(e.Message)}"); }
        Publish(campaign, rule, trunk, "raised", message, taken, now);
    }

    /// <summary>The condition stopped holding: a trunk share the alert lowered is given back, and the clearing told.</summary>
    private void Clear(string campaign, AlertRule rule, string? trunk, int trunkIndex, DateTimeOffset now)
    {
        var taken = new List<string>();
        if (rule.Actions.Contains("trunk_share") && trunkIndex >= 0 && _engines.Find(campaign) is { } host)
            try
            {
                _ = host.PostAsync(EngineEvent.TrunkShareOf(trunkIndex, 1, $"alert {rule.Kind} cleared")).AsTask();
                taken.Add($"trunk_share {trunk} 100%");
            }
            catch (Exception e) { taken.Add($"trunk_share failed: {Core.Text.Redact.Numbers(e.Message)}"); }
        Publish(campaign, rule, trunk, "cleared", "the condition no longer holds", taken, now);
    }

    private void Publish(string campaign, AlertRule rule, string? trunk, string state, string message, List<string> taken, DateTimeOffset now)
    {
        var severity = rule.Kind == "engine_faulted" || rule.Actions.Contains("pause_campaign") ? "critical" : "warning";
        var alert = new AlertEvent(campaign, rule.Kind, trunk, state, severity, message, taken, now, rule.Actions.Contains("notify"));
        lock (_recent)
        {
            _recent.Enqueue(alert);
            while (_recent.Count > RecentLength) _recent.Dequeue();
        }
        _hub.Publish("alert", alert, state);
        try { _audit.Write("alerts", $"alert {state}", $"campaign:{campaign}", $"{rule.Kind}{(trunk is null ? "" : " " + trunk)}: {message}; actions: {string.Join(", ", taken)}", now.UtcDateTime); }
        catch (Exception) { } // the store is down: the alert still went out on the stream; the audit row is lost with it
    }
}
