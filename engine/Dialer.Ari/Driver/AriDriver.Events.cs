using Dialer.Ari.Client;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Ari.Driver;

public sealed partial class AriDriver
{
    // ---- events (one server's events arrive here one at a time, in order) ------------------------------

    public async ValueTask OnEventAsync(AriClient server, AriEvent e, CancellationToken ct)
    {
        switch (e.Type)
        {
            case AriEventType.PlaybackStarted:
                // The safe-harbor message began: how long after the answer, on Asterisk's clock (the 2 s rule).
                if (e.Playback?.TargetUri is { } started && started.StartsWith("channel:", StringComparison.Ordinal)
                    && _legs.TryGetValue(started["channel:".Length..], out var held) && held.Server == server && held.AnsweredAt != default)
                    Stats.AnswerToSafeHarbor.Add(e.Timestamp - held.AnsweredAt);
                return;
            case AriEventType.PlaybackFinished:
                // A script's prompt is over (it goes on), or the safe-harbor message is (hang up). Target: "channel:{id}".
                if (e.Playback?.TargetUri is { } target && target.StartsWith("channel:", StringComparison.Ordinal)
                    && _legs.TryGetValue(target["channel:".Length..], out var heard) && heard.Server == server
                    && !OnPromptFinished(heard, e.Playback.Id))
                    Queue(heard, CallCommand.Hangup, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
                return;
        }
        var chan = e.Subject;
        if (chan is null) return;
        switch (e)
        {
            // Channels Asterisk made, not us: an agent calling in from their phone, a callee's leg from another server.
            case { Type: AriEventType.StasisStart, Args: ["agent", var agentId, ..] }:
                await OnAgentDialedIn(server, agentId, chan, e.Timestamp);
                return;
            case { Type: AriEventType.StasisStart, Args: ["xfer", var agentId, ..] }:
                OnXferArrived(server, agentId, chan);
                return;
        }
        if (_agentByChannel.TryGetValue(chan.Id, out var line) && line.Server == server) await OnAgentEvent(line, e, chan);
        else if (_legs.TryGetValue(chan.Id, out var leg) && leg.Server == server) await OnCallEvent(leg, e, chan);
        else if (IsLateCall(server, chan.Id, e.Type))
        {
            // A call of ours (or of an owner taken over) nobody here placed: the fenced owner's request that reached Asterisk
            // after the takeover (Asterisk cannot check a lease). The reconciliation missed it: hung up at its first event.
            Interlocked.Increment(ref Stats._lateCallsHungUp);
            Log?.Invoke($"ARI {server.ServerId}: call {chan.Id} placed by an owner whose lease had ended: hung up");
            _ = Quietly(server.HangupAsync(chan.Id, ct: _stop.Token));
        }
        else if (e.Type == AriEventType.ChannelDestroyed && _xfers.TryRemove(chan.Id, out var carried) && carried.Ended == 0)
        {
            // The leg to the agent's server failed or was hung up there: the callee cannot stay alone in its bridge.
            Log?.Invoke($"call {carried.Call.Id}: inter-server leg to agent '{carried.Agent?.Agent.Id}' ended (cause {e.Cause}): hanging up");
            Queue(carried, CallCommand.Hangup, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
        }
    }

    /// <summary>
    /// A callee channel (never an agent line or inter-server leg: a taken-over owner's lines are taken back, not hung up)
    /// of an owner this engine took over, that no call here is on, heard after the server's first reconciliation (before it,
    /// adoption and take-back are not done) and while the driver is not stopping. Its end events are not a call: the
    /// late call's first event hangs it up, the ones after it until it is gone are not counted again.
    /// </summary>
    private bool IsLateCall(AriClient server, string channelId, AriEventType type)
    {
        if (type is AriEventType.StasisEnd or AriEventType.ChannelDestroyed)
        {
            _lateCalls.TryRemove(channelId, out _);
            return false;
        }
        // Only a taken-over owner's: an id of this node's own that it did not place is someone else's channel that took our
        // next id (a 409 on our create, ParityTests) or our own request given up, which reconciliation's orphan sweep ends.
        var owner = _owners.OwnerOf(channelId, out var parsed);
        return owner is not null && owner.Prefix != _owners.Self.Prefix && parsed.Kind == ChannelKind.Call
            && _firstReconcile[server.ServerId].Task.IsCompleted && Volatile.Read(ref _stopping) == 0
            && _lateCalls.TryAdd(channelId, 0);
    }

    /// <summary>The agent dialed [dialer-agents] from their phone: Stasis(dialer,agent,ID). That channel is their line now.</summary>
    private async ValueTask OnAgentDialedIn(AriClient server, string agentId, AriChannel chan, DateTime e0)
    {
        if (!_agentById.TryGetValue(agentId, out var line) || line.Server != server)
        {
            if (line is null && _options.SharedServers) return; // another campaign's or node's agent: theirs to answer
            Log?.Invoke($"ARI {server.ServerId}: phone call in for unknown agent '{agentId}' (or one configured on another server): hung up");
            _ = Quietly(server.HangupAsync(chan.Id, ct: _stop.Token));
            return;
        }
        if (line.LoggedIn && line.ChannelId != chan.Id) _ = Quietly(server.HangupAsync(line.ChannelId, ct: _stop.Token)); // the newer call wins
        _agentByChannel[chan.Id] = line;
        line.ChannelId = chan.Id;
        await OnAgentEvent(line, new AriEvent { Type = AriEventType.ChannelStateChange, Timestamp = e0 }, chan);
    }

    /// <summary>A callee's leg from another server arrived in Stasis(dialer,xfer,AGENT): into that agent's bridge.</summary>
    private void OnXferArrived(AriClient server, string agentId, AriChannel chan)
    {
        if (_agentById.TryGetValue(agentId, out var line) && line.Server == server && line.LoggedIn)
            _ = Quietly(server.AddChannelAsync(line.BridgeId, chan.Id, _stop.Token));
        else if (line is null && _options.SharedServers) return; // a leg another campaign or node sent to its own agent
        else
        {
            Log?.Invoke($"ARI {server.ServerId}: inter-server call for agent '{agentId}', who is not logged in here: hung up");
            _ = Quietly(server.HangupAsync(chan.Id, ct: _stop.Token));
        }
    }

    private async ValueTask OnCallEvent(Leg leg, AriEvent e, AriChannel chan)
    {
        if (leg.OriginateSentTicks != 0 && e.Timestamp != default)
        {
            Stats.OriginateToChannel.Add(e.Timestamp - new DateTime(leg.OriginateSentTicks, DateTimeKind.Utc));
            leg.OriginateSentTicks = 0;
        }
        if (leg.MediaSince == 0 && chan.State == ChannelState.Up) leg.MediaSince = _time.GetTimestamp(); // RTP flows from the SIP answer, before any AMD verdict
        switch (e.Type)
        {
            case AriEventType.ChannelEnteredBridge when leg.AnsweredAt != default:
                Stats.VerdictToBridge.Add(e.Timestamp - leg.AnsweredAt);
                if (leg.BridgedAt == default) leg.BridgedAt = e.Timestamp;
                break;
            case AriEventType.ChannelStateChange when chan.State == ChannelState.Ringing:
            case AriEventType.Dial when e.DialStatus is DialStatus.Ringing or DialStatus.Progress:
                leg.Provisional = true;
                break;
            case AriEventType.ChannelStateChange when chan.State == ChannelState.Up && !_options.Amd:
            case AriEventType.Dial when e.DialStatus == DialStatus.Answer && !_options.Amd:
                await AnsweredAsync(leg, human: true, e.Timestamp);
                break;
            case AriEventType.StasisStart when e.Args is ["amd", var status, ..]:
                // Back from the AMD context: Stasis(dialer,amd,${AMDSTATUS},${AMDCAUSE}). NOTSURE goes to an agent (never risk an abandon).
                await AnsweredAsync(leg, human: status != "MACHINE", e.Timestamp);
                break;
            case AriEventType.StasisStart when _options.Amd && chan.State == ChannelState.Up:
                Queue(leg, CallCommand.Continue, static (d, l, _, ct) => d.ContinueToAmdAsync(l, ct));
                break;
            // A key can arrive twice, the copies alike to the millisecond: once for the channel, once through a subscription
            // to the trunk's endpoint (lab capture k, when the driver subscribed to it; the real-Asterisk survey took the first
            // answer's key for the second question). subscribeAll hears endpoints too.
            case AriEventType.ChannelDtmfReceived when e.Digit is { } digit && (e.Timestamp == default || e.Timestamp != leg.LastKeyAt): // an event with no time is never taken for a repeat
                leg.LastKeyAt = e.Timestamp;
                OnScriptKey(leg, digit);
                break;
            case AriEventType.ChannelVarset when e.Variable == "RTPAUDIOQOS":
                OnMedia(leg, RtcpSummary.Parse(e.Value)); // the call's RTCP summary, set as it ends: quality for every call, no polling
                break;
            case AriEventType.ChannelDestroyed:
                var cause = e.Cause ?? 0;
                // A dial timeout (cause 18/19) with no ringing or progress ever seen: the far end never answered SIP at all
                // (lab capture f: a dead carrier ends exactly like a ring timeout). That is the network's failure, not the callee's.
                var deadPeer = cause is 18 or 19 && leg.Answered == 0 && !leg.Provisional;
                // Cause 0 on a call that was up is the far end's BYE while alone in the app (in AMD, waiting for an agent):
                // the trunk carried it (load run at 30 calls/s: such hang-ups opened carrier-a's breaker).
                var byeWhileUp = cause == 0 && leg.MediaSince != 0;
                await EndAsync(leg, cause, deadPeer || (TrunkHealth.IsNetworkFailure(cause) && !byeWhileUp), e.Timestamp);
                break;
        }
    }

    /// <summary>Into the AMD context. A retry that finds the channel out of Stasis (409) means our first request made it (load run: a slow reply retried).</summary>
    private async Task ContinueToAmdAsync(Leg leg, CancellationToken ct)
    {
        try { await leg.Server.ContinueAsync(leg.Id, _options.AmdContext, _options.AmdExtension, 1, ct); }
        catch (AriConflictException e) when (e.Retried) { }
    }

    /// <summary>
    /// Agent state from the phone: up and in our app → into the bridge; in the bridge → logged in (ready); hung up →
    /// logged out. Keys: ready, pause, hang up the callee (AriDriverOptions.Dtmf*).
    /// </summary>
    private async ValueTask OnAgentEvent(AgentLine line, AriEvent e, AriChannel chan)
    {
        if (chan.Id != line.ChannelId) return; // an older line of this agent's, already replaced
        switch (e.Type)
        {
            case AriEventType.ChannelStateChange when chan.State == ChannelState.Up:
                _ = JoinBridge(line, chan.Id); // never hold up the event loop
                break;
            case AriEventType.ChannelEnteredBridge when e.Bridge?.Id == line.BridgeId && !line.LoggedIn:
                line.LoggedIn = true;
                Volatile.Write(ref line.Dialing, 0);
                await _post(EngineEvent.Login(line.Agent.Index, Stamp(e)));
                break;
            case AriEventType.ChannelDtmfReceived when line.LoggedIn && e.Digit is { } key:
                // Ready pressed while the call is still on the line (right after the hang-up key, before Asterisk's end of the
                // call has come back) would reach the engine before the call's end and be dropped as stale: it counts once the call has ended.
                if (key == _options.DtmfReady && _legs.Values.Any(l => l.Agent == line)) Volatile.Write(ref line.ReadyWhenFree, 1);
                else if (key == _options.DtmfReady) await _post(EngineEvent.Ready(line.Agent.Index, Stamp(e)));
                else if (key == _options.DtmfPause) await _post(EngineEvent.Pause(line.Agent.Index, "phone", Stamp(e)));
                else if (key == _options.DtmfHangup && _legs.Values.FirstOrDefault(l => l.Agent == line) is { } talking)
                    Queue(talking, CallCommand.Hangup, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
                break;
            // A phone that dialed in is ours only while in Stasis: when it hangs up, Asterisk sends StasisEnd and nothing
            // after it (lab capture i). Our own agent call ends with StasisEnd and then ChannelDestroyed: the first one counts.
            case AriEventType.StasisEnd or AriEventType.ChannelDestroyed:
                Volatile.Write(ref line.Dialing, 0);
                if (chan.Id != line.DialedId) _agentByChannel.TryRemove(chan.Id, out _);
                line.ChannelId = line.DialedId;
                if (line.BridgeId != line.OwnBridgeId)
                {
                    // The line had been taken back in a dead node's bridge: that bridge has no use now; the next login makes ours.
                    _ = Quietly(line.Server.DeleteBridgeAsync(line.BridgeId, _stop.Token));
                    line.BridgeId = line.OwnBridgeId;
                }
                if (!line.LoggedIn) break;
                line.LoggedIn = false;
                await _post(EngineEvent.Logout(line.Agent.Index, Stamp(e)));
                break;
        }
    }

    /// <summary>Asterisk's time of the event, or now when it carried none.</summary>
    private DateTime Stamp(AriEvent e) => e.Timestamp == default ? _time.GetUtcNow().UtcDateTime : e.Timestamp;

    /// <summary>
    /// The agent's phone into their bridge. A phone up before the login made the bridge (an agent dialing in right after a
    /// connect: the bridge is made off the event loop) gets it made now. If that fails the agent cannot take calls: their
    /// line is hung up (they log in again).
    /// </summary>
    private async Task JoinBridge(AgentLine line, string channelId)
    {
        try
        {
            try { await line.Server.AddChannelAsync(line.BridgeId, channelId, _stop.Token); }
            catch (AriNotFoundException) when (line.BridgeId == line.OwnBridgeId)
            {
                await MakeBridgeAsync(line, _stop.Token);
                await line.Server.AddChannelAsync(line.BridgeId, channelId, _stop.Token);
            }
        }
        catch (Exception e) when (e is AriException or OperationCanceledException)
        {
            Log?.Invoke($"agent {line.Agent.Id}: phone could not join the bridge: {e.Message}");
            await Quietly(line.Server.HangupAsync(channelId, ct: _stop.Token));
        }
    }

    /// <summary>
    /// A call's RTCP summary (polled while up, or RTPAUDIOQOS as it ends), counted only if packets arrived since the last
    /// reading of it and no more than one stream can carry in the time between (<see cref="RtcpSummary.Since"/>).
    /// </summary>
    private void OnMedia(Leg leg, RtcpSummary? reading)
    {
        if (reading is not { } m) return;
        var now = _time.GetTimestamp();
        var from = leg.LastRtcp is null ? leg.MediaSince : leg.LastRtcpAt;
        var fresh = m.Since(leg.LastRtcp, from == 0 ? TimeSpan.MaxValue : _time.GetElapsedTime(from, now));
        leg.LastRtcp = m;
        leg.LastRtcpAt = now;
        if (fresh is { } f) ApplyBreaker(leg.Trunk, Health.OnMedia(leg.Trunk, f, _time.GetUtcNow()), $"RTCP rtt {f.RttMs:0} ms, loss {f.Loss:P0}");
    }

    /// <summary>
    /// After a (re)connect: each trunk's PJSIP endpoint read again, as if never seen online (a restarted Asterisk reads every
    /// trunk offline until its first qualify, and dials it all the same): missing is out, offline is only logged.
    /// </summary>
    private async Task CheckTrunkEndpoints(AriClient server, CancellationToken ct)
    {
        for (var t = 0; t < _trunks.Count; t++)
        {
            if (_trunkServer[t] != server) continue;
            lock (_availabilityGate) _endpointSeenOnline[t] = false;
            if (await CheckEndpoint(t, ct) == "offline")
                Log?.Invoke($"trunk '{_trunks[t].Name}': endpoint offline on '{server.ServerId}' (not qualified yet?): calls go on until it is found unreachable");
        }
    }

    /// <summary>The event types the driver acts on; everything else Asterisk need not even serialize.</summary>
    private static readonly string[] EventsWeUse =
    [
        "StasisStart", "StasisEnd", "ChannelStateChange", "Dial", "ChannelDestroyed", "ChannelEnteredBridge", "ChannelDtmfReceived",
        "PlaybackStarted", "PlaybackFinished",
        // To the session it leaves, through the app's filter like any event: without it a replaced engine would never know.
        "ApplicationReplaced",
    ];

    /// <summary>
    /// What the app hears (lab capture g): without subscribeAll, its own channels and bridges only (trunk endpoints are
    /// polled, <see cref="PollEndpoints"/>); and only the event types it uses. A failure here is logged, not fatal: the
    /// calls still work, only with more events (an Asterisk before 16.3 has no event filter).
    /// </summary>
    private async Task SubscribeAsync(AriClient server, CancellationToken ct)
    {
        try
        {
            await server.SetEventFilterAsync(_options.EveryCallQuality ? [.. EventsWeUse, "ChannelVarset"] : EventsWeUse, ct);
        }
        catch (AriException e)
        {
            Log?.Invoke($"ARI {server.ServerId}: subscribing to what the dialer needs failed: {e.Message}");
        }
        if (!server.Options.SubscribeAll) await DropStaleSubscriptions(server, ct);
    }

    /// <summary>
    /// Asterisk keeps an app's subscriptions across WebSocket reconnects until it restarts, and counts them (lab7: an app an
    /// older build had subscribed to its trunks' endpoints, once per reconnect, still heard every call event twice). The
    /// driver subscribes to no endpoint and no device state, so whatever the app has of those is stale: dropped at each
    /// (re)connect, as many times as Asterisk counted it. A failure is logged, not fatal: the calls work, with more events.
    /// An app some client registered with subscribeAll keeps hearing everything until Asterisk restarts (no REST undoes it).
    /// </summary>
    private async Task DropStaleSubscriptions(AriClient server, CancellationToken ct)
    {
        try
        {
            var app = await server.GetApplicationAsync(ct);
            var stale = app.EndpointIds.Select(id => "endpoint:" + id).Concat(app.DeviceNames.Select(d => "deviceState:" + d))
                .Where(s => !s.Contains("__AST_", StringComparison.Ordinal)).ToList();
            if (stale.Count == 0) return;
            Log?.Invoke($"ARI {server.ServerId}: dropping {stale.Count} subscriptions left by an earlier connection ({string.Join(", ", stale)})");
            foreach (var source in stale)
                for (var times = 0; times < 1000; times++)
                {
                    var left = await server.UnsubscribeAsync(source, ct);
                    if (!left.EndpointIds.Any(id => source == "endpoint:" + id) && !left.DeviceNames.Any(d => source == "deviceState:" + d)) break;
                }
        }
        catch (AriUnprocessableException) { } // gone meanwhile
        catch (AriException e)
        {
            Log?.Invoke($"ARI {server.ServerId}: dropping stale subscriptions failed: {e.Message}");
        }
    }

    // ---- reconciliation ----------------------------------------------------------------------------------

    /// <summary>
    /// After a (re)connect or dropped events: calls whose channel is gone ended while we were not listening
    /// (their ChannelDestroyed is lost): end them with cause 0 so the lead is retried, never dialed twice.
    /// Answers we missed are reported; our channels nobody owns are hung up; agents are called back into their bridges.
    /// </summary>
    public async ValueTask ReconcileAsync(AriClient server, ReconcileReason reason, CancellationToken ct)
    {
        Interlocked.Increment(ref Stats._reconciliations);
        SetServerOut(server, Out.Events, false, "events socket up");
        SetServerOut(server, Out.Refusing, false, "reconnected");
        await SubscribeAsync(server, ct);
        await PublishAgentAppsAsync(server, ct);
        await CheckTrunkEndpoints(server, ct);
        // Before the channel list: an adopted call that ends before its subscription is then found gone by that list.
        foreach (var leg in _legs.Values)
            if (leg.Server == server && leg.Adopted)
            {
                leg.Adopted = false;
                if (await FollowAsync(server, leg.Id, ct) && leg.XferBridge is not null) await FollowAsync(server, leg.XferId, ct);
            }
        var channels = (await server.ListChannelsAsync(ct)).ToDictionary(c => c.Id, StringComparer.Ordinal);
        var bridges = (await server.ListBridgesAsync(ct)).ToDictionary(b => b.Id, StringComparer.Ordinal);
        foreach (var line in _agents)
            if (line.Server == server && !line.LoggedIn) await TakeBackAsync(line, channels, bridges);
        foreach (var leg in _legs.Values)
        {
            if (leg.Server != server || !leg.Placed) continue; // a call still being placed is not known to Asterisk yet
            if (!channels.TryGetValue(leg.Id, out var ch))
            {
                Interlocked.Increment(ref Stats._reconciledEnds);
                await EndAsync(leg, cause: 0, networkFailure: false);
            }
            else if (ch.State == ChannelState.Up && !_options.Amd) await AnsweredAsync(leg, human: true, default);
        }
        foreach (var id in channels.Keys)
            // Only our own (and those of nodes taken over): other nodes and campaigns may share this Asterisk.
            if (_owners.Owns(id) && !_legs.ContainsKey(id) && !_agentByChannel.ContainsKey(id) && !_xfers.ContainsKey(id))
            {
                Interlocked.Increment(ref Stats._orphansHungUp);
                await server.HangupAsync(id, ct: ct);
            }
        foreach (var line in _agents)
        {
            if (line.Server != server) continue;
            if (!channels.ContainsKey(line.ChannelId) && line.LoggedIn)
            {
                line.LoggedIn = false;
                line.ChannelId = line.DialedId;
                await _post(EngineEvent.Logout(line.Agent.Index, _time.GetUtcNow().UtcDateTime));
            }
            if (!line.LoggedIn) _ = LoginAsync(line);
        }
        Log?.Invoke($"ARI {server.ServerId}: reconciled after {reason}: {channels.Count} channels on the server, {_legs.Count} calls live");
        _firstReconcile[server.ServerId].TrySetResult();
    }

    /// <summary>
    /// An agent line still up in its bridge (after a restart, or events lost while the socket was down) is taken back: the
    /// agent is logged in again at once, without a new call to their phone (which Asterisk would refuse, 409). The bridge is
    /// this node's, or a dead node's taken over; the phone is the channel we dialed, or the one the agent dialed in on (the
    /// bridge's only member that is not a call of ours). A bridge with the agent's callee in it stays as it is.
    /// </summary>
    private async ValueTask<bool> TakeBackAsync(AgentLine line, IReadOnlyDictionary<string, AriChannel> channels, IReadOnlyDictionary<string, AriBridge> bridges)
    {
        foreach (var owner in _owners.All)
        {
            if (!bridges.TryGetValue(owner.AgentBridge(line.Agent.Id), out var bridge)) continue;
            var phone = AgentPhoneIn(bridge, owner.Agent(line.Agent.Id));
            // Followed before it is taken back: a phone hung up since the list is not taken for a line still up.
            if (phone is null || !channels.TryGetValue(phone, out var ch) || ch.State != ChannelState.Up || !await FollowAsync(line.Server, phone, _stop.Token)) continue;
            _agentByChannel[phone] = line;
            line.ChannelId = phone;
            line.BridgeId = bridge.Id;
            line.LoggedIn = true;
            Volatile.Write(ref line.Dialing, 0);
            Interlocked.Increment(ref Stats._agentsTakenBack);
            Log?.Invoke($"agent {line.Agent.Id}: line still up in bridge {bridge.Id}: taken back");
            await _post(EngineEvent.Login(line.Agent.Index, _time.GetUtcNow().UtcDateTime));
            return true;
        }
        return false;
    }

    /// <summary>
    /// A channel an earlier engine left (an adopted call, its inter-server leg, an agent's phone taken back) may be in another
    /// app than ours: in <c>dialer</c> before an upgrade, or in another campaign's app. Its events come to us once our app is
    /// subscribed to it (Asterisk sends a channel's events to the app it is in and to those subscribed to it). A failure is
    /// logged: the call goes on, but its end is then only found by a reconciliation. False when Asterisk no longer has the
    /// channel (422): it ended meanwhile.
    /// </summary>
    private async Task<bool> FollowAsync(AriClient server, string channelId, CancellationToken ct)
    {
        try { await server.SubscribeAsync($"channel:{channelId}", ct); }
        catch (AriUnprocessableException) { return false; }
        catch (AriException e) { Log?.Invoke($"ARI {server.ServerId}: could not follow channel {channelId} left by an earlier engine: {e.Message}"); }
        return true;
    }

    /// <summary>
    /// Tells the dialplan which app this server's agents belong to: global DIALER_AGENT_APP_{agent id} (and _{endpoint name},
    /// which a phone dialing 500 passes) = our app, read by [agent-phones] and [dialer-interserver] so an agent's dial-in and the
    /// legs other servers send them enter their campaign's engine. Set at every (re)connect: an Asterisk restart clears globals.
    /// Failures are logged: calling agents (call_agents) and calls on one server need none of it.
    /// </summary>
    private async Task PublishAgentAppsAsync(AriClient server, CancellationToken ct)
    {
        var names = _agents.Where(a => a.Server == server).SelectMany(a => new[] { a.Agent.Id, EndpointResource(a.Endpoint) }).Distinct(StringComparer.Ordinal).ToList();
        try { await Task.WhenAll(names.Select(n => server.SetGlobalVariableAsync(AgentAppGlobal + n, server.Options.App, ct))); }
        catch (AriException e) { Log?.Invoke($"ARI {server.ServerId}: could not tell the dialplan the agents' app ({AgentAppGlobal}…): {e.Message}"); }
    }

    /// <summary>The agent's phone among a bridge's members: the channel we dialed, else the one member that is none of our calls.</summary>
    private string? AgentPhoneIn(AriBridge bridge, string dialedId)
    {
        string? other = null;
        var others = 0;
        foreach (var id in bridge.Channels)
        {
            if (id == dialedId) return id;
            if (_owners.OwnerOf(id, out _) is null) { other = id; others++; }
        }
        return others == 1 ? other : null; // two foreign members (an inter-server leg beside a dialed-in phone): cannot tell which
    }

    /// <summary>
    /// Makes the agent's bridge and, unless agents dial in themselves, calls the agent's phone into it (the agent
    /// answers once per session and stays on the line). A phone already up (409: a line that outlived our knowledge of it)
    /// is taken back instead.
    /// </summary>
    private async Task LoginAsync(AgentLine line)
    {
        if (_options.MayPlace?.Invoke() is not null) return; // no longer the campaign's owner: its agents' lines are the new owner's
        if (Interlocked.Exchange(ref line.Dialing, 1) == 1) return;
        var ct = _stop.Token;
        try
        {
            await MakeBridgeAsync(line, ct);
            if (!_options.CallAgents)
            {
                Volatile.Write(ref line.Dialing, 0);
                return;
            }
            try { await line.Server.CreateChannelAsync(line.DialedId, line.Endpoint, $"agent,{line.Agent.Id}", null, ct); }
            catch (AriConflictException) { }
            try { await line.Server.DialAsync(line.DialedId, _options.AgentRingSeconds, ct); }
            catch (AriConflictException) { await TakeBackDialedAsync(line, ct); }
        }
        catch (Exception e) when (e is AriException or OperationCanceledException)
        {
            Volatile.Write(ref line.Dialing, 0);
            Log?.Invoke($"agent {line.Agent.Id}: login call failed: {e.Message}");
        }
    }

    /// <summary>The agent's own bridge; one that exists already (a restart, a second login) is fine.</summary>
    private static async Task MakeBridgeAsync(AgentLine line, CancellationToken ct)
    {
        try { await line.Server.CreateBridgeAsync(line.OwnBridgeId, "mixing", line.Agent.Id, ct); }
        // Asterisk 22 answers 409 "Bridge with id … already exists" (lab cl1: a bridge an earlier process of this node left);
        // 500 "Possible duplicate bridge id" when two creates race.
        catch (AriException e) when (e is AriConflictException || e is AriServerErrorException && e.AsteriskMessage?.Contains("duplicate", StringComparison.OrdinalIgnoreCase) == true) { }
    }

    /// <summary>
    /// Our call to the agent's phone exists already and was dialed ("Channel is already dialed"): in the bridge → taken back;
    /// up but outside it → into the bridge (its ChannelEnteredBridge logs the agent in); still ringing → its answer will.
    /// </summary>
    private async Task TakeBackDialedAsync(AgentLine line, CancellationToken ct)
    {
        Volatile.Write(ref line.Dialing, 0);
        var bridge = await line.Server.GetBridgeAsync(line.OwnBridgeId, ct);
        var ch = await line.Server.GetChannelAsync(line.DialedId, ct);
        if (ch is null || bridge is null) return;
        var channels = new Dictionary<string, AriChannel>(StringComparer.Ordinal) { [ch.Id] = ch };
        if (await TakeBackAsync(line, channels, new Dictionary<string, AriBridge>(StringComparer.Ordinal) { [bridge.Id] = bridge })) return;
        if (ch.State == ChannelState.Up) await JoinBridge(line, ch.Id);
    }

    // ---- periodic work -----------------------------------------------------------------------------------

    /// <summary>
    /// Twice a second, the REST side of housekeeping: trunk endpoint states; now and then, one live call's RTCP per trunk.
    /// Its requests may wait on a slow Asterisk; the health check (<see cref="WatchHealth"/>) does not wait for them.
    /// </summary>
    private async Task Housekeeping(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500), _time);
        var nextRtcp = _time.GetUtcNow() + _options.RtcpPollEvery;
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var now = _time.GetUtcNow();
                await PollEndpoints(now, ct);
                if (_options.RtcpPollEvery <= TimeSpan.Zero || now < nextRtcp) continue;
                nextRtcp = now + _options.RtcpPollEvery;
                await PollRtcp(ct);
            }
        }
        catch (OperationCanceledException) { }
    }

    private async Task PollRtcp(CancellationToken ct)
    {
        var sampled = new bool[_trunks.Count];
        foreach (var leg in _legs.Values)
        {
            if (leg.Answered == 0 || sampled[leg.Trunk]) continue;
            sampled[leg.Trunk] = true;
            try
            {
                OnMedia(leg, RtcpSummary.Parse(await leg.Server.GetVariableAsync(leg.Id, "CHANNEL(rtcp,all)", ct)));
            }
            catch (AriException) { } // the call ended meanwhile (or REST trouble, which RestHealth counts)
        }
    }
}
