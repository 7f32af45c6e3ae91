using System.Collections.Concurrent;
using System.Diagnostics;
using Dialer.Ari.Client;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Ari.Driver;

/// <summary>
/// The engine's <see cref="ICallControl"/> on Asterisk. Commands return at once: the REST work is queued per
/// call (so one call's requests keep their order while calls run in parallel). Events come back from each
/// server's event loop and are posted to the engine as <see cref="EngineEvent"/>s.
/// Calls: POST /channels/create + /dial with a ring timeout (or, with AMD, POST /channels and /continue into the
/// AMD context: a created channel is hung up when it leaves Stasis). Agents stay connected: each logged-in
/// agent's phone sits in its own mixing bridge, so connecting a callee is one addChannel. A callee answered on
/// another server than its agent's is bridged there with a leg over the inter-server trunk, which arrives on the
/// agent's server in Stasis(dialer,xfer,AGENT) and joins the agent's bridge.
/// </summary>
public sealed partial class AriDriver : ICallControl, IAriEventSink, IAsyncDisposable
{
    public const string CallPrefix = "dialer-";
    private const string AgentPrefix = "dialer-agent-";
    private const string BridgePrefix = "dialer-bridge-";
    private const string XferSuffix = "-x";

    private readonly AriDriverOptions _options;
    private readonly Dictionary<string, AriClient> _servers;
    private readonly AriClient[] _trunkServer;
    private readonly IReadOnlyList<TrunkConfig> _trunks;
    private readonly Dictionary<string, int> _trunkByEndpoint = new(StringComparer.Ordinal);
    private readonly AgentLine[] _agents;
    private readonly Dictionary<string, AgentLine> _agentById = new(StringComparer.Ordinal);
    // The agent's current phone channel: ours (dialer-agent-…) or one the agent dialed in on (Asterisk's id).
    private readonly ConcurrentDictionary<string, AgentLine> _agentByChannel = new(StringComparer.Ordinal);
    // Inter-server legs (dialer-<call>-x) by channel id → the callee leg they carry to its agent.
    private readonly ConcurrentDictionary<string, Leg> _xfers = new(StringComparer.Ordinal);
    private readonly Func<EngineEvent, ValueTask> _post;
    private readonly Action<int, bool>? _setTrunkAvailable;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Leg> _legs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, TaskCompletionSource> _firstReconcile;
    private Task? _housekeeping;

    /// <param name="post">Where engine events go (EngineHost.PostAsync).</param>
    /// <param name="setTrunkAvailable">Applies a circuit-breaker decision to the engine's trunk router (on the engine loop).</param>
    public AriDriver(AriDriverOptions options, IReadOnlyList<AriClient> servers, IReadOnlyList<TrunkConfig> trunks, IReadOnlyList<Agent> agents,
        Func<EngineEvent, ValueTask> post, Action<int, bool>? setTrunkAvailable = null, TimeProvider? time = null)
    {
        if (servers.Count == 0) throw new ArgumentException("at least one ARI server is needed", nameof(servers));
        _options = options;
        _servers = servers.ToDictionary(s => s.ServerId, StringComparer.Ordinal);
        _firstReconcile = servers.ToDictionary(s => s.ServerId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), StringComparer.Ordinal);
        _trunks = trunks;
        _post = post;
        _setTrunkAvailable = setTrunkAvailable;
        _time = time ?? TimeProvider.System;
        Health = new TrunkHealth(trunks.Count, options);
        var agentServer = Server(options.AgentServer ?? servers[0].ServerId, "agent_server");
        _agents = new AgentLine[agents.Count];
        foreach (var a in agents)
        {
            var server = options.AgentServers.TryGetValue(a.Id, out var sid) ? Server(sid, $"agent '{a.Id}'") : agentServer;
            var line = new AgentLine(a, server, options.AgentEndpoints.TryGetValue(a.Id, out var ep) ? ep : $"PJSIP/{a.Id}");
            _agents[a.Index] = line;
            _agentById[a.Id] = line;
            _agentById.TryAdd(EndpointResource(line.Endpoint), line); // [dialer-agents] passes ${CHANNEL(endpoint)}
            _agentByChannel[line.DialedId] = line;
        }
        _trunkServer = new AriClient[trunks.Count];
        for (var t = 0; t < trunks.Count; t++)
        {
            var tr = trunks[t];
            if (string.IsNullOrWhiteSpace(tr.Endpoint)) throw new ArgumentException($"trunk '{tr.Name}': endpoint is required for ARI (e.g. \"PJSIP/{{number}}@{tr.Name}\")");
            _trunkServer[t] = options.TrunkServers.TryGetValue(tr.Name, out var sid) ? Server(sid, $"trunk '{tr.Name}'") : servers[0];
            // A callee reaches an agent on another Asterisk only over the inter-server trunk.
            if (options.InterServerEndpoint is null && _agents.FirstOrDefault(a => a.Server != _trunkServer[t]) is { } far)
                throw new ArgumentException($"trunk '{tr.Name}' is on server '{_trunkServer[t].ServerId}' but agent '{far.Agent.Id}' is on '{far.Server.ServerId}': " +
                                            "set ari.inter_server_endpoint (e.g. \"PJSIP/{agent}@{server}\") so calls can cross, or keep them on one server");
            _trunkByEndpoint[EndpointResource(tr.Endpoint)] = t;
        }
    }

    public TrunkHealth Health { get; }
    public AriDriverStats Stats { get; } = new();
    public int LiveCalls => _legs.Count;
    public int AgentsConnected => _agents.Count(a => a.LoggedIn);
    /// <summary>Diagnostics (failed commands, reconciliations).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>
    /// Starts the event loops of every server and calls each agent's phone into its bridge. Completes when every
    /// server's events are connected and reconciled once: start the engine after that, or early events are lost.
    /// </summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        foreach (var s in _servers.Values) s.Start(this);
        _housekeeping = Task.Run(() => Housekeeping(_stop.Token));
        await Task.WhenAll(_servers.Keys.Select(id => _firstReconcile[id].Task)).WaitAsync(ct);
    }

    // ---- commands from the engine (return at once) -------------------------------------------------

    public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout)
    {
        var t = IndexOf(trunk);
        var leg = new Leg(call, _trunkServer[t], t);
        _legs[leg.Id] = leg; // before the request: Asterisk's first events often beat its reply
        Health.OnPlaced(t, _time.GetUtcNow());
        Queue(leg, PlaceAsync, ringTimeout);
    }

    public void Connect(Call call, Agent agent)
    {
        if (!_legs.TryGetValue(call.ChannelId, out var leg))
        {
            // Already gone: its end is on the way to the engine, which puts the agent in wrap-up as if they had talked.
            ReadyAfterWrap(_agents[agent.Index]);
            return;
        }
        if (leg.AnsweredTicks != 0) Stats.AnswerToBridge.Add(Stopwatch.GetElapsedTime(leg.AnsweredTicks));
        leg.Agent = _agents[agent.Index];
        Queue(leg, static (d, l, _, ct) => d.BridgeAsync(l, ct));
    }

    public void SafeHarbor(Call call)
    {
        if (_legs.TryGetValue(call.ChannelId, out var leg)) Queue(leg, static (d, l, _, ct) => d.SafeHarborAsync(l, ct));
    }

    public void Hangup(Call call)
    {
        if (_legs.TryGetValue(call.ChannelId, out var leg)) Queue(leg, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
    }

    /// <summary>Hangs up every call and agent phone and removes the agents' bridges.</summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        var work = new List<Task>();
        foreach (var leg in _legs.Values) work.Add(Quietly(leg.Server.HangupAsync(leg.Id, ct: ct)));
        foreach (var (id, leg) in _xfers)
        {
            work.Add(Quietly(leg.Server.HangupAsync(id, ct: ct)));
            work.Add(Quietly(leg.Server.DeleteBridgeAsync(leg.XferBridge!, ct)));
        }
        foreach (var a in _agents)
        {
            work.Add(Quietly(a.Server.HangupAsync(a.ChannelId, ct: ct)));
            work.Add(Quietly(a.Server.DeleteBridgeAsync(a.BridgeId, ct)));
        }
        await Task.WhenAll(work);
    }

    private static async Task Quietly(Task t)
    {
        try { await t; }
        catch (AriException) { }
    }

    // ---- REST work per call --------------------------------------------------------------------------

    private delegate Task Work(AriDriver driver, Leg leg, TimeSpan arg, CancellationToken ct);

    /// <summary>Appends work to the call's queue: it runs after the call's earlier work, off the caller's thread.</summary>
    private void Queue(Leg leg, Work work, TimeSpan arg = default)
    {
        lock (leg) leg.Tail = Run(leg.Tail, leg, work, arg);
    }

    private async Task Run(Task previous, Leg leg, Work work, TimeSpan arg)
    {
        if (previous.IsCompleted) await Task.Yield(); // never run REST on the engine's thread
        else await previous;
        try
        {
            await work(this, leg, arg, _stop.Token);
        }
        catch (Exception e) // a failed command must never fault the call's queue silently: count it, say it, go on
        {
            Interlocked.Increment(ref Stats._commandFailures);
            Log?.Invoke($"call {leg.Call.Id}: {e.Message}");
        }
    }

    private static async Task PlaceAsync(AriDriver d, Leg leg, TimeSpan ringTimeout, CancellationToken ct)
    {
        var o = d._options;
        var endpoint = DialString(d._trunks[leg.Trunk].Endpoint!, leg.Call.Lead.Phone);
        var callerId = o.CallerIdByRegion.TryGetValue(leg.Call.Lead.Region, out var cid) ? cid : o.DefaultCallerId;
        var vars = new Dictionary<string, string>(3) { ["DIALER_LEAD_ID"] = leg.Call.Lead.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var timeout = (int)Math.Ceiling(ringTimeout.TotalSeconds);
        try
        {
            if (o.Amd)
                await leg.Server.OriginateAsync(leg.Id, endpoint, "callee", callerId, timeout, vars, ct);
            else
            {
                // A created channel has no caller id parameter: set it like the dialplan would.
                if (callerId is not null) vars["CALLERID(num)"] = callerId;
                try { await leg.Server.CreateChannelAsync(leg.Id, endpoint, "callee", vars, ct); }
                catch (AriConflictException) { } // our retry after a lost reply: it exists already
                await leg.Server.DialAsync(leg.Id, timeout, ct);
            }
            Interlocked.Increment(ref d.Stats._placed);
            leg.Placed = true;
        }
        catch (AriException e)
        {
            // Never leave a half-made call behind; then tell the engine the attempt failed (cause 0 → congestion, retried later).
            Interlocked.Increment(ref d.Stats._placeFailures);
            d.Log?.Invoke($"call {leg.Call.Id}: placing on '{d._trunks[leg.Trunk].Name}' failed: {e.Message}");
            try { await leg.Server.HangupAsync(leg.Id, ct: ct); }
            catch (AriException) { }
            // Only a refused allocation (unknown or unusable trunk endpoint) blames the trunk; other REST trouble is Asterisk's.
            await d.EndAsync(leg, cause: 0, networkFailure: e is AriServerErrorException { AsteriskMessage: "Allocation failed" });
        }
    }

    private async Task BridgeAsync(Leg leg, CancellationToken ct)
    {
        var line = leg.Agent!;
        if (line.Server == leg.Server)
        {
            await line.Server.AddChannelAsync(line.BridgeId, leg.Id, ct);
            if (_options.RecordCalls) await RecordAsync(leg, leg.Server, line.BridgeId, ct);
            return;
        }
        // The agent is on another Asterisk: bridge the callee here with a leg dialed to the agent's server, where it
        // enters Stasis(dialer,xfer,AGENT) and joins the agent's bridge (OnXferArrived).
        var xfer = leg.Id + XferSuffix;
        leg.XferBridge = BridgePrefix + "xfer-" + leg.Call.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _xfers[xfer] = leg;
        await leg.Server.CreateBridgeAsync(leg.XferBridge, "mixing", null, ct);
        var endpoint = _options.InterServerEndpoint!.Replace("{agent}", line.Agent.Id, StringComparison.Ordinal).Replace("{server}", line.Server.ServerId, StringComparison.Ordinal);
        await leg.Server.CreateChannelAsync(xfer, endpoint, "xferleg", null, ct);
        await leg.Server.AddChannelAsync(leg.XferBridge, $"{leg.Id},{xfer}", ct); // early: the callee hears the agent the moment the leg answers
        await leg.Server.DialAsync(xfer, _options.AgentRingSeconds, ct);
        if (_options.RecordCalls) await RecordAsync(leg, leg.Server, leg.XferBridge, ct);
    }

    private async Task RecordAsync(Leg leg, AriClient server, string bridge, CancellationToken ct)
    {
        leg.Recording = (server, leg.Id);
        await server.RecordBridgeAsync(bridge, leg.Id, _options.RecordingFormat, ct);
    }

    private async Task SafeHarborAsync(Leg leg, CancellationToken ct)
    {
        try
        {
            await leg.Server.PlayAsync(leg.Id, _options.SafeHarborMedia, leg.Id + "-safe-harbor", ct);
        }
        catch (AriException)
        {
            await leg.Server.HangupAsync(leg.Id, ct: ct);
            throw;
        }
        _ = HangupLater(leg, _options.SafeHarborMax); // if the PlaybackFinished is lost, still end it
    }

    private async Task HangupLater(Leg leg, TimeSpan after)
    {
        try
        {
            await Task.Delay(after, _time, _stop.Token);
            if (_legs.ContainsKey(leg.Id)) await leg.Server.HangupAsync(leg.Id, ct: _stop.Token);
        }
        catch (Exception e) when (e is AriException or OperationCanceledException) { }
    }

    /// <summary>Ends the call once (events, failed REST and reconciliation may all try).</summary>
    private async ValueTask EndAsync(Leg leg, int cause, bool networkFailure)
    {
        if (Interlocked.Exchange(ref leg.Ended, 1) == 1) return;
        _legs.TryRemove(leg.Id, out _);
        if (leg.Answered == 0)
        {
            Interlocked.Increment(ref Stats._unanswered);
            ApplyBreaker(leg.Trunk, Health.OnCall(leg.Trunk, networkFailure, _time.GetUtcNow()));
        }
        await _post(EngineEvent.Ended(leg.Call.Id, leg.Answered == 0 ? CallOutcomes.FromQ850(cause) : CallOutcome.None, cause));
        if (leg.Recording is var (recServer, rec)) _ = Quietly(recServer.StopRecordingAsync(rec, _stop.Token));
        if (leg.XferBridge is { } xb)
        {
            // The callee is gone: drop the inter-server leg (the agent stays in their own bridge) and its bridge.
            _xfers.TryRemove(leg.Id + XferSuffix, out _);
            _ = Quietly(leg.Server.HangupAsync(leg.Id + XferSuffix, ct: _stop.Token));
            _ = Quietly(leg.Server.DeleteBridgeAsync(xb, _stop.Token));
        }
        if (leg.Agent is { } agent) ReadyAfterWrap(agent);
    }

    /// <summary>Unattended runs only (<see cref="AriDriverOptions.AutoReadyAfter"/>): the agent is made ready after a fixed wrap-up.</summary>
    private void ReadyAfterWrap(AgentLine agent)
    {
        if (_options.AutoReadyAfter is { } wrap) _ = ReadyLater(agent, wrap);
    }

    private async Task ReadyLater(AgentLine agent, TimeSpan after)
    {
        try
        {
            await Task.Delay(after, _time, _stop.Token);
            if (agent.LoggedIn) await _post(EngineEvent.Ready(agent.Agent.Index));
        }
        catch (OperationCanceledException) { }
    }

    private async ValueTask AnsweredAsync(Leg leg, bool human)
    {
        if (Interlocked.Exchange(ref leg.Answered, 1) == 1) return;
        leg.AnsweredTicks = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref Stats._answered);
        ApplyBreaker(leg.Trunk, Health.OnCall(leg.Trunk, networkFailure: false, _time.GetUtcNow()));
        await _post(EngineEvent.Answered(leg.Call.Id, human));
    }

    private void ApplyBreaker(int trunk, bool? available)
    {
        if (available is not { } on) return;
        Log?.Invoke($"trunk '{_trunks[trunk].Name}': circuit {(on ? "closed, back in service" : "open, out of service")}");
        if (!on) Interlocked.Increment(ref Stats._breakerTrips);
        _setTrunkAvailable?.Invoke(trunk, on);
    }

    // ---- helpers ---------------------------------------------------------------------------------------

    /// <summary>The trunk's endpoint with the number filled in: "PJSIP/{number}@carrier-a", or the number appended ("SIP/carrier-a/").</summary>
    internal static string DialString(string endpoint, string phone) =>
        endpoint.Contains("{number}", StringComparison.Ordinal) ? endpoint.Replace("{number}", phone, StringComparison.Ordinal) : endpoint + phone;

    /// <summary>The PJSIP endpoint name a trunk's ContactStatusChange carries: "carrier-a" for "PJSIP/{number}@carrier-a" or "PJSIP/carrier-a/...".</summary>
    private static string EndpointResource(string endpoint)
    {
        var at = endpoint.LastIndexOf('@');
        if (at >= 0) return endpoint[(at + 1)..];
        var parts = endpoint.Split('/');
        return parts.Length > 1 ? parts[1] : endpoint;
    }

    private int IndexOf(TrunkConfig trunk)
    {
        for (var t = 0; t < _trunks.Count; t++)
            if (ReferenceEquals(_trunks[t], trunk) || _trunks[t].Name == trunk.Name) return t;
        throw new ArgumentException($"trunk '{trunk.Name}' is not one of the driver's trunks");
    }

    private AriClient Server(string id, string where) =>
        _servers.TryGetValue(id, out var s) ? s : throw new ArgumentException($"{where}: no ARI server '{id}' (known: {string.Join(", ", _servers.Keys)})");

    private static string SafeId(string s) => string.Create(s.Length, s, static (span, src) =>
    {
        for (var i = 0; i < src.Length; i++) span[i] = char.IsAsciiLetterOrDigit(src[i]) || src[i] is '-' or '_' ? src[i] : '_';
    });

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_housekeeping is not null) await _housekeeping;
        foreach (var s in _servers.Values) await s.DisposeAsync();
        _stop.Dispose();
    }

    /// <summary>One outbound call leg, keyed by server and our channel id.</summary>
    private sealed class Leg(Call call, AriClient server, int trunk)
    {
        public Call Call { get; } = call;
        public string Id { get; } = call.ChannelId;
        public AriClient Server { get; } = server;
        public int Trunk { get; } = trunk;
        public Task Tail = Task.CompletedTask;
        public int Answered;
        public int Ended;
        public long AnsweredTicks;
        public volatile bool Placed;
        public AgentLine? Agent;
        public (AriClient Server, string Name)? Recording;
        /// <summary>Set when the agent is on another server: the bridge (on this call's server) joining the callee and the inter-server leg.</summary>
        public string? XferBridge;
    }

    /// <summary>An agent's phone and the bridge it waits in while logged in.</summary>
    private sealed class AgentLine(Agent agent, AriClient server, string endpoint)
    {
        public Agent Agent { get; } = agent;
        public AriClient Server { get; } = server;
        public string Endpoint { get; } = endpoint;
        /// <summary>The channel id we give the agent's phone when we call it.</summary>
        public string DialedId { get; } = AgentPrefix + SafeId(agent.Id);
        /// <summary>The phone's channel now: <see cref="DialedId"/>, or the agent's own call into [dialer-agents].</summary>
        public volatile string ChannelId = AgentPrefix + SafeId(agent.Id);
        public string BridgeId { get; } = BridgePrefix + SafeId(agent.Id);
        public volatile bool LoggedIn;
        public int Dialing;
    }
}

/// <summary>What the driver did, for the console and tests.</summary>
public sealed class AriDriverStats
{
    internal long _placed, _placeFailures, _answered, _unanswered, _breakerTrips, _reconciliations, _reconciledEnds, _orphansHungUp, _commandFailures;
    public long Placed => Volatile.Read(ref _placed);
    public long PlaceFailures => Volatile.Read(ref _placeFailures);
    public long Answered => Volatile.Read(ref _answered);
    public long Unanswered => Volatile.Read(ref _unanswered);
    public long BreakerTrips => Volatile.Read(ref _breakerTrips);
    public long Reconciliations => Volatile.Read(ref _reconciliations);
    /// <summary>Calls found gone at reconciliation (their ChannelDestroyed was lost with the connection).</summary>
    public long ReconciledEnds => Volatile.Read(ref _reconciledEnds);
    public long OrphansHungUp => Volatile.Read(ref _orphansHungUp);
    public long CommandFailures => Volatile.Read(ref _commandFailures);
    /// <summary>From the answer event's arrival at the driver to the engine's bridge command (through the engine's inbox and decision).</summary>
    public LatencyHistogram AnswerToBridge { get; } = new();
}

/// <summary>Lock-free latency histogram in 10 µs bins up to 100 ms.</summary>
public sealed class LatencyHistogram
{
    private readonly long[] _bins = new long[10_001];
    private long _count;

    public long Count => Volatile.Read(ref _count);

    public void Add(TimeSpan t)
    {
        var bin = (int)Math.Min(t.Ticks / 100, _bins.Length - 1);
        Interlocked.Increment(ref _bins[bin]);
        Interlocked.Increment(ref _count);
    }

    /// <summary>The q-quantile in milliseconds (upper edge of its bin).</summary>
    public double Percentile(double q)
    {
        var n = Count;
        if (n == 0) return 0;
        long seen = 0;
        for (var i = 0; i < _bins.Length; i++)
        {
            seen += Volatile.Read(ref _bins[i]);
            if (seen >= q * n) return (i + 1) * 0.01;
        }
        return 100;
    }
}
