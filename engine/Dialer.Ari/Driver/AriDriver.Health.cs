using System.Threading.Channels;
using Dialer.Ari.Client;
using Dialer.Core.Engine;

namespace Dialer.Ari.Driver;

public sealed partial class AriDriver
{
    /// <summary>Why a trunk cannot take calls now: its own trouble (breaker, endpoint) or its server's.</summary>
    [Flags]
    private enum Out : byte
    {
        None = 0,
        /// <summary>Its circuit breaker is open (network failures, round trip, loss).</summary>
        Breaker = 1,
        /// <summary>Its PJSIP endpoint is offline, unreachable or missing: out while so, back the moment it is reachable.</summary>
        Endpoint = 2,
        /// <summary>The server's events socket is down: calls placed now could never be followed.</summary>
        Events = 4,
        /// <summary>The server's REST gets no answer (refused, reset, timed out, 502–504) several times in a row.</summary>
        RestFailing = 8,
        /// <summary>The server's REST answers, but too slowly (p95 over <see cref="AriDriverOptions.ServerMaxLatency"/>).</summary>
        RestSlow = 16,
        /// <summary>The server refuses new channels while the trunk's endpoint is fine: Asterisk is shutting down.</summary>
        Refusing = 32,
    }

    private const Out ServerFlags = Out.Events | Out.RestFailing | Out.RestSlow | Out.Refusing;

    private readonly Lock _availabilityGate = new();
    private Out[] _trunkOut = [];
    private Dictionary<AriClient, ServerState> _serverState = [];
    private bool[] _told = []; // what the engine was last told per trunk (it starts with every trunk available)
    private bool[] _endpointSeenOnline = []; // per trunk, since its server's (re)connect: only then does "offline" mean its qualify failed
    private DateTimeOffset _nextEndpointPoll;
    // Per trunk: the first trunk on the same server and endpoint, and the poll's last reading of it (state, when).
    private int[] _sameEndpointAs = [];
    private string?[] _endpointRead = [];
    private DateTimeOffset[] _endpointReadAt = [];
    // Engine events raised where nobody can await (under a lock, in a timer) go to the inbox at once; the rare post that
    // has to wait (inbox full) is awaited by one task, so none is lost or left unobserved.
    private readonly Channel<Task> _waitingPosts = Channel.CreateUnbounded<Task>(); // the multi-reader kind: it can report Count
    private Task? _forwarding;

    private sealed class ServerState
    {
        public Out Out;
        public DateTimeOffset RefusingSince;
        /// <summary>The ping sent while the server is out for its REST (one at a time).</summary>
        public Task Probe = Task.CompletedTask;
    }

    private void InitHealth(IEnumerable<AriClient> servers)
    {
        _trunkOut = new Out[_trunks.Count];
        _told = Enumerable.Repeat(true, _trunks.Count).ToArray();
        _endpointSeenOnline = new bool[_trunks.Count];
        _endpointRead = new string?[_trunks.Count];
        _endpointReadAt = new DateTimeOffset[_trunks.Count];
        _sameEndpointAs = Enumerable.Range(0, _trunks.Count)
            .Select(t => Enumerable.Range(0, t + 1).First(u => _trunkServer[u] == _trunkServer[t] && _trunkEndpoint[u] == _trunkEndpoint[t])).ToArray();
        _serverState = servers.ToDictionary(s => s, _ => new ServerState());
    }

    /// <summary>Whether the driver lets the engine use the trunk now (its breaker, endpoint and server all fine; half-open counts as available).</summary>
    public bool IsAvailable(int trunk)
    {
        lock (_availabilityGate) return (_trunkOut[trunk] | _serverState[_trunkServer[trunk]].Out) == Out.None;
    }

    /// <summary>Whether the server is refusing, failing, slow or unheard (every one of its trunks is then out).</summary>
    public bool IsServerHealthy(string serverId)
    {
        lock (_availabilityGate) return _serverState[_servers[serverId]].Out == Out.None;
    }

    /// <summary>Sets or clears one trunk's own reason to be out, and tells the engine if its availability changed.</summary>
    private void SetTrunkOut(int trunk, Out reason, bool on, string why)
    {
        lock (_availabilityGate)
        {
            var before = _trunkOut[trunk];
            _trunkOut[trunk] = on ? before | reason : before & ~reason;
            if (_trunkOut[trunk] != before) Tell(trunk, why);
        }
    }

    /// <summary>Sets or clears a server's reason to be out (every trunk it carries follows).</summary>
    private void SetServerOut(AriClient server, Out reason, bool on, string why)
    {
        lock (_availabilityGate)
        {
            var s = _serverState[server];
            var before = s.Out;
            s.Out = on ? before | reason : before & ~reason;
            if (s.Out == before) return;
            if (reason == Out.Refusing && on) s.RefusingSince = _time.GetUtcNow();
            Log?.Invoke($"ARI {server.ServerId}: {why}");
            for (var t = 0; t < _trunks.Count; t++)
                if (_trunkServer[t] == server) Tell(t, why);
        }
    }

    /// <summary>Under the gate: posts TrunkAvailability when what the engine knows is no longer true.</summary>
    private void Tell(int trunk, string why)
    {
        var available = (_trunkOut[trunk] | _serverState[_trunkServer[trunk]].Out) == Out.None;
        if (_told[trunk] == available) return;
        _told[trunk] = available;
        Notify(EngineEvent.TrunkAvailability(trunk, available, $"trunk '{_trunks[trunk].Name}': {why}", _time.GetUtcNow().UtcDateTime));
    }

    private void Notify(EngineEvent e)
    {
        var posted = _post(e);
        if (!posted.IsCompletedSuccessfully) _waitingPosts.Writer.TryWrite(posted.AsTask());
    }

    private async Task ForwardNotices()
    {
        await foreach (var posted in _waitingPosts.Reader.ReadAllAsync())
        {
            try { await posted; }
            catch (Exception x) when (x is InvalidOperationException or OperationCanceledException or ChannelClosedException)
            {
                Log?.Invoke($"the engine did not take an event: {x.Message}"); // it is stopping: nothing left to tell
            }
        }
    }

    /// <summary>A breaker decision of <see cref="TrunkHealth"/> (null: no change).</summary>
    private void ApplyBreaker(int trunk, bool? available, string why)
    {
        if (available is not { } on) return;
        Log?.Invoke($"trunk '{_trunks[trunk].Name}': circuit {(on ? "closed, back in service" : "open, out of service")} ({why})");
        if (!on) Interlocked.Increment(ref Stats._breakerTrips);
        SetTrunkOut(trunk, Out.Breaker, !on, on ? "circuit closed" : $"circuit open: {why}");
    }

    /// <summary>Endpoint states from GET /endpoints: "offline"/"missing" are out, anything else in.</summary>
    private void OnEndpointState(int trunk, string state)
    {
        var down = state is "offline" or "missing";
        SetTrunkOut(trunk, Out.Endpoint, down, down ? $"endpoint {state}" : $"endpoint {state}");
    }

    /// <summary>
    /// The health check, every <see cref="AriDriverOptions.HealthCheckEvery"/>, on a timer of its own that never waits for
    /// Asterisk (a slow one must not delay the news that it is slow): each server's events socket and REST health, refusal
    /// pauses, tripped trunks whose cool-down is over. A server out for its REST is probed (nothing else asks it).
    /// </summary>
    private async Task WatchHealth(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.HealthCheckEvery, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(ct)) CheckServers(ct);
        }
        catch (OperationCanceledException) { }
        foreach (var s in _serverState.Values) await s.Probe;
    }

    private void CheckServers(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        foreach (var t in Health.DueForProbe(now))
        {
            Log?.Invoke($"trunk '{_trunks[t].Name}': cool-down over, probing");
            SetTrunkOut(t, Out.Breaker, false, "cool-down over, probing");
        }
        foreach (var server in _servers.Values)
        {
            // Not before its first connect is done: a socket still coming up is no outage (it would start the 30 s ramp of a recovery).
            if (!server.IsConnected && _firstReconcile[server.ServerId].Task.IsCompleted)
                SetServerOut(server, Out.Events, true, server.Replaced ? $"events lost: app '{server.Options.App}' replaced by another connection" : "events socket down");
            var rest = server.RestHealth;
            var failing = rest.ConsecutiveFailures >= _options.ServerFailures;
            // A full window only: the first requests of a connection (TCP, JIT) are slow once, and p95 of 20 forgives one.
            // Requests still waiting count with the time they have waited: a slow Asterisk shows within the limit of its first late requests.
            var p95 = rest.P95Ms();
            var slow = rest.Samples >= RestHealth.Window && p95 > _options.ServerMaxLatency.TotalMilliseconds;
            SetServerOut(server, Out.RestFailing, failing, failing ? $"REST not answering ({rest.ConsecutiveFailures} requests in a row)" : "REST answering again");
            SetServerOut(server, Out.RestSlow, slow, slow ? $"REST slow (p95 {p95:0} ms)" : "REST fast again");
            var state = _serverState[server];
            bool refusing;
            lock (_availabilityGate)
                refusing = (state.Out & Out.Refusing) != 0 && now - state.RefusingSince < _options.RefusalPause;
            if (!refusing) SetServerOut(server, Out.Refusing, false, "refusal pause over, calls may try again");
            if ((failing || slow) && state.Probe.IsCompleted) state.Probe = Probe(server, ct);
        }
    }

    /// <summary>One request to a server that is out for its REST: its answer (fast, slow, none) is what can bring it back.</summary>
    private static async Task Probe(AriClient server, CancellationToken ct)
    {
        try { await server.PingAsync(ct); }
        catch (Exception e) when (e is AriException or OperationCanceledException) { } // counted by RestHealth
    }

    /// <summary>
    /// Trunk endpoints read by GET /endpoints: those out at every tick, every one each <see cref="AriDriverOptions.EndpointPollEvery"/>.
    /// Polled, not subscribed to: a subscription to endpoint:PJSIP/&lt;trunk&gt; makes Asterisk send every event of every call
    /// on the trunk a second time (lab capture k: 39 tasks per call on the app's event queue instead of 18).
    /// </summary>
    private async Task PollEndpoints(DateTimeOffset now, CancellationToken ct)
    {
        var all = now >= _nextEndpointPoll;
        if (all) _nextEndpointPoll = now + _options.EndpointPollEvery;
        for (var t = 0; t < _trunks.Count; t++)
        {
            bool down;
            lock (_availabilityGate) down = (_trunkOut[t] & Out.Endpoint) != 0;
            if (!(down || all) || !_trunkServer[t].IsConnected) continue;
            // Trunks through one endpoint (number prefixes on one carrier) share one reading: one request per endpoint, not per trunk.
            var first = _sameEndpointAs[t];
            if (first < t && _endpointReadAt[first] == now) ApplyEndpoint(t, _endpointRead[first]);
            else
            {
                _endpointRead[t] = await CheckEndpoint(t, ct);
                _endpointReadAt[t] = now;
            }
        }
    }

    /// <summary>
    /// One trunk's endpoint state, acted on: missing is out; offline is out once the endpoint was online since its server's
    /// (re)connect (its qualify failed), and changes nothing before (right after a boot every trunk reads offline until its
    /// first qualify, spread over qualify_frequency: lab capture c, 11.9 s; Asterisk dials it all the same, and a dead one
    /// says so by refusing the call, <see cref="BlameTrunkAsync"/>, or by the breaker). Returns the state, null if not read.
    /// </summary>
    private async Task<string?> CheckEndpoint(int trunk, CancellationToken ct)
    {
        string state;
        try { state = (await _trunkServer[trunk].GetEndpointAsync("PJSIP", _trunkEndpoint[trunk], ct)).State ?? "unknown"; }
        catch (AriException e) // Asterisk's trouble, not the trunk's: RestHealth counts it
        {
            Log?.Invoke($"trunk '{_trunks[trunk].Name}': endpoint check failed: {e.Message}");
            return null;
        }
        return ApplyEndpoint(trunk, state);
    }

    /// <summary>A reading of the trunk's endpoint (null: none could be made) acted on; returns it.</summary>
    private string? ApplyEndpoint(int trunk, string? state)
    {
        if (state is null) return null;
        lock (_availabilityGate)
        {
            if (state == "offline" && !_endpointSeenOnline[trunk]) return state;
            if (state != "missing") _endpointSeenOnline[trunk] = true;
        }
        OnEndpointState(trunk, state);
        return state;
    }
}
