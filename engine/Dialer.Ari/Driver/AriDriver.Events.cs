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
        if (chan is null || !chan.Id.StartsWith(CallPrefix, StringComparison.Ordinal)) return;
        if (_legs.TryGetValue(chan.Id, out var leg) && leg.Server == server) await OnCallEvent(leg, e, chan);
        else if (_agentByChannel.TryGetValue(chan.Id, out var line) && line.Server == server) await OnAgentEvent(line, e, chan);
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

    private async ValueTask OnAgentEvent(AgentLine line, AriEvent e, AriChannel chan)
    {
        switch (e.Type)
        {
            case AriEventType.ChannelStateChange when chan.State == ChannelState.Up:
                _ = Quietly(line.Server.AddChannelAsync(line.BridgeId, line.ChannelId, _stop.Token)); // never hold up the event loop
                break;
            case AriEventType.ChannelEnteredBridge when e.Bridge?.Id == line.BridgeId && !line.LoggedIn:
                line.LoggedIn = true;
                Volatile.Write(ref line.Dialing, 0);
                await _post(EngineEvent.Login(line.Agent.Index));
                break;
            case AriEventType.ChannelDestroyed:
                Volatile.Write(ref line.Dialing, 0);
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
            if (id.StartsWith(CallPrefix, StringComparison.Ordinal) && !_legs.ContainsKey(id) && !_agentByChannel.ContainsKey(id))
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
                await _post(EngineEvent.Logout(line.Agent.Index));
            }
            if (!line.LoggedIn) _ = LoginAsync(line);
        }
        Log?.Invoke($"ARI {server.ServerId}: reconciled after {reason}: {channels.Count} channels on the server, {_legs.Count} calls live");
        _firstReconcile[server.ServerId].TrySetResult();
    }

    /// <summary>Calls the agent's phone into its bridge (the agent answers once per session and stays on the line).</summary>
    private async Task LoginAsync(AgentLine line)
    {
        if (Interlocked.Exchange(ref line.Dialing, 1) == 1) return;
        var ct = _stop.Token;
        try
        {
            try { await line.Server.CreateBridgeAsync(line.BridgeId, "mixing", line.Agent.Id, ct); }
            catch (AriServerErrorException e) when (e.AsteriskMessage?.Contains("duplicate", StringComparison.OrdinalIgnoreCase) == true) { }
            try { await line.Server.CreateChannelAsync(line.ChannelId, line.Endpoint, $"agent,{line.Agent.Id}", null, ct); }
            catch (AriConflictException) { }
            await line.Server.DialAsync(line.ChannelId, _options.AgentRingSeconds, ct);
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
