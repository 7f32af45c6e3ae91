using Dialer.Ari.Client;
using Dialer.Core.Engine;

namespace Dialer.Ari.Driver;

public sealed partial class AriDriver
{
    // ---- events (one server's events arrive here one at a time, in order) ------------------------------

    public async ValueTask OnEventAsync(AriClient server, AriEvent e, CancellationToken ct)
    {
        switch (e.Type)
        {
            case AriEventType.ContactStatusChange:
                OnQualify(e);
                return;
            case AriEventType.PlaybackFinished:
                // The safe-harbor message is over: hang up ("channel:{id}").
                if (e.Playback?.TargetUri is { } target && target.StartsWith("channel:", StringComparison.Ordinal)
                    && _legs.TryGetValue(target["channel:".Length..], out var heard) && heard.Server == server)
                    Queue(heard, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
                return;
        }
        var chan = e.Subject;
        if (chan is null) return;
        switch (e)
        {
            // Channels Asterisk made, not us: an agent calling in from their phone, a callee's leg from another server.
            case { Type: AriEventType.StasisStart, Args: ["agent", var agentId, ..] }:
                await OnAgentDialedIn(server, agentId, chan);
                return;
            case { Type: AriEventType.StasisStart, Args: ["xfer", var agentId, ..] }:
                OnXferArrived(server, agentId, chan);
                return;
        }
        if (_agentByChannel.TryGetValue(chan.Id, out var line) && line.Server == server) await OnAgentEvent(line, e, chan);
        else if (!chan.Id.StartsWith(CallPrefix, StringComparison.Ordinal)) return;
        else if (_legs.TryGetValue(chan.Id, out var leg) && leg.Server == server) await OnCallEvent(leg, e, chan);
        else if (e.Type == AriEventType.ChannelDestroyed && _xfers.TryRemove(chan.Id, out var carried) && carried.Ended == 0)
        {
            // The leg to the agent's server failed or was hung up there: the callee cannot stay alone in its bridge.
            Log?.Invoke($"call {carried.Call.Id}: inter-server leg to agent '{carried.Agent?.Agent.Id}' ended (cause {e.Cause}): hanging up");
            Queue(carried, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
        }
    }

    /// <summary>The agent dialed [dialer-agents] from their phone: Stasis(dialer,agent,ID). That channel is their line now.</summary>
    private async ValueTask OnAgentDialedIn(AriClient server, string agentId, AriChannel chan)
    {
        if (!_agentById.TryGetValue(agentId, out var line) || line.Server != server)
        {
            Log?.Invoke($"ARI {server.ServerId}: phone call in for unknown agent '{agentId}' (or one configured on another server): hung up");
            _ = Quietly(server.HangupAsync(chan.Id, ct: _stop.Token));
            return;
        }
        if (line.LoggedIn && line.ChannelId != chan.Id) _ = Quietly(server.HangupAsync(line.ChannelId, ct: _stop.Token)); // the newer call wins
        _agentByChannel[chan.Id] = line;
        line.ChannelId = chan.Id;
        await OnAgentEvent(line, new AriEvent { Type = AriEventType.ChannelStateChange }, chan);
    }

    /// <summary>A callee's leg from another server arrived in Stasis(dialer,xfer,AGENT): into that agent's bridge.</summary>
    private void OnXferArrived(AriClient server, string agentId, AriChannel chan)
    {
        if (_agentById.TryGetValue(agentId, out var line) && line.Server == server && line.LoggedIn)
            _ = Quietly(server.AddChannelAsync(line.BridgeId, chan.Id, _stop.Token));
        else
        {
            Log?.Invoke($"ARI {server.ServerId}: inter-server call for agent '{agentId}', who is not logged in here: hung up");
            _ = Quietly(server.HangupAsync(chan.Id, ct: _stop.Token));
        }
    }

    private async ValueTask OnCallEvent(Leg leg, AriEvent e, AriChannel chan)
    {
        switch (e.Type)
        {
            case AriEventType.ChannelStateChange when chan.State == ChannelState.Up && !_options.Amd:
            case AriEventType.Dial when e.DialStatus == DialStatus.Answer && !_options.Amd:
                await AnsweredAsync(leg, human: true);
                break;
            case AriEventType.StasisStart when e.Args is ["amd", var status, ..]:
                // Back from the AMD context: Stasis(dialer,amd,${AMDSTATUS},${AMDCAUSE}). NOTSURE goes to an agent (never risk an abandon).
                await AnsweredAsync(leg, human: status != "MACHINE");
                break;
            case AriEventType.StasisStart when _options.Amd && chan.State == ChannelState.Up:
                Queue(leg, static (d, l, _, ct) => l.Server.ContinueAsync(l.Id, d._options.AmdContext, d._options.AmdExtension, 1, ct));
                break;
            case AriEventType.ChannelVarset when e.Variable == "RTPAUDIOQOS":
                OnMedia(leg, e.Value); // the call's RTCP summary, set as it ends: quality for every call, no polling
                break;
            case AriEventType.ChannelDestroyed:
                var cause = e.Cause ?? 0;
                await EndAsync(leg, cause, TrunkHealth.IsNetworkFailure(cause));
                break;
        }
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
                _ = Quietly(line.Server.AddChannelAsync(line.BridgeId, chan.Id, _stop.Token)); // never hold up the event loop
                break;
            case AriEventType.ChannelEnteredBridge when e.Bridge?.Id == line.BridgeId && !line.LoggedIn:
                line.LoggedIn = true;
                Volatile.Write(ref line.Dialing, 0);
                await _post(EngineEvent.Login(line.Agent.Index));
                break;
            case AriEventType.ChannelDtmfReceived when line.LoggedIn && e.Digit is { } key:
                if (key == _options.DtmfReady) await _post(EngineEvent.Ready(line.Agent.Index));
                else if (key == _options.DtmfPause) await _post(EngineEvent.Pause(line.Agent.Index, "phone"));
                else if (key == _options.DtmfHangup && _legs.Values.FirstOrDefault(l => l.Agent == line) is { } talking)
                    Queue(talking, static (d, l, _, ct) => l.Server.HangupAsync(l.Id, ct: ct));
                break;
            case AriEventType.ChannelDestroyed:
                Volatile.Write(ref line.Dialing, 0);
                if (chan.Id != line.DialedId) _agentByChannel.TryRemove(chan.Id, out _);
                line.ChannelId = line.DialedId;
                if (!line.LoggedIn) break;
                line.LoggedIn = false;
                await _post(EngineEvent.Logout(line.Agent.Index));
                break;
        }
    }

    private void OnQualify(AriEvent e)
    {
        if (e.Endpoint?.Resource is not { } resource || !_trunkByEndpoint.TryGetValue(resource, out var trunk)) return;
        var now = _time.GetUtcNow();
        if (e.ContactInfo?.ContactStatus == "Unreachable")
        {
            ApplyBreaker(trunk, Health.OnUnreachable(trunk, now));
            return;
        }
        if (double.TryParse(e.ContactInfo?.RoundtripUsec, System.Globalization.CultureInfo.InvariantCulture, out var us) && us > 0)
            ApplyBreaker(trunk, Health.OnRtt(trunk, us / 1000, now));
    }

    private void OnMedia(Leg leg, string? rtcpAll)
    {
        if (RtcpSummary.Parse(rtcpAll) is { } m) ApplyBreaker(leg.Trunk, Health.OnMedia(leg.Trunk, m, _time.GetUtcNow()));
    }

    /// <summary>Each trunk's PJSIP endpoint must exist on its server and be online; one that is missing or offline cannot carry calls.</summary>
    private async Task CheckTrunkEndpoints(AriClient server, CancellationToken ct)
    {
        foreach (var (resource, trunk) in _trunkByEndpoint)
        {
            if (_trunkServer[trunk] != server) continue;
            AriEndpoint ep;
            try { ep = await server.GetEndpointAsync("PJSIP", resource, ct); }
            catch (AriException e) // Asterisk's trouble, not the trunk's: the calls will tell
            {
                Log?.Invoke($"trunk '{_trunks[trunk].Name}': endpoint check failed: {e.Message}");
                continue;
            }
            if (ep.State is null or "online") continue;
            Log?.Invoke($"trunk '{_trunks[trunk].Name}': PJSIP endpoint '{resource}' is {ep.State} on ARI server '{server.ServerId}'");
            ApplyBreaker(trunk, Health.OnUnreachable(trunk, _time.GetUtcNow()));
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
        if (!server.Options.SubscribeAll)
            // Without subscribeAll the app hears of an endpoint only when subscribed (ContactStatusChange → trunk health).
            foreach (var (resource, trunk) in _trunkByEndpoint)
                if (_trunkServer[trunk] == server) await server.SubscribeAsync($"endpoint:PJSIP/{resource}", ct);
        await CheckTrunkEndpoints(server, ct);
        var channels = (await server.ListChannelsAsync(ct)).ToDictionary(c => c.Id, StringComparer.Ordinal);
        foreach (var leg in _legs.Values)
        {
            if (leg.Server != server || !leg.Placed) continue; // a call still being placed is not known to Asterisk yet
            if (!channels.TryGetValue(leg.Id, out var ch))
            {
                Interlocked.Increment(ref Stats._reconciledEnds);
                await EndAsync(leg, cause: 0, networkFailure: false);
            }
            else if (ch.State == ChannelState.Up && !_options.Amd) await AnsweredAsync(leg, human: true);
        }
        foreach (var id in channels.Keys)
            if (id.StartsWith(CallPrefix, StringComparison.Ordinal) && !_legs.ContainsKey(id) && !_agentByChannel.ContainsKey(id) && !_xfers.ContainsKey(id))
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
                await _post(EngineEvent.Logout(line.Agent.Index));
            }
            if (!line.LoggedIn) _ = LoginAsync(line);
        }
        Log?.Invoke($"ARI {server.ServerId}: reconciled after {reason}: {channels.Count} channels on the server, {_legs.Count} calls live");
        _firstReconcile[server.ServerId].TrySetResult();
    }

    /// <summary>
    /// Makes the agent's bridge and, unless agents dial in themselves, calls the agent's phone into it (the agent
    /// answers once per session and stays on the line).
    /// </summary>
    private async Task LoginAsync(AgentLine line)
    {
        if (Interlocked.Exchange(ref line.Dialing, 1) == 1) return;
        var ct = _stop.Token;
        try
        {
            try { await line.Server.CreateBridgeAsync(line.BridgeId, "mixing", line.Agent.Id, ct); }
            catch (AriServerErrorException e) when (e.AsteriskMessage?.Contains("duplicate", StringComparison.OrdinalIgnoreCase) == true) { }
            if (!_options.CallAgents)
            {
                Volatile.Write(ref line.Dialing, 0);
                return;
            }
            try { await line.Server.CreateChannelAsync(line.DialedId, line.Endpoint, $"agent,{line.Agent.Id}", null, ct); }
            catch (AriConflictException) { }
            await line.Server.DialAsync(line.DialedId, _options.AgentRingSeconds, ct);
        }
        catch (Exception e) when (e is AriException or OperationCanceledException)
        {
            Volatile.Write(ref line.Dialing, 0);
            Log?.Invoke($"agent {line.Agent.Id}: login call failed: {e.Message}");
        }
    }

    // ---- periodic work -----------------------------------------------------------------------------------

    /// <summary>Twice a second: half-open tripped trunks whose cool-down is over; now and then, read one live call's RTCP per trunk.</summary>
    private async Task Housekeeping(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500), _time);
        var nextRtcp = _time.GetUtcNow() + _options.RtcpPollEvery;
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var now = _time.GetUtcNow();
                foreach (var t in Health.DueForProbe(now))
                {
                    Log?.Invoke($"trunk '{_trunks[t].Name}': cool-down over, probing");
                    _setTrunkAvailable?.Invoke(t, true);
                }
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
                OnMedia(leg, await leg.Server.GetVariableAsync(leg.Id, "CHANNEL(rtcp,all)", ct));
            }
            catch (AriException) { } // the call ended meanwhile
        }
    }
}
