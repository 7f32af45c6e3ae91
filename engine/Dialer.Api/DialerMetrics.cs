using System.Text.Json;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Prometheus;

namespace Dialer.Api;

/// <summary>
/// Prometheus `/metrics` (text exposition, prometheus-net) for the engines running on this node. The engine loop owns
/// its state, so nothing is counted on the hot path: each scrape reads every engine with one
/// <see cref="EngineHost.QueryAsync{T}"/> (a snapshot copied on the loop) and sets the series from it. An engine that
/// does not answer within the timeout shows <c>dialer_engine_up 0</c> and keeps its last values; a stopped campaign's
/// series go away, and a restarted engine's counters start again from 0 (a reset, which rate() handles).
/// </summary>
public sealed class DialerMetrics
{
    public const string Path = "/metrics";
    /// <summary>Answer → agent buckets, seconds: the 2 s safe-harbor limit is the last one that matters.</summary>
    private static readonly double[] BridgeBuckets = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2];
    /// <summary>Engine step buckets, seconds: 16 µs to 262 ms by powers of 4 (the engine's bins are powers of 2).</summary>
    private static readonly double[] StepBuckets = [16e-6, 64e-6, 256e-6, 1.024e-3, 4.096e-3, 16.384e-3, 65.536e-3, 262.144e-3];
    private static readonly string[] StepNames = ["tick", "event"];
    private static readonly string[] PhaseNames = Names<CallPhase>();
    private static readonly string[] AgentStateNames = Names<AgentState>();

    private readonly EngineRegistry _engines;
    private readonly EventHub _hub;
    private readonly Webhooks? _webhooks;
    private readonly TimeSpan _timeout;
    private readonly SemaphoreSlim _gate = new(1, 1); // two scrapes at once would both apply the same histogram deltas
    private readonly Dictionary<string, CampaignSeries> _campaigns = new(StringComparer.Ordinal);

    private readonly Counter _placed, _live, _machine, _abandoned, _ariReconnects, _clientsCut, _outboxFailures, _webhookDeliveries, _webhookRetries;
    private readonly Gauge _calls, _trunkInUse, _trunkChannels, _trunkAvailable, _abandonRate, _abandonCap, _dialLevel, _agents, _up, _ariConnected, _eventClients, _outboxDepth, _webhookQueued;
    private readonly Histogram _answerToAgent, _step;

    public DialerMetrics(EngineRegistry engines, EventHub hub, TimeSpan? queryTimeout = null, Webhooks? webhooks = null)
    {
        _engines = engines;
        _hub = hub;
        _webhooks = webhooks;
        _timeout = queryTimeout ?? TimeSpan.FromSeconds(2);
        var f = Metrics.WithCustomRegistry(Registry);
        string[] ct = ["campaign", "trunk"];
        _placed = f.CreateCounter("dialer_calls_placed_total", "Calls originated, by campaign and trunk.", ct);
        _live = f.CreateCounter("dialer_live_answers_total", "Calls a live person answered.", ct);
        _machine = f.CreateCounter("dialer_machine_answers_total", "Calls an answering machine answered.", ct);
        _abandoned = f.CreateCounter("dialer_abandoned_total", "Live answers no agent reached within the safe-harbor time.", ct);
        _calls = f.CreateGauge("dialer_calls", "Calls up now, by phase (ringing, waiting, connected, safe_harbor, machine).", "campaign", "trunk", "phase");
        _trunkInUse = f.CreateGauge("dialer_trunk_channels_in_use", "Trunk channels this campaign holds.", ct);
        _trunkChannels = f.CreateGauge("dialer_trunk_channels", "Channels the carrier allows on the trunk.", ct);
        _trunkAvailable = f.CreateGauge("dialer_trunk_available", "1 when the trunk takes calls, 0 while it is out (breaker, endpoint down).", ct);
        _abandonRate = f.CreateGauge("dialer_abandon_rate", "Abandoned per live answer, window today (campaign-local day) or 30d (rolling): what the cap is judged on.", "campaign", "window");
        _abandonCap = f.CreateGauge("dialer_abandon_cap", "The campaign's abandon-rate cap.", "campaign");
        _dialLevel = f.CreateGauge("dialer_dial_level", "Calls in flight per agent ready or talking.", "campaign");
        _agents = f.CreateGauge("dialer_agents", "Agents by state (logged_out, ready, talking, wrap_up, paused).", "campaign", "state");
        _answerToAgent = f.CreateHistogram("dialer_answer_to_agent_seconds", "Live answer → agent bridged (from the engine's millisecond bins).",
            ["campaign"], new HistogramConfiguration { Buckets = BridgeBuckets });
        _step = f.CreateHistogram("dialer_engine_step_seconds", "Time the engine took over one pacing decision (step=tick) or one event (step=event), from the host's power-of-two microsecond bins.",
            ["campaign", "step"], new HistogramConfiguration { Buckets = StepBuckets });
        _outboxDepth = f.CreateGauge("dialer_outbox_depth", "Attempt writes queued for the store; new calls wait while it is backed up (5,000 queued or the oldest 250 ms old).", "campaign");
        _outboxFailures = f.CreateCounter("dialer_outbox_write_failures_total", "Store writes of the outbox that failed (retried whole with back-off).", "campaign");
        _webhookDeliveries = f.CreateCounter("dialer_webhook_deliveries_total", "Webhook deliveries by result: delivered, failed (given up after its retries), dropped (its queue was full).", "result");
        _webhookRetries = f.CreateCounter("dialer_webhook_retries_total", "Webhook deliveries sent again after a failure.");
        _webhookQueued = f.CreateGauge("dialer_webhook_queued", "Events waiting for a webhook delivery.");
        _up = f.CreateGauge("dialer_engine_up", "1 when the campaign's engine answered this scrape, 0 when it did not in time.", "campaign");
        _ariConnected = f.CreateGauge("dialer_ari_connected", "1 while the engine's events connection to the Asterisk server is up.", "campaign", "server");
        _ariReconnects = f.CreateCounter("dialer_ari_reconnects_total", "Times the engine's events connection to the Asterisk server came back after a drop.", "campaign", "server");
        _eventClients = f.CreateGauge("dialer_event_clients", "Clients on the /events stream.");
        _clientsCut = f.CreateCounter("dialer_event_clients_cut_total", "/events clients cut off for reading too slowly (they resume with Last-Event-ID).");
        Registry.AddBeforeCollectCallback(CollectAsync);
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    /// <summary>Serves the app's <see cref="DialerMetrics"/> at <see cref="Path"/> (the API key middleware guards it).</summary>
    public static void Map(WebApplication app, EngineRegistry engines, EventHub hub, Webhooks webhooks) =>
        app.MapMetrics(Path, new DialerMetrics(engines, hub, webhooks: webhooks).Registry);

    /// <summary>The token of an <c>Authorization: Bearer …</c> header, or empty.</summary>
    public static string BearerToken(HttpRequest req) =>
        req.Headers.Authorization.ToString() is var h && h.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? h[7..].Trim() : "";

    private async Task CollectAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var running = _engines.All.ToList();
            foreach (var (name, series) in _campaigns.ToList())
                if (!running.Any(r => r.Key == name && ReferenceEquals(r.Value, series.Host))) Forget(name); // stopped, or restarted
            var snapshots = await Task.WhenAll(running.Select(r => EngineSnapshot.TryReadAsync(r.Value, _timeout, ct)));
            for (var i = 0; i < running.Count; i++)
            {
                var (name, host) = running[i];
                if (!_campaigns.TryGetValue(name, out var series)) _campaigns[name] = series = new CampaignSeries(host);
                series.Keep(_up.WithLabels(name)).Set(snapshots[i] is null ? 0 : 1);
                if (snapshots[i] is { } s) Publish(name, series, s);
                if (_engines.Started(name)?.Outbox is { } outbox)
                {
                    series.Keep(_outboxDepth.WithLabels(name)).Set(outbox.Backlog);
                    series.Keep(_outboxFailures.WithLabels(name)).IncTo(outbox.WriteFailures);
                }
                foreach (var link in _engines.Started(name)?.Links ?? [])
                {
                    series.Keep(_ariConnected.WithLabels(name, link.Server)).Set(link.Connected ? 1 : 0);
                    series.Keep(_ariReconnects.WithLabels(name, link.Server)).IncTo(Math.Max(0, link.Connects - 1));
                }
            }
            _eventClients.Set(_hub.Clients);
            if (_webhooks is { } w)
            {
                _webhookDeliveries.WithLabels("delivered").IncTo(w.Delivered);
                _webhookDeliveries.WithLabels("failed").IncTo(w.Failed);
                _webhookDeliveries.WithLabels("dropped").IncTo(w.Dropped);
                _webhookRetries.IncTo(w.Retries);
                _webhookQueued.Set(w.Queued);
            }
            _clientsCut.IncTo(_hub.ClientsCut);
        }
        finally { _gate.Release(); }
    }

    private void Publish(string campaign, CampaignSeries series, EngineSnapshot s)
    {
        foreach (var t in s.Trunks)
        {
            series.Keep(_placed.WithLabels(campaign, t.Name)).IncTo(t.Placed);
            series.Keep(_live.WithLabels(campaign, t.Name)).IncTo(t.Live);
            series.Keep(_machine.WithLabels(campaign, t.Name)).IncTo(t.Machine);
            series.Keep(_abandoned.WithLabels(campaign, t.Name)).IncTo(t.Abandoned);
            series.Keep(_trunkInUse.WithLabels(campaign, t.Name)).Set(t.InUse);
            series.Keep(_trunkChannels.WithLabels(campaign, t.Name)).Set(t.Channels);
            series.Keep(_trunkAvailable.WithLabels(campaign, t.Name)).Set(t.Available ? 1 : 0);
            for (var p = 0; p < (int)CallPhase.Ended; p++)
                series.Keep(_calls.WithLabels(campaign, t.Name, PhaseNames[p])).Set(t.ByPhase[p]);
        }
        series.Keep(_abandonRate.WithLabels(campaign, "today")).Set(s.AbandonRateToday);
        series.Keep(_abandonRate.WithLabels(campaign, "30d")).Set(s.AbandonRate30);
        series.Keep(_abandonCap.WithLabels(campaign)).Set(s.AbandonCap);
        series.Keep(_dialLevel.WithLabels(campaign)).Set(s.DialLevel);
        for (var a = 0; a < s.Agents.Length; a++) series.Keep(_agents.WithLabels(campaign, AgentStateNames[a])).Set(s.Agents[a]);
        // The engine keeps whole-millisecond bins; what arrived since the last scrape is observed at its bin's value.
        var h = series.Keep(_answerToAgent.WithLabels(campaign));
        var seen = series.SeenAnswerToAgentMs;
        for (var ms = 0; ms < s.AnswerToAgentMs.Length; ms++)
            if (s.AnswerToAgentMs[ms] - (ms < seen.Length ? seen[ms] : 0) is var arrived and > 0) h.Observe(ms / 1000.0, arrived);
        series.SeenAnswerToAgentMs = s.AnswerToAgentMs;
        // Steps likewise: what each power-of-two bin gained since the last scrape, observed at the bin's lower bound.
        for (var k = 0; k < s.StepMicros.Length; k++)
        {
            var step = series.Keep(_step.WithLabels(campaign, StepNames[k]));
            var before = k < series.SeenStepMicros.Length ? series.SeenStepMicros[k] : [];
            for (var bin = 0; bin < s.StepMicros[k].Length; bin++)
                if (s.StepMicros[k][bin] - (bin < before.Length ? before[bin] : 0) is var arrived and > 0)
                    step.Observe(bin == 0 ? 0 : Math.Pow(2, bin - 1) * 1e-6, arrived);
        }
        series.SeenStepMicros = s.StepMicros;
    }

    private void Forget(string campaign)
    {
        foreach (var child in _campaigns[campaign].Children) child.Remove();
        _campaigns.Remove(campaign);
    }

    private static string[] Names<T>() where T : struct, Enum =>
        [.. Enum.GetValues<T>().Select(v => JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()))];

    /// <summary>A campaign's series, so they can all be removed when its engine goes; and what the histogram has seen.</summary>
    private sealed class CampaignSeries(EngineHost host)
    {
        public EngineHost Host { get; } = host;
        public HashSet<ChildBase> Children { get; } = [];
        public long[] SeenAnswerToAgentMs { get; set; } = [];
        public long[][] SeenStepMicros { get; set; } = [];

        public T Keep<T>(T child) where T : ChildBase
        {
            Children.Add(child);
            return child;
        }
    }
}
