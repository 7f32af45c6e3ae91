using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Dialer.Emulator;

/// <summary>Channels: originate, dial, hang up, continue into AMD, call progress, Stasis, and the callee behaviour behind each number.</summary>
internal sealed partial class EmulatedAsterisk
{
    public Reply Originate(Args q, Dictionary<string, string>? variables, bool createOnly)
    {
        var endpoint = q["endpoint"];
        var app = q["app"];
        if (!createOnly && app is null && q["extension"] is null) return Reply.Message(400, "Application or extension must be specified");
        if (endpoint is null) return Reply.Message(400, "Endpoint must be specified");
        if (createOnly && app is null) return Reply.Message(400, "Application must be specified");
        lock (_gate)
        {
            var id = q["channelId"] ?? $"{time.GetUtcNow().ToUnixTimeSeconds()}.{++_idSeq}";
            // Asterisk checks unique-id conflicts by prefix, without case (lab capture a): "dialer-1" is refused while "dialer-14" is up.
            if (_channels.Keys.Any(k => k.StartsWith(id, StringComparison.OrdinalIgnoreCase)))
                return Reply.Message(409, "Channel with given unique ID already exists");
            // During "core stop gracefully" every new channel is refused this way, whatever the endpoint (lab capture e).
            // So is a channel to a trunk whose last qualify failed (lab capture d).
            if (_shuttingDown || !TryParseEndpoint(endpoint, out var resource, out var number) || _unreachable.Contains(resource))
                return Reply.Error(500, "Allocation failed");
            var (callerName, callerNumber) = ParseCallerId(q["callerId"]);
            var ch = new Chan(id, $"PJSIP/{resource}-{++_seq:x8}", resource, number, app ?? "", q["appArgs"] ?? "", createOnly)
            {
                CallerNumber = callerNumber ?? "5550000",
                Fate = resource == number ? Fate.Phone : _links.ContainsKey(resource) ? Fate.Linked
                    : _deadTrunks.Contains(resource) ? Fate.DeadPeer : DrawFate(resource, number),
            };
            // The originate path sets the connected line from callerId too (lab capture b): From: on the INVITE shows it.
            if (!createOnly && callerNumber is not null) (ch.ConnectedName, ch.ConnectedNumber) = (callerName ?? "", callerNumber);
            _channels.Add(id, ch);
            if (ch.Fate == Fate.Phone) _phones.Add(resource);
            ChannelsCreated++;
            Emit("ChannelCreated", ch);
            if (!createOnly) Emit("ChannelDialplan", ch, w => { w.WriteString("dialplan_app", "AppDial2"); w.WriteString("dialplan_app_data", "(Outgoing Line)"); });
            foreach (var (k, v) in variables ?? []) SetVar(ch, k, v);
            if (createOnly && StasisEntryDelay > TimeSpan.Zero) AfterUnscaled(StasisEntryDelay, ch, () => EnterStasis(ch, ch.AppArgs));
            else if (createOnly) EnterStasis(ch, ch.AppArgs);
            else StartDial(ch, int.TryParse(q["timeout"], out var t) ? t : 30);
            return Reply.Json(200, w => WriteChannel(w, ch));
        }
    }

    public Reply Dial(string id, Args q)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
            if (!ch.InStasis) return Reply.Message(409, "Channel not in Stasis application");
            if (ch.Dialed) return Reply.Message(409, "Channel is already dialed");
            StartDial(ch, int.TryParse(q["timeout"], out var t) ? t : 0);
            return Reply.NoContent;
        }
    }

    public Reply Hangup(string id, Args q)
    {
        int cause = 16;
        if (q["reason"] is { } reason)
        {
            if (reason is not ("normal" or "busy" or "congestion" or "no_answer" or "timeout" or "rejected" or "unallocated" or "normal_unspecified"
                or "number_incomplete" or "codec_mismatch" or "interworking" or "failure" or "answered_elsewhere"))
                return Reply.Message(400, "Invalid reason for hangup reason provided");
        }
        else if (q["reason_code"] is { } code && !int.TryParse(code, out cause)) return Reply.Message(400, "Invalid reason for hangup reason provided");
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
            if (ch.State == "Up") End(ch, hangupCause: 32, soft: true, techCause: null, dialStatus: null, destroyCause: cause);
            else End(ch, hangupCause: 32, soft: true, techCause: null, dialStatus: ch.Dialed ? "NOANSWER" : null, destroyCause: 16);
            return Reply.NoContent;
        }
    }

    public Reply Continue(string id, Args q)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
            if (!ch.InStasis) return Reply.Message(409, "Channel not in Stasis application");
            LeaveStasis(ch);
            if (ch.CreatedInStasis)
            {
                // Asterisk hangs up a /channels/create channel as soon as it leaves Stasis (ari_channel_thread).
                End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: 16);
                return Reply.NoContent;
            }
            Emit("ChannelDialplan", ch, w => { w.WriteString("dialplan_app", "AMD"); w.WriteString("dialplan_app_data", ""); });
            var (status, cause, seconds) = ch.Fate.Amd;
            // [dialer-amd] waits for a machine's greeting to end (WaitForSilence) when the call asks for it, so a message
            // left starts after the beep.
            if (status == "MACHINE" && ch.Vars.GetValueOrDefault("DIALER_MACHINE_WAIT") == "1") seconds += scenario.GreetingSeconds;
            After(seconds, ch, () =>
            {
                ch.Vars["AMDSTATUS"] = status;
                ch.Vars["AMDCAUSE"] = cause;
                Emit("ChannelVarset", ch, w => { w.WriteString("variable", "AMDSTATUS"); w.WriteString("value", status); });
                Emit("ChannelVarset", ch, w => { w.WriteString("variable", "AMDCAUSE"); w.WriteString("value", cause); });
                // [dialer-amd]: Stasis(${DIALER_APP}, …), `dialer` when the call does not say whose it is.
                ch.App = ch.Vars.GetValueOrDefault(AppVariable) is { Length: > 0 } owner ? owner : DefaultApp;
                Emit("ChannelDialplan", ch, w => { w.WriteString("dialplan_app", "Stasis"); w.WriteString("dialplan_app_data", $"{ch.App},amd,{status},{cause}"); });
                EnterStasis(ch, $"amd,{status},{cause}");
            });
            return Reply.NoContent;
        }
    }

    public Reply Answer(string id)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
            return ch.State == "Up" ? Reply.NoContent : Reply.Message(412, "Channel not answered");
        }
    }

    public Reply GetChannel(string id)
    {
        lock (_gate)
            return _channels.TryGetValue(id, out var ch) ? Reply.Json(200, w => WriteChannel(w, ch)) : Reply.Message(404, "Channel not found");
    }

    public Reply ListChannels()
    {
        lock (_gate)
        {
            return Reply.Array(_channels.Values.ToArray(), (w, ch) => WriteChannel(w, ch));
        }
    }


    // ---- call progress ------------------------------------------------------------------------------

    private void StartDial(Chan ch, int timeoutSeconds)
    {
        ch.Dialed = true;
        var dialstring = ch.Resource == ch.Number ? ch.Resource : $"{ch.Number}@{ch.Resource}";
        ch.DialString = dialstring;
        // PJSIP builds From: out of the channel's connected line, not its caller id (lab capture b).
        _lastFrom[ch.Number] = ch.ConnectedNumber.Length > 0 ? ch.ConnectedNumber : "anonymous";
        EmitDial(ch, "");
        var f = ch.Fate;
        switch (f.Kind)
        {
            case FateKind.Busy: After(0.002, ch, () => End(ch, 17, false, 486, "BUSY", 17)); return;
            case FateKind.Congestion: After(0.003, ch, () => End(ch, 34, false, 503, "CONGESTION", 34)); return;
            case FateKind.BadNumber: After(0.003, ch, () => End(ch, 1, false, 404, "CHANUNAVAIL", 1)); return;
            case FateKind.Linked: After(f.RingSeconds, ch, () => CrossToPeer(ch)); return;
            case FateKind.DeadPeer: // no SIP response at all: nothing until the dial timeout, which ends it like a ring timeout (capture f)
                if (timeoutSeconds > 0) After(timeoutSeconds, ch, () => TimedOut(ch));
                return;
        }
        After(0.005, ch, () =>
        {
            SetState(ch, "Ringing");
            EmitDial(ch, "RINGING");
            if (f.Kind == FateKind.NoAnswer) return;
            After(f.RingSeconds, ch, () =>
            {
                SetState(ch, "Up");
                EmitDial(ch, "ANSWER");
                if (!ch.CreatedInStasis) EnterStasis(ch, ch.AppArgs);
                if (f.TalkSeconds is { } talk)
                    After(talk, ch, () => End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: FarEndByeCause(ch)));
            });
        });
        if (timeoutSeconds > 0)
            After(timeoutSeconds, ch, () =>
            {
                if (ch.State != "Up") TimedOut(ch);
            });
    }

    /// <summary>
    /// A dial timeout ends with cause 19 / SIP 480 and no Dial NOANSWER: quietly for an originated channel (fixture c), after
    /// a hang-up request (cause 32) for a created one (lab capture f), whether it rang or got no SIP answer at all.
    /// </summary>
    private void TimedOut(Chan ch) =>
        End(ch, hangupCause: ch.CreatedInStasis ? 32 : null, soft: false, techCause: null, dialStatus: null, destroyCause: 19, quiet: !ch.CreatedInStasis, destroyedTech: 480);

    // ---- several servers: inter-server trunks and calls from phones -----------------------------------

    /// <summary>Calls dialed here to PJSIP/{exten}@{endpoint} arrive on <paramref name="peer"/> in [dialer-interserver]: Answer(), Stasis(dialer,xfer,{exten}).</summary>
    public void Link(string endpoint, EmulatedAsterisk peer)
    {
        lock (_gate) _links[endpoint] = peer;
    }

    /// <summary>The channel variable [dialer-amd] reads for the app to return the call to (asterisk-conf/extensions.conf).</summary>
    private const string AppVariable = "DIALER_APP";
    /// <summary>The app the dialplan falls back to when nothing names one.</summary>
    private const string DefaultApp = "dialer";
    /// <summary>What the driver sets on an inter-server leg: PJSIP adds the header to the INVITE, [dialer-interserver] reads it.</summary>
    private const string XferAppHeader = "PJSIP_HEADER(add,X-Dialer-App)";

    /// <summary>The characters [dialer-interserver] accepts in an X-Dialer-App header (its REGEX).</summary>
    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex AppName();

    /// <summary>
    /// A call that enters the dialplan here and reaches Stasis answered: a phone dialing [dialer-agents] (args "agent,ID"),
    /// or a leg from another server (args "xfer,AGENT"). It enters the app its X-Dialer-App header names (<paramref name="sipApp"/>,
    /// an inter-server leg's; only an app name's characters), else the one the global DIALER_AGENT_APP_{ID} names (the agent's
    /// engine sets it), else `dialer`, as extensions.conf does. Returns its channel id (Asterisk's own).
    /// </summary>
    public string Inbound(string resource, string args, (EmulatedAsterisk World, string Id)? peer = null, string? sipApp = null)
    {
        lock (_gate)
        {
            var id = $"{time.GetUtcNow().ToUnixTimeSeconds()}.{++_idSeq}";
            var app = sipApp is not null && AppName().IsMatch(sipApp) ? sipApp
                : args.Split(',') is [_, var agent, ..] && _globals.GetValueOrDefault($"DIALER_AGENT_APP_{agent}") is { Length: > 0 } named ? named : DefaultApp;
            var ch = new Chan(id, $"PJSIP/{resource}-{++_seq:x8}", resource, resource, app, args, createdInStasis: false) { Fate = Fate.Phone, PeerLink = peer, FromDialplan = true };
            _channels.Add(id, ch);
            ChannelsCreated++;
            Emit("ChannelCreated", ch);
            SetState(ch, "Up");
            EnterStasis(ch, args);
            return id;
        }
    }

    public int BridgeSize(string bridgeId)
    {
        lock (_gate) return _bridges.TryGetValue(bridgeId, out var b) ? b.Channels.Count : 0;
    }

    public IReadOnlyList<string> ChannelsOf(string resource)
    {
        lock (_gate) return [.. _channels.Values.Where(c => c.Resource == resource).Select(c => c.Id)];
    }

    /// <summary>The agent presses a key on a channel's phone (ChannelDtmfReceived).</summary>
    public bool Dtmf(string channelId, string digit)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(channelId, out var ch)) return false;
            Emit("ChannelDtmfReceived", ch, w => { w.WriteString("digit", digit); w.WriteNumber("duration_ms", 100); });
            return true;
        }
    }

    /// <summary>The channel's phone (a callee or agent) hangs up, as with a SIP BYE.</summary>
    public bool HangupFromFarEnd(string channelId)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(channelId, out var ch)) return false;
            End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: FarEndByeCause(ch));
            return true;
        }
    }

    /// <summary>
    /// The cause a far end's BYE leaves: 16 for a channel in a bridge (shared fixture e), 0 "Unknown" for an answered one
    /// alone in the app (lab README: a 2… callee hanging up before any bridge). Under the lock.
    /// </summary>
    private static int FarEndByeCause(Chan ch) => ch.State == "Up" && ch.Bridge is null ? 0 : 16;

    /// <summary>Rings the inter-server leg through to the peer; when the peer has it in Stasis, this side is answered. Under the lock.</summary>
    private void CrossToPeer(Chan ch)
    {
        SetState(ch, "Ringing");
        EmitDial(ch, "RINGING");
        var peer = _links[ch.Resource];
        var args = $"xfer,{ch.Number}";
        var sipApp = ch.Vars.GetValueOrDefault(XferAppHeader);
        _ = Task.Run(() =>
        {
            // The peer's lock is taken outside ours: two linked worlds never wait on each other.
            var farId = peer.Inbound("interserver", args, (this, ch.Id), sipApp);
            lock (_gate)
            {
                if (!_channels.TryGetValue(ch.Id, out var live) || live != ch)
                {
                    _ = Task.Run(() => peer.HangupFromFarEnd(farId));
                    return;
                }
                ch.PeerLink = (peer, farId);
                SetState(ch, "Up");
                EmitDial(ch, "ANSWER");
            }
        });
    }

    private void EnterStasis(Chan ch, string args)
    {
        if (!_apps.TryGetValue(ch.App, out var app) || app.Registration == 0)
        {
            // No socket has the app (it never connected, or its socket closed): Stasis fails at once and the channel is
            // destroyed with cause 0 (fixture g; lab cl2 for an app whose socket had closed).
            Emit("ChannelVarset", ch, w => { w.WriteString("variable", "STASISSTATUS"); w.WriteString("value", "FAILED"); });
            End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: 0, quiet: true);
            return;
        }
        ch.InStasis = true;
        if (ch.State == "Up") SilenceStarts(ch);
        Emit("ChannelVarset", ch, w => { w.WriteString("variable", "STASISSTATUS"); w.WriteString("value", ""); });
        Emit("StasisStart", ch, w =>
        {
            w.WriteStartArray("args");
            if (args.Length > 0)
                foreach (var a in args.Split(',')) w.WriteStringValue(a);
            w.WriteEndArray();
        });
    }

    private void LeaveStasis(Chan ch)
    {
        SilenceEnds(ch, SilenceEnd.Dialplan);
        if (ch.Bridge is not null) Leave(ch);
        ch.InStasis = false;
        Emit("StasisEnd", ch);
    }

    private void Leave(Chan ch)
    {
        var b = ch.Bridge!;
        b.Channels.Remove(ch.Id);
        ch.Bridge = null;
        Emit("ChannelLeftBridge", ch, w => WriteBridge(w, b));
    }

    /// <summary>The end of a channel: hang-up request, Dial status, leaving bridge and Stasis, destroyed.</summary>
    private void End(Chan ch, int? hangupCause, bool soft, int? techCause, string? dialStatus, int destroyCause, bool quiet = false, int? destroyedTech = null)
    {
        if (!_channels.Remove(ch.Id)) return;
        SilenceEnds(ch, SilenceEnd.HungUp);
        if (ch.PeerLink is var (peerWorld, peerId)) _ = Task.Run(() => peerWorld.HangupFromFarEnd(peerId)); // SIP BYE over the inter-server trunk
        if (ch.FromDialplan && ch.InStasis)
        {
            // A phone that came in through the dialplan leaves Stasis first, and the app hears nothing after it (lab capture i).
            ch.InStasis = false;
            Emit("StasisEnd", ch);
        }
        // A channel that carried media reports its RTCP summary as it goes (fixtures a, e, f, h); on "core stop now" only after StasisEnd (g2).
        var stopping = hangupCause == 4;
        if (ch.State == "Up" && !stopping) EmitQos(ch);
        if (!quiet)
            Emit("ChannelHangupRequest", ch, w =>
            {
                if (hangupCause is { } c) w.WriteNumber("cause", c);
                if (techCause is { } t) w.WriteNumber("tech_cause", t);
                if (soft) w.WriteBoolean("soft", true);
            });
        if (dialStatus is not null) EmitDial(ch, dialStatus);
        if (ch.InStasis) LeaveStasis(ch);
        else if (ch.Bridge is not null) Leave(ch);
        if (ch.State == "Up" && stopping) EmitQos(ch);
        Emit("ChannelDestroyed", ch, w =>
        {
            w.WriteNumber("cause", destroyCause);
            w.WriteString("cause_txt", CauseText(destroyCause));
            if ((destroyedTech ?? techCause) is { } t) w.WriteNumber("tech_cause", t);
        });
    }

    private void SetState(Chan ch, string state)
    {
        ch.State = state;
        if (state == "Up") ch.UpSince = time.GetUtcNow();
        if (state == "Up" && ch.InStasis) SilenceStarts(ch); // a created channel answered: in the app already
        Emit("ChannelStateChange", ch);
    }

    private void EmitDial(Chan ch, string status) => Emit("Dial", w =>
    {
        w.WriteString("dialstatus", status);
        w.WriteString("forward", "");
        w.WriteString("dialstring", ch.DialString);
        WriteChannel(w, ch, "peer");
    }, HearersOf(ch));

    // ---- callee behaviour ---------------------------------------------------------------------------

    private bool TryParseEndpoint(string endpoint, out string resource, out string number)
    {
        resource = number = "";
        if (!endpoint.StartsWith("PJSIP/", StringComparison.Ordinal)) return false;
        var rest = endpoint["PJSIP/".Length..];
        var at = rest.IndexOf('@');
        if (at < 0)
        {
            resource = number = rest;
            return rest.StartsWith(scenario.PhonePrefix, StringComparison.Ordinal) && rest.Length > scenario.PhonePrefix.Length;
        }
        number = rest[..at];
        resource = rest[(at + 1)..];
        return number.Length > 0 && (scenario.Trunks.Contains(resource) || _links.ContainsKey(resource));
    }

    private Fate DrawFate(string trunk, string number)
    {
        var rng = new Random(HashCode.Combine(scenario.Seed, StableHash(number), (int)(ChannelsCreated & 0xffff)));
        if (scenario.TrunkFailureRate.TryGetValue(trunk, out var failure) && rng.NextDouble() < failure) return Fate.Congested;
        var digits = number.TrimStart('+');
        if (scenario.Mix is not { } m)
            return digits switch
            {
                _ when digits.StartsWith("486") => Fate.Busied,
                _ when digits.StartsWith("503") => Fate.Congested,
                _ when digits.StartsWith("180") => new Fate(FateKind.NoAnswer, 0, null, ("", "", 0)),
                _ when digits.StartsWith('9') => Fate.DeadPeer, // the lab's black hole: the INVITE gets no answer at all
                _ when digits.StartsWith('2') => new Fate(FateKind.Answer, 0.002, 6, ("HUMAN", "HUMAN-800-800", 1.8)),
                _ when digits.StartsWith('7') => new Fate(FateKind.Answer, 0.002, null, ("HUMAN", "HUMAN-800-800", 1.8)),
                _ when digits.StartsWith('8') => new Fate(FateKind.Answer, 0.002, null, ("MACHINE", "LONGGREETING-1500-1500", 1.8)),
                _ => new Fate(FateKind.Answer, 0.002, null, ("NOTSURE", "TOOLONG-4900", 5)),
            };
        var total = m.Human + m.Machine + m.Busy + m.NoAnswer + m.Congestion + m.BadNumber;
        var x = rng.NextDouble() * total;
        var ring = m.RingMinSeconds + rng.NextDouble() * (m.RingMaxSeconds - m.RingMinSeconds);
        var talk = m.TalkMinSeconds + rng.NextDouble() * (m.TalkMaxSeconds - m.TalkMinSeconds);
        if ((x -= m.Human) < 0) return new Fate(FateKind.Answer, ring, talk, ("HUMAN", "HUMAN-800-800", m.AmdSeconds));
        if ((x -= m.Machine) < 0) return new Fate(FateKind.Answer, ring, talk, ("MACHINE", "LONGGREETING-1500-1500", m.AmdSeconds));
        if ((x -= m.Busy) < 0) return Fate.Busied;
        if ((x -= m.NoAnswer) < 0) return new Fate(FateKind.NoAnswer, 0, null, ("", "", 0));
        if ((x -= m.Congestion) < 0) return Fate.Congested;
        return new Fate(FateKind.BadNumber, 0, null, ("", "", 0));
    }

    private static int StableHash(string s)
    {
        var h = 17;
        foreach (var c in s) h = h * 31 + c;
        return h;
    }


    /// <summary>"Name &lt;number&gt;" or a bare number.</summary>
    private static (string? Name, string? Number) ParseCallerId(string? callerId)
    {
        if (callerId is null) return (null, null);
        var lt = callerId.IndexOf('<');
        var gt = callerId.IndexOf('>');
        return lt >= 0 && gt > lt ? (callerId[..lt].Trim().Trim('"'), callerId[(lt + 1)..gt]) : (null, callerId);
    }

    private static string CauseText(int cause) => cause switch
    {
        44 => "Requested channel not available",
        0 => "Unknown",
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        19 => "User alerting, no answer",
        34 => "Circuit/channel congestion",
        _ => "Unknown",
    };
}
