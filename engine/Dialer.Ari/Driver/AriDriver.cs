using System.Collections.Concurrent;
using System.Diagnostics;
using Dialer.Ari.Client;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;

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
/// Every channel and bridge id carries its owner (<see cref="ChannelOwner"/>: node and campaign) and is prefix-free.
/// What fails comes back to the engine as events: a command that did not happen as CommandFailed, a trunk that cannot
/// take calls (breaker, endpoint offline, server's events socket down, REST failing, slow or refusing) as TrunkState.
/// </summary>
public sealed partial class AriDriver : ICallControl, IAriEventSink, IAsyncDisposable
{
    private readonly AriDriverOptions _options;
    private readonly ChannelOwner _owner;
    private readonly ChannelOwners _owners;
    private readonly Dictionary<string, AriClient> _servers;
    private readonly AriClient[] _trunkServer;
    private readonly IReadOnlyList<TrunkConfig> _trunks;
    private readonly string[] _trunkEndpoint;
    private readonly AgentLine[] _agents;
    private readonly Dictionary<string, AgentLine> _agentById = new(StringComparer.Ordinal);
    // The agent's current phone channel: ours (ChannelOwner.Agent) or one the agent dialed in on (Asterisk's id).
    private readonly ConcurrentDictionary<string, AgentLine> _agentByChannel = new(StringComparer.Ordinal);
    // Inter-server legs (ChannelOwner.Xfer) by channel id → the callee leg they carry to its agent.
    private readonly ConcurrentDictionary<string, Leg> _xfers = new(StringComparer.Ordinal);
    private readonly Func<EngineEvent, ValueTask> _post;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Leg> _legs = new(StringComparer.Ordinal);
    // Late calls of a fenced owner being hung up (IsLateCall), until their end is heard.
    private readonly ConcurrentDictionary<string, byte> _lateCalls = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, TaskCompletionSource> _firstReconcile;
    private Task? _health, _housekeeping;
    private int _stopping;

    /// <param name="post">Where engine events go (EngineHost.PostAsync): call and agent events, CommandFailed and TrunkState.</param>
    public AriDriver(AriDriverOptions options, IReadOnlyList<AriClient> servers, IReadOnlyList<TrunkConfig> trunks, IReadOnlyList<Agent> agents,
        Func<EngineEvent, ValueTask> post, TimeProvider? time = null)
    {
        if (servers.Count == 0) throw new ArgumentException("at least one ARI server is needed", nameof(servers));
        _options = options;
        _owner = options.Owner;
        _owners = new ChannelOwners(options.Owner, options.TakenOver);
        _servers = servers.ToDictionary(s => s.ServerId, StringComparer.Ordinal);
        _firstReconcile = servers.ToDictionary(s => s.ServerId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), StringComparer.Ordinal);
        _trunks = trunks;
        _post = post;
        _time = time ?? TimeProvider.System;
        Health = new TrunkHealth(trunks.Count, options);
        var agentServer = Server(options.AgentServer ?? servers[0].ServerId, "agent_server");
        _agents = new AgentLine[agents.Count];
        foreach (var a in agents)
        {
            var server = options.AgentServers.TryGetValue(a.Id, out var sid) ? Server(sid, $"agent '{a.Id}'") : agentServer;
            var line = new AgentLine(a, server, options.AgentEndpoints.TryGetValue(a.Id, out var ep) ? ep : $"PJSIP/{a.Id}", _owner);
            _agents[a.Index] = line;
            _agentById[a.Id] = line;
            _agentById.TryAdd(EndpointResource(line.Endpoint), line); // [dialer-agents] passes ${CHANNEL(endpoint)}
            _agentByChannel[line.DialedId] = line;
        }
        _trunkServer = new AriClient[trunks.Count];
        _trunkEndpoint = new string[trunks.Count];
        for (var t = 0; t < trunks.Count; t++)
        {
            var tr = trunks[t];
            if (string.IsNullOrWhiteSpace(tr.Endpoint)) throw new ArgumentException($"trunk '{tr.Name}': endpoint is required for ARI (e.g. \"PJSIP/{{number}}@{tr.Name}\")");
            _trunkServer[t] = options.TrunkServers.TryGetValue(tr.Name, out var sid) ? Server(sid, $"trunk '{tr.Name}'") : servers[0];
            // A callee reaches an agent on another Asterisk only over the inter-server trunk.
            if (options.InterServerEndpoint is null && _agents.FirstOrDefault(a => a.Server != _trunkServer[t]) is { } far)
                throw new ArgumentException($"trunk '{tr.Name}' is on server '{_trunkServer[t].ServerId}' but agent '{far.Agent.Id}' is on '{far.Server.ServerId}': " +
                                            "set ari.inter_server_endpoint (e.g. \"PJSIP/{agent}@{server}\") so calls can cross, or keep them on one server");
            _trunkEndpoint[t] = EndpointResource(tr.Endpoint);
        }
        InitHealth(servers);
        // A node whose lease ran out (paused, fenced) must not register the app again after a drop: the new owner has it now.
        // Nor dial (or retry a dial) after its driver's check: the lease may run out between the check and the wire.
        if (options.MayPlace is { } mayPlace)
            foreach (var s in servers)
            {
                s.MayReconnect = () => mayPlace() is null;
                s.MayCall = mayPlace;
            }
    }

    /// <summary>The engine sends the safe-harbor message this long before the 2 s are up (<see cref="AriDriverOptions.SafeHarborLead"/>).</summary>
    public TimeSpan CommandLead => _options.SafeHarborLead;
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
        _forwarding = Task.Run(ForwardNotices);
        foreach (var s in _servers.Values) s.Start(this);
        _health = Task.Run(() => WatchHealth(_stop.Token));
        _housekeeping = Task.Run(() => Housekeeping(_stop.Token));
        await Task.WhenAll(_servers.Keys.Select(id => _firstReconcile[id].Task)).WaitAsync(ct);
    }

    /// <summary>
    /// Recovery: a call a previous engine placed, found still bridged to <paramref name="agent"/> on <paramref name="serverId"/>
    /// (in the agent's bridge, or, for an agent on another server, in its own bridge with the inter-server leg to them),
    /// is followed from now on like one placed here (answered, connected; its end goes to the engine, which adopted it too).
    /// Call before <see cref="StartAsync"/>: the first reconciliation would hang up a channel nobody claims. The agent's line
    /// itself is taken back by that reconciliation, from the agent's bridge.
    /// </summary>
    public void AdoptCall(Call call, Agent agent, string serverId)
    {
        var server = Server(serverId, $"call {call.Id}");
        var line = _agents[agent.Index];
        var leg = new Leg(this, call, server, call.Trunk) { Placed = true, Answered = 1, Agent = line, BridgedAt = _time.GetUtcNow().UtcDateTime, MediaSince = _time.GetTimestamp(), Adopted = true };
        if (line.Server != server)
        {
            // Bridged here to a leg over the inter-server trunk, which is in the agent's bridge on their server: both followed
            // as if connected here, so the callee's end drops the leg and its bridge, and the leg's end hangs the callee up.
            leg.XferBridge = call.Owner.XferBridge(call.Id);
            _xfers[leg.XferId] = leg;
        }
        _legs[leg.Id] = leg;
    }

    /// <summary>The channel variable an inter-server leg carries: the id of the agent it goes to.</summary>
    public const string XferAgentVariable = "DIALER_AGENT";
    /// <summary>The SIP header an inter-server leg carries to the agent's server: the app [dialer-interserver] enters (extensions.conf).</summary>
    public const string XferAppHeader = "PJSIP_HEADER(add,X-Dialer-App)";
    /// <summary>The channel variable a callee carries: the app [dialer-amd] sends it back to (extensions.conf).</summary>
    public const string AppVariable = "DIALER_APP";
    /// <summary>The global variable, with the agent id (or their endpoint's name) after it, naming the app their dial-in and inter-server legs enter.</summary>
    public const string AgentAppGlobal = "DIALER_AGENT_APP_";

    /// <summary>The id of the ARI server the agent's phone and bridge are on.</summary>
    public string AgentServerId(int agent) => _agents[agent].Server.ServerId;

    // ---- commands from the engine (return at once) -------------------------------------------------

    public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout)
    {
        var t = IndexOf(trunk);
        var leg = new Leg(this, call, _trunkServer[t], t);
        _legs[leg.Id] = leg; // before the request: Asterisk's first events often beat its reply
        Health.OnPlaced(t, _time.GetUtcNow());
        Queue(leg, CallCommand.Originate, PlaceAsync, ringTimeout);
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
        Queue(leg, CallCommand.Connect, static (d, l, _, ct) => d.BridgeAsync(l, ct));
    }

    public void SafeHarbor(Call call)
    {
        if (_legs.TryGetValue(call.ChannelId, out var leg)) Queue(leg, CallCommand.SafeHarbor, static (d, l, _, ct) => d.SafeHarborAsync(l, ct));
    }

    public void Hangup(Call call)
    {
        if (_legs.TryGetValue(call.ChannelId, out var leg)) Queue(leg, CallCommand.Hangup, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
    }

    /// <summary>
    /// Hangs up every call and agent phone and removes the agents' bridges. Every call's end is reported to the engine
    /// (its ChannelDestroyed, or — if Asterisk does not confirm before <paramref name="ct"/> ends or cannot be reached — an
    /// end with cause 0), so every attempt can be closed: keep the engine loop running until this returns.
    /// </summary>
    public async Task StopAsync(CancellationToken ct = default)
    {
        Interlocked.Exchange(ref _stopping, 1); // before the sweep: a call the engine asks for from now on is never placed (PlaceAsync)
        var work = new List<Task>();
        foreach (var leg in _legs.Values)
        {
            work.Add(Quietly(leg.Server.HangupAsync(leg.Id, ct: ct)));
            // An originate still on its way finds no channel to hang up now (404) and makes it a moment later (load run: calls
            // left ringing or talking after the stop): hang it up once more, after the originate, in the call's own queue.
            if (!leg.Placed) Queue(leg, CallCommand.Hangup, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
        }
        foreach (var (id, leg) in _xfers)
        {
            work.Add(Quietly(leg.Server.HangupAsync(id, ct: ct)));
            work.Add(Quietly(leg.Server.DeleteBridgeAsync(leg.XferBridge!, ct)));
        }
        foreach (var a in _agents)
        {
            work.Add(Quietly(a.Server.HangupAsync(a.ChannelId, ct: ct)));
            work.Add(Quietly(a.Server.DeleteBridgeAsync(a.BridgeId, ct)));
            if (a.BridgeId != a.OwnBridgeId) work.Add(Quietly(a.Server.DeleteBridgeAsync(a.OwnBridgeId, ct)));
        }
        await Task.WhenAll(work);
        // The hang-ups' ChannelDestroyed end the calls. A hang-up that failed or timed out (a loaded Asterisk) left its channel
        // up and no event comes: the sweep hangs up again what Asterisk still lists, while the stop has time left; then the
        // calls Asterisk never confirmed are ended.
        await LegsEnded(ct);
        await SweepLeftovers(ct);
        await LegsEnded(ct);
        foreach (var leg in _legs.Values) await EndAsync(leg, cause: 0, networkFailure: false);
        await Flushed();
    }

    /// <summary>How long the stop waits for a hung-up call's ChannelDestroyed before it looks at Asterisk's channels itself.</summary>
    private static readonly TimeSpan StopSettle = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Waits until every call has ended, or the stop's time is up, or <see cref="StopSettle"/> passed with no originate on
    /// its way (one still inside Asterisk has a hang-up queued behind it: waited for, whatever the settle).
    /// </summary>
    private async Task LegsEnded(CancellationToken ct)
    {
        var since = _time.GetTimestamp();
        try
        {
            while (!_legs.IsEmpty && (_time.GetElapsedTime(since) < StopSettle || _legs.Values.Any(l => !l.Placed)))
                await Task.Delay(TimeSpan.FromMilliseconds(10), _time, ct);
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// What the stop's hang-ups left on Asterisk (load run at 20 calls/s: 9–16 channels of ours after the stop; a hang-up
    /// that timed out on a loaded Asterisk, an agent line dialed a moment before): each channel of ours still listed is hung
    /// up again, until none is left or the stop's time is up. Failing that, it is logged: reconciliation at the next start
    /// hangs up what nobody owns.
    /// </summary>
    private async Task SweepLeftovers(CancellationToken ct)
    {
        foreach (var server in _servers.Values)
        {
            try
            {
                for (var round = 0; round < 50; round++)
                {
                    var ours = (await server.ListChannelsAsync(ct)).Where(c => _owners.Owns(c.Id)).ToList();
                    if (ours.Count == 0) break;
                    if (round > 0) Log?.Invoke($"stop: {ours.Count} channels of ours still on '{server.ServerId}', hanging them up again");
                    await Task.WhenAll(ours.Select(c => Quietly(server.HangupAsync(c.Id, ct: ct))));
                    await Task.Delay(TimeSpan.FromMilliseconds(100), _time, ct);
                }
            }
            catch (Exception e) when (e is AriException or OperationCanceledException)
            {
                Log?.Invoke($"stop: could not check '{server.ServerId}' for channels of ours left up: {e.Message}");
            }
        }
    }

    /// <summary>Waits until every notice queued so far reached the engine.</summary>
    private async Task Flushed()
    {
        for (var i = 0; i < 200 && _waitingPosts.Reader.Count > 0; i++) await Task.Delay(5);
    }

    private static async Task Quietly(Task t)
    {
        try { await t; }
        catch (Exception e) when (e is AriException or OperationCanceledException) { }
    }

    // ---- REST work per call --------------------------------------------------------------------------

    private delegate Task Work(AriDriver driver, Leg leg, TimeSpan arg, CancellationToken ct);

    /// <summary>Appends work to the call's queue: it runs after the call's earlier work, off the caller's thread (<see cref="CommandQueue{T}"/>).</summary>
    private static void Queue(Leg leg, CallCommand command, Work work, TimeSpan arg = default) => leg.Enqueue(new LegCommand(command, work, arg));

    private readonly record struct LegCommand(CallCommand Command, Work Work, TimeSpan Arg);

    private async Task RunAsync(Leg leg, LegCommand c)
    {
        try
        {
            await c.Work(this, leg, c.Arg, _stop.Token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stop.IsCancellationRequested)
        {
            // A command that did not happen goes back to the engine, which decides (another agent, safe harbor, hang up).
            // A call already gone needs nothing more: its end is on the way. Nor does one the stop is ending (its bridge
            // deleted, its channel hung up): the stop reports its end, and the engine must not move its agent meanwhile.
            Interlocked.Increment(ref Stats._commandFailures);
            Log?.Invoke($"call {leg.Call.Id}: {c.Command} failed: {e.Message}");
            if (c.Command == CallCommand.Continue && Interlocked.Exchange(ref leg.Answered, 1) == 0)
                leg.AnsweredAt = _time.GetUtcNow().UtcDateTime; // no AMD verdict: the engine takes the callee as a person answered now
            if (leg.Ended == 0 && Volatile.Read(ref _stopping) == 0) await _post(EngineEvent.Failed(leg.Call.Id, c.Command, e.Message, leg.Agent?.Agent.Index ?? -1, _time.GetUtcNow().UtcDateTime));
        }
        catch (OperationCanceledException) { } // the driver is stopping
    }

    private static async Task PlaceAsync(AriDriver d, Leg leg, TimeSpan ringTimeout, CancellationToken ct)
    {
        var o = d._options;
        var endpoint = DialString(d._trunks[leg.Trunk].Endpoint!, leg.Call.Lead.Phone);
        var callerId = o.CallerIdByRegion.TryGetValue(leg.Call.Lead.Region, out var cid) ? cid : o.DefaultCallerId;
        var vars = new Dictionary<string, string>(5)
        {
            ["DIALER_LEAD_ID"] = leg.Call.Lead.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [AppVariable] = leg.Server.Options.App, // back from AMD into this engine's app, not the dialplan's default
        };
        if (o.MachineWaitsForBeep) vars["DIALER_MACHINE_WAIT"] = "1";
        var timeout = (int)Math.Ceiling(ringTimeout.TotalSeconds);
        if ((Volatile.Read(ref d._stopping) == 1 ? "the dialer is stopping" : o.MayPlace?.Invoke()) is { } refused)
        {
            await NotPlaced(refused);
            return;
        }
        leg.OriginateSentTicks = d._time.GetUtcNow().UtcTicks;
        try
        {
            if (o.Amd)
            {
                try { await leg.Server.OriginateAsync(leg.Id, endpoint, "callee", callerId, timeout, vars, ct); }
                catch (AriConflictException e) when (e.Retried) { } // our own first request got through: the call is dialing
            }
            else
            {
                try { await leg.Server.CreateChannelAsync(leg.Id, endpoint, "callee", vars, ct); }
                catch (AriConflictException e) when (e.Retried) { } // our own first request made it: it exists already
                // PJSIP builds From: out of the connected line, not CALLERID: set both (as the originate path does), before dialing.
                if (callerId is not null) await d.SetCallerIdAsync(leg, callerId, ct);
                await leg.Server.DialAsync(leg.Id, timeout, ct);
            }
            Interlocked.Increment(ref d.Stats._placed);
            leg.Placed = true;
        }
        catch (AriRefusedException e)
        {
            // The lease was lost before a try of this call left (MayCall): a channel an earlier try made is the new owner's now.
            await NotPlaced(e.AsteriskMessage!);
        }
        catch (AriException e)
        {
            // Never leave a half-made call behind; then tell the engine the attempt failed (cause 0 → congestion, retried later).
            Interlocked.Increment(ref d.Stats._placeFailures);
            d.Log?.Invoke($"call {leg.Call.Id}: placing on '{d._trunks[leg.Trunk].Name}' failed: {e.Message}");
            // A 409 on a first request is somebody else's channel with our id: never touch it.
            if (e is not AriConflictException) await Quietly(leg.Server.HangupAsync(leg.Id, ct: ct));
            var blameTrunk = await d.BlameTrunkAsync(leg, e, ct);
            await d._post(EngineEvent.Failed(leg.Call.Id, CallCommand.Originate, e.Message, at: d._time.GetUtcNow().UtcDateTime));
            await d.EndAsync(leg, cause: 0, networkFailure: blameTrunk);
        }

        // Stopping, or no longer the campaign's owner: nothing (more) reaches the network, nothing is hung up; the lead is given back as never placed.
        async Task NotPlaced(string why)
        {
            await d._post(EngineEvent.Failed(leg.Call.Id, CallCommand.Originate, why, at: d._time.GetUtcNow().UtcDateTime));
            await d.EndAsync(leg, cause: 0, networkFailure: false);
        }
    }

    /// <summary>CALLERID and CONNECTEDLINE of a created channel, "Name &lt;number&gt;" or a bare number (lab capture b: only CONNECTEDLINE reaches From:).</summary>
    private async Task SetCallerIdAsync(Leg leg, string callerId, CancellationToken ct)
    {
        var lt = callerId.IndexOf('<');
        var gt = callerId.IndexOf('>');
        var (name, number) = lt >= 0 && gt > lt ? (callerId[..lt].Trim().Trim('"'), callerId[(lt + 1)..gt]) : ("", callerId.Trim());
        await leg.Server.SetVariableAsync(leg.Id, "CONNECTEDLINE(num)", number, ct);
        if (name.Length > 0) await leg.Server.SetVariableAsync(leg.Id, "CONNECTEDLINE(name)", name, ct);
        await leg.Server.SetVariableAsync(leg.Id, "CALLERID(num)", number, ct);
    }

    /// <summary>
    /// Whose fault a refused originate is. No answer from Asterisk at all counts against the trunk (and the server:
    /// RestHealth). "Allocation failed" means the endpoint is unusable — or that Asterisk is shutting down (lab capture e):
    /// if the trunk's endpoint reads fine, the server is refusing, its trunks rest and no breaker hears of it.
    /// </summary>
    private async Task<bool> BlameTrunkAsync(Leg leg, AriException e, CancellationToken ct)
    {
        if (e is AriUnavailableException) return true;
        if (e is not AriServerErrorException { AsteriskMessage: "Allocation failed" }) return false;
        try
        {
            var ep = await leg.Server.GetEndpointAsync("PJSIP", _trunkEndpoint[leg.Trunk], ct);
            if (ep.State is "offline" or "missing")
            {
                OnEndpointState(leg.Trunk, ep.State);
                return false;
            }
        }
        catch (AriException) { return false; } // cannot tell: blame nobody
        SetServerOut(leg.Server, Out.Refusing, true, "refuses new channels while the trunk endpoint is fine (shutting down?)");
        return false;
    }

    private async Task BridgeAsync(Leg leg, CancellationToken ct)
    {
        var line = leg.Agent!;
        if (line.Server == leg.Server)
        {
            await line.Server.AddChannelAsync(line.BridgeId, leg.Id, ct);
            if (_options.RecordCalls) await RecordAsync(leg, leg.Server, line.BridgeId, ct);
            await NoticeAsync(leg, line.BridgeId, ct);
            return;
        }
        // The agent is on another Asterisk: bridge the callee here with a leg dialed to the agent's server, where it
        // enters Stasis(dialer,xfer,AGENT) and joins the agent's bridge (OnXferArrived). That leg is a new call: not made
        // by a node that no longer holds the campaign (it would ring an agent the new owner has).
        if (_options.MayPlace?.Invoke() is { } refused) throw new InvalidOperationException(refused);
        var xfer = leg.XferId;
        leg.XferBridge = leg.Call.Owner.XferBridge(leg.Call.Id);
        _xfers[xfer] = leg;
        await leg.Server.CreateBridgeAsync(leg.XferBridge, "mixing", null, ct);
        var endpoint = _options.InterServerEndpoint!.Replace("{agent}", line.Agent.Id, StringComparison.Ordinal).Replace("{server}", line.Server.ServerId, StringComparison.Ordinal);
        // The leg names its agent: after a restart, recovery finds whom the callee in this bridge is talking to on the other server.
        // And, in a SIP header, the app it must enter there (ours): the agent's global names only the campaign that last
        // connected, and one agent id may be in two campaigns on that server.
        await leg.Server.CreateChannelAsync(xfer, endpoint, "xferleg",
            new Dictionary<string, string>(2) { [XferAgentVariable] = line.Agent.Id, [XferAppHeader] = line.Server.Options.App }, ct);
        await leg.Server.AddChannelAsync(leg.XferBridge, $"{leg.Id},{xfer}", ct); // early: the callee hears the agent the moment the leg answers
        await leg.Server.DialAsync(xfer, _options.AgentRingSeconds, ct);
        if (_options.RecordCalls) await RecordAsync(leg, leg.Server, leg.XferBridge, ct);
        await NoticeAsync(leg, leg.XferBridge, ct);
    }

    /// <summary>
    /// The recording notice, into the bridge the callee just joined (after the recording starts, so it holds the notice).
    /// One that cannot be played is logged and the call goes on: the callee is with the agent already, and hanging up
    /// on them would be an abandon; the agent's script carries the notice too.
    /// </summary>
    private async Task NoticeAsync(Leg leg, string bridge, CancellationToken ct)
    {
        if (_options.RecordingNotice is not { } notice) return;
        try { await leg.Server.PlayBridgeAsync(bridge, notice, leg.Id + "-notice", ct); }
        catch (AriException e) { Log?.Invoke($"call {leg.Call.Id}: the recording notice {notice} could not be played ({e.Message})"); }
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

    /// <summary>
    /// Ends the call once (events, failed REST, reconciliation and stop may all try). <paramref name="networkFailure"/>
    /// blames the trunk (its breaker hears of it) and makes an unanswered call's outcome congestion whatever its cause.
    /// </summary>
    private async ValueTask EndAsync(Leg leg, int cause, bool networkFailure, DateTime at = default)
    {
        if (Interlocked.Exchange(ref leg.Ended, 1) == 1) return;
        _legs.TryRemove(leg.Id, out _);
        var outcome = CallOutcome.None;
        if (leg.Answered == 0)
        {
            ApplyBreaker(leg.Trunk, Health.OnCall(leg.Trunk, networkFailure, _time.GetUtcNow()), $"cause {cause}");
            // Up before any AMD verdict reached the engine (in AMD, its continue failing, a stop): the callee answered, that
            // is Asterisk's fact, and heard nobody. Abandoned, whatever the cause (the safe count: the verdict is unknown).
            if (leg.MediaSince != 0) outcome = CallOutcome.Abandoned;
            else
            {
                Interlocked.Increment(ref Stats._unanswered);
                outcome = networkFailure ? CallOutcome.Congestion : CallOutcomes.FromQ850(cause);
            }
        }
        else if (HeardNobodyInTime(leg, at)) outcome = CallOutcome.Abandoned;
        await EndScriptAsync(leg);
        await _post(EngineEvent.Ended(leg.Call.Id, outcome, cause, at == default ? _time.GetUtcNow().UtcDateTime : at));
        if (leg.Recording is var (recServer, rec)) _ = Quietly(recServer.StopRecordingAsync(rec, _stop.Token));
        if (leg.XferBridge is { } xb)
        {
            // The callee is gone: drop the inter-server leg (the agent stays in their own bridge) and its bridge.
            _xfers.TryRemove(leg.XferId, out _);
            _ = Quietly(leg.Server.HangupAsync(leg.XferId, ct: _stop.Token));
            _ = Quietly(leg.Server.DeleteBridgeAsync(xb, _stop.Token));
        }
        if (leg.Agent is not { } agent) return;
        if (Interlocked.Exchange(ref agent.ReadyWhenFree, 0) == 1) await _post(EngineEvent.Ready(agent.Agent.Index, _time.GetUtcNow().UtcDateTime));
        else ReadyAfterWrap(agent);
    }

    /// <summary>
    /// An answered callee whose end Asterisk reported (we were listening throughout) without their channel ever entering a
    /// bridge, or entering it past <see cref="AriDriverOptions.AbandonAfter"/> from the answer: they heard no agent in time
    /// (a slow or failing Asterisk), an abandoned call by the rule even if the engine had matched them to one (the engine
    /// reads it for a matched callee only: a machine stays a machine, a safe-harbor or waiting callee is abandoned anyway).
    /// Not tied to the match reaching the driver: on a loaded machine the callee may hang up before it does.
    /// </summary>
    private bool HeardNobodyInTime(Leg leg, DateTime endedAt) =>
        endedAt != default && leg.AnsweredAt != default
        && (leg.BridgedAt == default || leg.BridgedAt - leg.AnsweredAt > _options.AbandonAfter);

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

    /// <summary>The callee answered (a person, or AMD's verdict); <paramref name="at"/> is Asterisk's time of it, so the 2 s run from the answer.</summary>
    private async ValueTask AnsweredAsync(Leg leg, bool human, DateTime at)
    {
        if (Interlocked.Exchange(ref leg.Answered, 1) == 1) return;
        leg.AnsweredTicks = Stopwatch.GetTimestamp();
        leg.AnsweredAt = at;
        Interlocked.Increment(ref Stats._answered);
        ApplyBreaker(leg.Trunk, Health.OnCall(leg.Trunk, networkFailure: false, _time.GetUtcNow()), "a call answered");
        await _post(EngineEvent.Answered(leg.Call.Id, human, at == default ? _time.GetUtcNow().UtcDateTime : at));
    }

    // ---- helpers ---------------------------------------------------------------------------------------

    /// <summary>The trunk's endpoint with the number filled in: "PJSIP/{number}@carrier-a", or the number appended ("SIP/carrier-a/").</summary>
    internal static string DialString(string endpoint, string phone) =>
        endpoint.Contains("{number}", StringComparison.Ordinal) ? endpoint.Replace("{number}", phone, StringComparison.Ordinal) : endpoint + phone;

    /// <summary>
    /// The PJSIP endpoint a trunk's dial string goes through, as GET /endpoints/PJSIP/… names it: "carrier-a" for
    /// PJSIP/{number}@carrier-a, PJSIP/carrier-a, or PJSIP/carrier-a/sip:{number}@host:port (the endpoint's settings,
    /// another address: its '@' names no endpoint).
    /// </summary>
    internal static string EndpointResource(string endpoint)
    {
        var parts = endpoint.Split('/', 3);
        if (parts.Length == 3) return parts[1];
        var at = endpoint.LastIndexOf('@');
        if (at >= 0) return endpoint[(at + 1)..];
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

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (_health is not null) await _health;
        if (_housekeeping is not null) await _housekeeping;
        foreach (var s in _servers.Values) await s.DisposeAsync();
        _waitingPosts.Writer.TryComplete();
        if (_forwarding is not null) await _forwarding;
        _stop.Dispose();
    }

    /// <summary>One outbound call leg, keyed by server and our channel id.</summary>
    private sealed class Leg(AriDriver driver, Call call, AriClient server, int trunk) : CommandQueue<LegCommand>
    {
        protected override Task RunAsync(LegCommand command) => driver.RunAsync(this, command);
        public Call Call { get; } = call;
        public string Id { get; } = call.ChannelId;
        /// <summary>The leg that carries this callee to an agent on another server.</summary>
        public string XferId => Call.Owner.Xfer(Call.Id);
        public AriClient Server { get; } = server;
        public int Trunk { get; } = trunk;
        public int Answered;
        public int Ended;
        /// <summary>Taken on from an earlier engine (recovery): its channel may sit in another app, whose events we subscribe to.</summary>
        public bool Adopted;
        public long AnsweredTicks;
        /// <summary>Asterisk's time of the answer (or AMD verdict), for the latencies on its own clock.</summary>
        public DateTime AnsweredAt;
        /// <summary>Asterisk's time the callee first entered a bridge (their agent's, or the one to an agent on another server).</summary>
        public DateTime BridgedAt;
        /// <summary>When the originate was sent (UTC ticks; 0 once its first channel event was seen).</summary>
        public long OriginateSentTicks;
        public volatile bool Placed;
        /// <summary>Ringing or progress was seen: the far end answered SIP (a dial timeout is then a no-answer, not a dead carrier).</summary>
        public volatile bool Provisional;
        /// <summary>The last RTCP poll of this call (readings count only when packets arrived since).</summary>
        public RtcpSummary? LastRtcp;
        /// <summary>When <see cref="LastRtcp"/> was read, and when the call's media began (the first Up seen), in <see cref="TimeProvider"/> ticks; 0 before.</summary>
        public long LastRtcpAt, MediaSince;
        /// <summary>Asterisk's time of the last key heard on this call (its copy through the endpoint is skipped).</summary>
        public DateTime LastKeyAt;
        public AgentLine? Agent;
        public (AriClient Server, string Name)? Recording;
        /// <summary>Set when the agent is on another server: the bridge (on this call's server) joining the callee and the inter-server leg.</summary>
        public string? XferBridge;
        /// <summary>Agentless: the call's script, the prompt playing now, and whether its result went to the engine.</summary>
        public ScriptRun? Script;
        public volatile string? Playback;
        public int ScriptPosted;
    }

    /// <summary>An agent's phone and the bridge it waits in while logged in.</summary>
    private sealed class AgentLine(Agent agent, AriClient server, string endpoint, ChannelOwner owner)
    {
        public Agent Agent { get; } = agent;
        public AriClient Server { get; } = server;
        public string Endpoint { get; } = endpoint;
        /// <summary>The channel id we give the agent's phone when we call it.</summary>
        public string DialedId { get; } = owner.Agent(agent.Id);
        /// <summary>The phone's channel now: <see cref="DialedId"/>, or the agent's own call into [dialer-agents].</summary>
        public volatile string ChannelId = owner.Agent(agent.Id);
        /// <summary>The bridge of this node's own making.</summary>
        public string OwnBridgeId { get; } = owner.AgentBridge(agent.Id);
        /// <summary>The bridge the phone waits in: <see cref="OwnBridgeId"/>, or a dead node's bridge the line was taken back in.</summary>
        public volatile string BridgeId = owner.AgentBridge(agent.Id);
        public volatile bool LoggedIn;
        public int Dialing;
        /// <summary>1: the agent pressed ready while their call was still up; they are made ready when it ends.</summary>
        public int ReadyWhenFree;
    }
}

/// <summary>What the driver did, for the console and tests.</summary>
public sealed class AriDriverStats
{
    internal long _placed, _placeFailures, _answered, _unanswered, _breakerTrips, _reconciliations, _reconciledEnds, _orphansHungUp, _commandFailures, _agentsTakenBack, _lateCallsHungUp;
    public long Placed => Volatile.Read(ref _placed);
    public long PlaceFailures => Volatile.Read(ref _placeFailures);
    public long Answered => Volatile.Read(ref _answered);
    public long Unanswered => Volatile.Read(ref _unanswered);
    public long BreakerTrips => Volatile.Read(ref _breakerTrips);
    public long Reconciliations => Volatile.Read(ref _reconciliations);
    /// <summary>Calls found gone at reconciliation (their ChannelDestroyed was lost with the connection).</summary>
    public long ReconciledEnds => Volatile.Read(ref _reconciledEnds);
    public long OrphansHungUp => Volatile.Read(ref _orphansHungUp);
    /// <summary>Calls an owner taken over placed after its lease ended (its request reached Asterisk after the takeover's reconciliation), hung up at their first event.</summary>
    public long LateCallsHungUp => Volatile.Read(ref _lateCallsHungUp);
    /// <summary>Agent lines found still up in their bridges (after a restart or lost events) and taken back without calling the phone again.</summary>
    public long AgentsTakenBack => Volatile.Read(ref _agentsTakenBack);
    public long CommandFailures => Volatile.Read(ref _commandFailures);
    /// <summary>From the answer event's arrival at the driver to the engine's bridge command (through the engine's inbox and decision).</summary>
    public LatencyHistogram AnswerToBridge { get; } = new();

    // The three below are read off Asterisk's own event timestamps (millisecond resolution), so they include
    // Asterisk's queues and not only ours. Same host clock for "sent": Asterisk and the dialer on one machine.
    /// <summary>From sending a call's originate to Asterisk's timestamp of the first event about its channel (the Dial that starts it).</summary>
    public LatencyHistogram OriginateToChannel { get; } = new(binMicroseconds: 1000, bins: 10_000);
    /// <summary>From Asterisk's answer (or AMD verdict) of a callee to its ChannelEnteredBridge with the agent.</summary>
    public LatencyHistogram VerdictToBridge { get; } = new(binMicroseconds: 1000, bins: 10_000);
    /// <summary>From Asterisk's answer (or AMD verdict) of a callee nobody took to the start of its safe-harbor message (rule: ≤ 2 s).</summary>
    public LatencyHistogram AnswerToSafeHarbor { get; } = new(binMicroseconds: 1000, bins: 10_000);
}

/// <summary>Lock-free latency histogram: <c>bins</c> bins of <c>binMicroseconds</c> (default 10 µs up to 100 ms); negative times count as 0.</summary>
public sealed class LatencyHistogram(int binMicroseconds = 10, int bins = 10_000)
{
    private readonly long[] _bins = new long[bins + 1];
    private long _count;

    public long Count => Volatile.Read(ref _count);

    public void Add(TimeSpan t)
    {
        var bin = (int)Math.Clamp(t.Ticks / (binMicroseconds * 10L), 0, _bins.Length - 1);
        Interlocked.Increment(ref _bins[bin]);
        Interlocked.Increment(ref _count);
    }

    /// <summary>The q-quantile in milliseconds (upper edge of its bin); the largest bin stands for "that or more".</summary>
    public double Percentile(double q)
    {
        var n = Count;
        if (n == 0) return 0;
        long seen = 0;
        for (var i = 0; i < _bins.Length; i++)
        {
            seen += Volatile.Read(ref _bins[i]);
            if (seen >= q * n) return (i + 1) * binMicroseconds / 1000.0;
        }
        return _bins.Length * binMicroseconds / 1000.0;
    }
}
