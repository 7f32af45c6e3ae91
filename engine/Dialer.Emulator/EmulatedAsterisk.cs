using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Dialer.Emulator;

/// <summary>
/// The emulated Asterisk: channels, bridges, playbacks and recordings, and the events they produce, in the
/// order the captures in shared/ari-fixtures show (events before the REST reply, Dial ANSWER before StasisStart,
/// a ring timeout ending with cause 19 and no Dial NOANSWER, bridge playback/recording events twice...).
/// Sequences for /channels/create + /dial were not captured: they follow Asterisk's source (the channel is in
/// Stasis from creation, and is hung up when it leaves Stasis). One lock guards the world; events are
/// serialized under it, so every socket sees one global order.
/// </summary>
internal sealed class EmulatedAsterisk(EmulatorScenario scenario, TimeProvider time, Action<byte[]> broadcast)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Chan> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Bridge> _bridges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _liveRecordings = new(StringComparer.Ordinal); // name → bridge id
    private readonly HashSet<string> _registeredApps = new(StringComparer.Ordinal);
    private readonly HashSet<string> _phones = new(StringComparer.Ordinal);
    // Inter-server trunks: PJSIP endpoint name here → the Asterisk at its far end.
    private readonly Dictionary<string, EmulatedAsterisk> _links = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Format, int Seconds)> _stored = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopped = new();
    private long _seq;
    private long _idSeq;
    private long _timerSeq;

    public EmulatorScenario Scenario => scenario;
    public long ChannelsCreated { get; private set; }
    public int ActiveChannels { get { lock (_gate) return _channels.Count; } }

    public void RegisterApp(string app)
    {
        lock (_gate) _registeredApps.Add(app);
    }

    // ---- REST operations: each returns (status, JSON body or null) --------------------------------

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
            if (_channels.ContainsKey(id)) return Reply.Message(409, "Channel with given unique ID already exists");
            if (!TryParseEndpoint(endpoint, out var resource, out var number)) return Reply.Error(500, "Allocation failed");
            var ch = new Chan(id, $"PJSIP/{resource}-{++_seq:x8}", resource, number, app ?? "", q["appArgs"] ?? "", createOnly)
            {
                CallerNumber = ParseCallerNumber(q["callerId"]) ?? "5550000",
                Fate = resource == number ? Fate.Phone : _links.ContainsKey(resource) ? Fate.Linked : DrawFate(resource, number),
            };
            _channels.Add(id, ch);
            if (ch.Fate == Fate.Phone) _phones.Add(resource);
            ChannelsCreated++;
            Emit("ChannelCreated", ch);
            if (!createOnly) Emit("ChannelDialplan", ch, w => { w.WriteString("dialplan_app", "AppDial2"); w.WriteString("dialplan_app_data", "(Outgoing Line)"); });
            foreach (var (k, v) in variables ?? [])
            {
                ch.Vars[k] = v;
                Emit("ChannelVarset", ch, w => { w.WriteString("variable", k); w.WriteString("value", v); });
            }
            if (createOnly) EnterStasis(ch, ch.AppArgs);
            else StartDial(ch, int.TryParse(q["timeout"], out var t) ? t : 30);
            return Reply.Json(200, w => WriteChannel(w, ch));
        }
    }

    public Reply Dial(string id, Args q)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
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
            After(seconds, ch, () =>
            {
                ch.Vars["AMDSTATUS"] = status;
                ch.Vars["AMDCAUSE"] = cause;
                Emit("ChannelVarset", ch, w => { w.WriteString("variable", "AMDSTATUS"); w.WriteString("value", status); });
                Emit("ChannelVarset", ch, w => { w.WriteString("variable", "AMDCAUSE"); w.WriteString("value", cause); });
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

    public Reply GetVariable(string id, Args q)
    {
        var name = q["variable"];
        if (name is null) return Reply.Message(400, "Variable name is required");
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Provided channel was not found");
            // Outbound PJSIP channels cannot read their SIP addresses (fixture f: 500).
            if (name is "CHANNEL(pjsip,remote_addr)" or "CHANNEL(pjsip,local_addr)") return Reply.Message(500, "Unable to read provided function");
            var value = name switch
            {
                "CHANNEL(state)" => ch.State,
                "CHANNEL(endpoint)" => ch.Resource,
                "CHANNEL(rtcp,all)" => RtcpAll(ch),
                "CHANNEL(rtcp,all_rtt)" => RttString(ch),
                "CHANNEL(rtcp,rtt)" => (Rtt(ch) / 1000).ToString("0.000000", CultureInfo.InvariantCulture),
                "CHANNEL(rtcp,all_jitter)" => RtcpJitter,
                "CHANNEL(rtcp,all_loss)" => RtcpLoss,
                "CHANNEL(rtcp,all_mes)" => RtcpMes,
                "CHANNEL(rtcp,rxjitter)" => "0.000000",
                "CHANNEL(rtcp,rxcount)" => (RtcpCounts(ch).Packets - RtcpCounts(ch).Lost).ToString(CultureInfo.InvariantCulture),
                "CHANNEL(rtcp,txcount)" => RtcpCounts(ch).Packets.ToString(CultureInfo.InvariantCulture),
                "CHANNEL(rtp,src)" => "127.0.0.1:24774",
                "CHANNEL(rtp,dest)" => "127.0.0.1:16000",
                "CHANNEL(pjsip,call-id)" => ch.ProtocolId,
                _ => ch.Vars.GetValueOrDefault(name),
            };
            return value is null ? Reply.Message(404, "Provided variable was not found") : Reply.Json(200, w => { w.WriteStartObject(); w.WriteString("value", value); w.WriteEndObject(); });
        }
    }

    public Reply SetVariable(string id, Args q)
    {
        if (q["variable"] is not { } name) return Reply.Message(400, "Variable name is required");
        lock (_gate)
        {
            if (!_channels.TryGetValue(id, out var ch)) return Reply.Message(404, "Channel not found");
            var value = q["value"] ?? "";
            ch.Vars[name] = value;
            Emit("ChannelVarset", ch, w => { w.WriteString("variable", name); w.WriteString("value", value); });
            return Reply.NoContent;
        }
    }

    public Reply Play(string channelId, Args q)
    {
        var media = q["media"];
        if (media is null) return Reply.Message(400, "media must be specified");
        lock (_gate)
        {
            if (!_channels.TryGetValue(channelId, out var ch)) return Reply.Message(404, "Channel not found");
            if (!ch.InStasis) return Reply.Message(409, "Channel not in Stasis application");
            var id = q["playbackId"] ?? $"pb-{++_idSeq}";
            var target = $"channel:{channelId}";
            Emit("PlaybackStarted", w => WritePlayback(w, id, media, target, "playing"));
            After(scenario.PlaybackSeconds, ch, () => Emit("PlaybackFinished", w => WritePlayback(w, id, media, target, "done")));
            return Reply.Json(201, w => WritePlayback(w, id, media, target, "queued", asProperty: false));
        }
    }

    public Reply CreateBridge(Args q)
    {
        var type = q["type"] ?? "mixing";
        if (type is not ("mixing" or "holding" or "dtmf_events" or "proxy_media" or "video_sfu" or "video_single"))
            return Reply.Message(500, "Unable to create bridge. Possible duplicate bridge id '(null)'");
        lock (_gate)
        {
            var id = q["bridgeId"] ?? Guid.NewGuid().ToString();
            if (_bridges.ContainsKey(id)) return Reply.Message(500, $"Unable to create bridge. Possible duplicate bridge id '{id}'");
            var b = new Bridge(id, type, q["name"] ?? "");
            _bridges.Add(id, b);
            return Reply.Json(200, w => WriteBridge(w, b, asProperty: false));
        }
    }

    public Reply ListBridges()
    {
        lock (_gate)
        {
            return Reply.Array(_bridges.Values.ToArray(), (w, b) => WriteBridge(w, b, asProperty: false));
        }
    }

    public Reply DestroyBridge(string id)
    {
        lock (_gate)
        {
            if (!_bridges.Remove(id, out var b)) return Reply.Message(404, "Bridge not found");
            foreach (var chId in b.Channels.ToArray())
                if (_channels.TryGetValue(chId, out var ch)) Leave(ch);
            if (b.Announced) Emit("BridgeDestroyed", w => WriteBridge(w, b));
            return Reply.NoContent;
        }
    }

    public Reply AddChannel(string bridgeId, Args q)
    {
        if (q["channel"] is not { } list) return Reply.Message(400, "Channel parameter is required");
        lock (_gate)
        {
            if (!_bridges.TryGetValue(bridgeId, out var b)) return Reply.Message(404, "Bridge not found");
            var ids = list.Split(',');
            foreach (var chId in ids)
            {
                if (!_channels.TryGetValue(chId, out var ch)) return Reply.Message(400, "Channel not found");
                if (!ch.InStasis) return Reply.Message(422, "Channel not in Stasis application");
            }
            if (!b.Announced)
            {
                b.Announced = true; // Asterisk announces a bridge when it is first used, not when created
                Emit("BridgeCreated", w => WriteBridge(w, b));
            }
            foreach (var chId in ids)
            {
                var ch = _channels[chId];
                if (ch.Bridge == b) continue;
                if (ch.Bridge is not null) Leave(ch);
                ch.Bridge = b;
                b.Channels.Add(chId);
                Emit("ChannelEnteredBridge", ch, w => WriteBridge(w, b));
            }
            return Reply.NoContent;
        }
    }

    public Reply RecordBridge(string bridgeId, Args q)
    {
        if (q["name"] is not { } name || q["format"] is not { } format) return Reply.Message(400, "name and format are required");
        lock (_gate)
        {
            if (!_bridges.TryGetValue(bridgeId, out var b)) return Reply.Message(404, "Bridge not found");
            if (_liveRecordings.ContainsKey(name)) return Reply.Message(409, "Recording with the same name is in progress");
            _liveRecordings[name] = b.Id;
            var target = $"bridge:{b.Id}";
            // With subscribeAll, Asterisk delivers bridge recording events twice (fixture f).
            for (var i = 0; i < 2; i++) Emit("RecordingStarted", w => WriteRecording(w, name, format, "recording", target, null));
            b.RecordingStartedAt[name] = time.GetUtcNow();
            return Reply.Json(201, w => WriteRecording(w, name, format, "queued", target, null, asProperty: false));
        }
    }

    public Reply StopRecording(string name)
    {
        lock (_gate)
        {
            if (!_liveRecordings.Remove(name, out var bridgeId)) return Reply.Message(404, "Recording not found");
            var duration = 0;
            if (_bridges.TryGetValue(bridgeId, out var b) && b.RecordingStartedAt.Remove(name, out var started))
                duration = (int)(time.GetUtcNow() - started).TotalSeconds;
            _stored[name] = ("wav", duration);
            for (var i = 0; i < 2; i++) Emit("RecordingFinished", w => WriteRecording(w, name, "wav", "done", $"bridge:{bridgeId}", duration));
            return Reply.NoContent;
        }
    }

    public Reply Endpoint(string? tech, string? resource)
    {
        if (tech != "PJSIP" || resource is null || !(scenario.Trunks.Contains(resource) || resource.StartsWith(scenario.PhonePrefix, StringComparison.Ordinal)))
            return Reply.Message(404, "Endpoint not found");
        return Reply.Json(200, w => WriteEndpoint(w, resource, asProperty: false));
    }

    /// <summary>GET /endpoints[/PJSIP]: the phones seen so far and the trunks (Asterisk lists what pjsip.conf defines).</summary>
    public Reply Endpoints(string? tech)
    {
        if (tech is not (null or "PJSIP")) return Reply.Message(404, "Endpoint not found");
        lock (_gate) return Reply.Array([.. _phones.Order(StringComparer.Ordinal), .. scenario.Trunks], (w, r) => WriteEndpoint(w, r, asProperty: false));
    }

    public Reply Application(string name)
    {
        lock (_gate)
            if (!_registeredApps.Contains(name)) return Reply.Message(404, "Application not found");
        return Reply.Json(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            // What subscribeAll subscribes to (fixture f).
            foreach (var (key, topic) in new[] { ("channel_ids", "__AST_CHANNEL_ALL_TOPIC"), ("bridge_ids", "__AST_BRIDGE_ALL_TOPIC"), ("endpoint_ids", "__AST_ENDPOINT_ALL_TOPIC"), ("device_names", "__AST_DEVICE_STATE_ALL_TOPIC") })
            {
                w.WriteStartArray(key);
                w.WriteStringValue(topic);
                w.WriteEndArray();
            }
            w.WriteStartArray("events_allowed");
            w.WriteEndArray();
            w.WriteStartArray("events_disallowed");
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    public Reply Info() => Reply.Json(200, w =>
    {
        w.WriteStartObject();
        w.WriteStartObject("system");
        w.WriteString("version", "22.10.1");
        w.WriteString("entity_id", scenario.AsteriskId);
        w.WriteEndObject();
        w.WriteStartObject("config");
        w.WriteString("name", "");
        w.WriteString("default_language", "en");
        w.WriteNumber("max_channels", 2000);
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>GET /asterisk/variable: no global variables are set here, and Asterisk answers an unset one with an empty value (fixture f).</summary>
    public static Reply GlobalVariable(Args q) => q["variable"] is null
        ? Reply.Message(400, "Variable name is required")
        : Reply.Json(200, w => { w.WriteStartObject(); w.WriteString("value", ""); w.WriteEndObject(); });

    public Reply GetBridge(string id)
    {
        lock (_gate)
            return _bridges.TryGetValue(id, out var b) ? Reply.Json(200, w => WriteBridge(w, b, asProperty: false)) : Reply.Message(404, "Bridge not found");
    }

    /// <summary>POST/DELETE /bridges/{id}/moh: music on hold has no events of its own (only BRIDGEPEER variables, noise).</summary>
    public Reply BridgeMoh(string id)
    {
        lock (_gate) return _bridges.ContainsKey(id) ? Reply.NoContent : Reply.Message(404, "Bridge not found");
    }

    /// <summary>POST /bridges/{id}/play: like a channel's, but with subscribeAll its events arrive twice (fixture f).</summary>
    public Reply PlayBridge(string bridgeId, Args q)
    {
        if (q["media"] is not { } media) return Reply.Message(400, "media must be specified");
        lock (_gate)
        {
            if (!_bridges.ContainsKey(bridgeId)) return Reply.Message(404, "Bridge not found");
            var id = q["playbackId"] ?? $"pb-{++_idSeq}";
            var target = $"bridge:{bridgeId}";
            for (var i = 0; i < 2; i++) Emit("PlaybackStarted", w => WritePlayback(w, id, media, target, "playing"));
            _ = BridgeLater(scenario.PlaybackSeconds, bridgeId, () =>
            {
                for (var i = 0; i < 2; i++) Emit("PlaybackFinished", w => WritePlayback(w, id, media, target, "done"));
            });
            return Reply.Json(201, w => WritePlayback(w, id, media, target, "queued", asProperty: false));
        }
    }

    private async Task BridgeLater(double seconds, string bridgeId, Action action)
    {
        try { await Task.Delay(TimeSpan.FromSeconds(Math.Max(seconds * scenario.TimeScale, 0.001)), time, _stopped.Token); }
        catch (OperationCanceledException) { return; }
        lock (_gate)
            if (_bridges.ContainsKey(bridgeId)) action();
    }

    public Reply LiveRecording(string name)
    {
        lock (_gate)
        {
            if (!_liveRecordings.TryGetValue(name, out var bridgeId)) return Reply.Message(404, "Recording not found");
            return Reply.Json(200, w => WriteRecording(w, name, "wav", "recording", $"bridge:{bridgeId}", null, asProperty: false));
        }
    }

    /// <summary>GET /recordings/stored[/{name}]: what finished recordings left on disk.</summary>
    public Reply StoredRecordings(string? name)
    {
        lock (_gate)
        {
            if (name is not null)
                return _stored.TryGetValue(name, out var one) ? Reply.Json(200, w => WriteStored(w, name, one.Format)) : Reply.Message(404, "Recording not found");
            return Reply.Array(_stored.ToArray(), (w, kv) => WriteStored(w, kv.Key, kv.Value.Format));
        }
    }

    /// <summary>GET /recordings/stored/{name}/file: a WAV of silence as long as the recording (8 kHz, 16-bit mono).</summary>
    public Reply StoredRecordingFile(string name)
    {
        lock (_gate)
        {
            if (!_stored.TryGetValue(name, out var rec)) return Reply.Message(404, "Recording not found");
            return new Reply(200, Wav(rec.Seconds), "audio/wav");
        }
    }

    public Reply DeleteStoredRecording(string name)
    {
        lock (_gate) return _stored.Remove(name) ? Reply.NoContent : Reply.Message(404, "Recording not found");
    }

    private static byte[] Wav(int seconds)
    {
        var data = Math.Max(1, seconds) * 16_000;
        var wav = new byte[44 + data];
        var w = new BinaryWriter(new MemoryStream(wav));
        w.Write("RIFF"u8); w.Write(36 + data); w.Write("WAVE"u8);
        w.Write("fmt "u8); w.Write(16); w.Write((short)1); w.Write((short)1); w.Write(8000); w.Write(16_000); w.Write((short)2); w.Write((short)16);
        w.Write("data"u8); w.Write(data);
        return wav;
    }

    private static void WriteStored(Utf8JsonWriter w, string name, string format)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("format", format);
        w.WriteEndObject();
    }

    public Reply Ping() => Reply.Json(200, w =>
    {
        w.WriteStartObject();
        w.WriteString("ping", "pong");
        w.WriteString("timestamp", Timestamp());
        w.WriteString("asterisk_id", scenario.AsteriskId);
        w.WriteEndObject();
    });

    // ---- faults -----------------------------------------------------------------------------------

    /// <summary>"core stop now": every channel is hung up (cause 4 → destroyed with cause 0); the caller then drops the sockets.</summary>
    public void StopNow()
    {
        lock (_gate)
            foreach (var ch in _channels.Values.ToArray())
                End(ch, hangupCause: 4, soft: true, techCause: null, dialStatus: null, destroyCause: 0);
    }

    /// <summary>Hangs up everything and stops every pending timer.</summary>
    public void Shutdown()
    {
        _stopped.Cancel();
    }

    /// <summary>Each trunk reports its qualify round trip, as PJSIP does for a contact with qualify_frequency.</summary>
    public void EmitQualify()
    {
        lock (_gate)
            foreach (var trunk in scenario.Trunks)
            {
                var dead = scenario.TrunkFailureRate.GetValueOrDefault(trunk) >= 1;
                var rttUs = (long)(scenario.TrunkRttMs.GetValueOrDefault(trunk, 20) * 1000);
                Emit("ContactStatusChange", w =>
                {
                    WriteEndpoint(w, trunk);
                    w.WriteStartObject("contact_info");
                    w.WriteString("uri", $"sip:{trunk}@127.0.0.1:5060");
                    w.WriteString("contact_status", dead ? "Unreachable" : "Reachable");
                    w.WriteString("aor", trunk);
                    w.WriteString("roundtrip_usec", dead ? "0" : rttUs.ToString(CultureInfo.InvariantCulture));
                    w.WriteEndObject();
                });
            }
    }

    // ---- call progress ------------------------------------------------------------------------------

    private void StartDial(Chan ch, int timeoutSeconds)
    {
        ch.Dialed = true;
        var dialstring = ch.Resource == ch.Number ? ch.Resource : $"{ch.Number}@{ch.Resource}";
        ch.DialString = dialstring;
        EmitDial(ch, "");
        var f = ch.Fate;
        switch (f.Kind)
        {
            case FateKind.Busy: After(0.002, ch, () => End(ch, 17, false, 486, "BUSY", 17)); return;
            case FateKind.Congestion: After(0.003, ch, () => End(ch, 34, false, 503, "CONGESTION", 34)); return;
            case FateKind.BadNumber: After(0.003, ch, () => End(ch, 1, false, 404, "CHANUNAVAIL", 1)); return;
            case FateKind.Linked: After(f.RingSeconds, ch, () => CrossToPeer(ch)); return;
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
                    After(talk, ch, () => End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: 16));
            });
        });
        if (timeoutSeconds > 0)
            After(timeoutSeconds, ch, () =>
            {
                if (ch.State == "Up") return;
                // A ring timeout ends with cause 19 / SIP 480 only: no Dial NOANSWER, no ChannelHangupRequest (fixture c).
                End(ch, hangupCause: null, soft: false, techCause: 480, dialStatus: null, destroyCause: 19, quiet: true);
            });
    }

    // ---- several servers: inter-server trunks and calls from phones -----------------------------------

    /// <summary>Calls dialed here to PJSIP/{exten}@{endpoint} arrive on <paramref name="peer"/> in [dialer-interserver]: Answer(), Stasis(dialer,xfer,{exten}).</summary>
    public void Link(string endpoint, EmulatedAsterisk peer)
    {
        lock (_gate) _links[endpoint] = peer;
    }

    /// <summary>
    /// A call that enters the dialplan here and reaches Stasis answered: a phone dialing [dialer-agents] (args "agent,ID"),
    /// or a leg from another server (args "xfer,AGENT"). Returns its channel id (Asterisk's own).
    /// </summary>
    public string Inbound(string resource, string args, (EmulatedAsterisk World, string Id)? peer = null)
    {
        lock (_gate)
        {
            var id = $"{time.GetUtcNow().ToUnixTimeSeconds()}.{++_idSeq}";
            var ch = new Chan(id, $"PJSIP/{resource}-{++_seq:x8}", resource, resource, "dialer", args, createdInStasis: false) { Fate = Fate.Phone, PeerLink = peer };
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
            End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: 16);
            return true;
        }
    }

    /// <summary>Rings the inter-server leg through to the peer; when the peer has it in Stasis, this side is answered. Under the lock.</summary>
    private void CrossToPeer(Chan ch)
    {
        SetState(ch, "Ringing");
        EmitDial(ch, "RINGING");
        var peer = _links[ch.Resource];
        var args = $"xfer,{ch.Number}";
        _ = Task.Run(() =>
        {
            // The peer's lock is taken outside ours: two linked worlds never wait on each other.
            var farId = peer.Inbound("interserver", args, (this, ch.Id));
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
        if (!_registeredApps.Contains(ch.App))
        {
            // The app never connected: Stasis fails at once and the channel is destroyed with cause 0 (fixture g).
            Emit("ChannelVarset", ch, w => { w.WriteString("variable", "STASISSTATUS"); w.WriteString("value", "FAILED"); });
            End(ch, hangupCause: null, soft: false, techCause: null, dialStatus: null, destroyCause: 0, quiet: true);
            return;
        }
        ch.InStasis = true;
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
    private void End(Chan ch, int? hangupCause, bool soft, int? techCause, string? dialStatus, int destroyCause, bool quiet = false)
    {
        if (!_channels.Remove(ch.Id)) return;
        if (ch.PeerLink is var (peerWorld, peerId)) _ = Task.Run(() => peerWorld.HangupFromFarEnd(peerId)); // SIP BYE over the inter-server trunk
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
        if (ch.State == "Up" && stopping) EmitQos(ch);
        Emit("ChannelDestroyed", ch, w =>
        {
            w.WriteNumber("cause", destroyCause);
            w.WriteString("cause_txt", CauseText(destroyCause));
            if (techCause is { } t) w.WriteNumber("tech_cause", t);
        });
    }

    private void SetState(Chan ch, string state)
    {
        ch.State = state;
        if (state == "Up") ch.UpSince = time.GetUtcNow();
        Emit("ChannelStateChange", ch);
    }

    private void EmitDial(Chan ch, string status) => Emit("Dial", w =>
    {
        w.WriteString("dialstatus", status);
        w.WriteString("forward", "");
        w.WriteString("dialstring", ch.DialString);
        WriteChannel(w, ch, "peer");
    });

    /// <summary>
    /// Runs <paramref name="action"/> under the lock after <paramref name="seconds"/> (scaled), unless the channel is gone.
    /// A channel's actions run in due order even when the process stalls past several of them at once (a ring
    /// timeout must never overtake the ringing it ends). Called under the lock.
    /// </summary>
    private void After(double seconds, Chan ch, Action action)
    {
        // At least 1 ms: a zero delay would complete inline, inside the lock, before the REST reply is built.
        var delay = TimeSpan.FromSeconds(Math.Max(seconds * scenario.TimeScale, 0.001));
        var key = (time.GetUtcNow() + delay, ++_timerSeq);
        ch.Pending.Add(key, action);
        _ = Later(delay, ch, key);
    }

    private async Task Later(TimeSpan delay, Chan ch, (DateTimeOffset, long) key)
    {
        try { await Task.Delay(delay, time, _stopped.Token); }
        catch (OperationCanceledException) { return; }
        lock (_gate)
            // Everything of this channel due up to this timer runs now, earliest first.
            while (ch.Pending.Count > 0 && ch.Pending.Keys[0].CompareTo(key) <= 0 && _channels.TryGetValue(ch.Id, out var live) && live == ch)
            {
                var action = ch.Pending.Values[0];
                ch.Pending.RemoveAt(0);
                action();
            }
    }

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

    private double Rtt(Chan ch) => scenario.TrunkRttMs.GetValueOrDefault(ch.Resource, 20);

    /// <summary>CHANNEL(rtcp,all) as Asterisk 22 writes it (fixture f): packets from the time the call was up, loss from the scenario.</summary>
    private string RtcpAll(Chan ch)
    {
        var (packets, lost) = RtcpCounts(ch);
        var rtt = (Rtt(ch) / 1000).ToString("0.000000", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture,
            $"ssrc={ch.Ssrc};themssrc={ch.Ssrc};lp={lost};rxjitter=0.000000;rxcount={packets - lost};txjitter=0.000125;txcount={packets};rlp=0;rtt={rtt};rxmes=0.000000;txmes=88.087887");
    }

    /// <summary>RTP packets sent since the answer (50 a second of emulated time) and how many of those the far end lost.</summary>
    private (long Packets, long Lost) RtcpCounts(Chan ch)
    {
        var packets = ch.UpSince is { } up ? Math.Max(1, (long)((time.GetUtcNow() - up).TotalSeconds / scenario.TimeScale * 50)) : 0;
        return (packets, (long)(packets * scenario.TrunkLoss.GetValueOrDefault(ch.Resource)));
    }

    private void EmitQos(Chan ch)
    {
        foreach (var (name, value) in new[]
                 {
                     ("RTPAUDIOQOS", RtcpAll(ch)), ("RTPAUDIOQOSJITTER", RtcpJitter), ("RTPAUDIOQOSLOSS", RtcpLoss),
                     ("RTPAUDIOQOSRTT", RttString(ch)), ("RTPAUDIOQOSMES", RtcpMes),
                 })
            Emit("ChannelVarset", ch, w => { w.WriteString("variable", name); w.WriteString("value", value); });
    }

    private const string RtcpJitter = "minrxjitter=000.000000;maxrxjitter=000.002250;avgrxjitter=000.000178;stdevrxjitter=000.000380;mintxjitter=000.000000;maxtxjitter=000.000000;avgtxjitter=000.000000;stdevtxjitter=000.000000;";
    private const string RtcpLoss = "  minrxlost=000.000000;  maxrxlost=000.000000;  avgrxlost=000.000000;  stdevrxlost=000.000000;  mintxlost=000.000000;  maxtxlost=000.000000;  avgtxlost=000.000000;  stdevtxlost=000.000000;";
    private const string RtcpMes = "   minrxmes=088.087887;   maxrxmes=088.087887;   avgrxmes=088.087887;   stdevrxmes=000.000000;   mintxmes=000.000000;   maxtxmes=000.000000;   avgtxmes=000.000000;   stdevtxmes=000.000000;";

    private string RttString(Chan ch)
    {
        var s = (Rtt(ch) / 1000).ToString("000.000000", CultureInfo.InvariantCulture);
        return $"     minrtt={s};     maxrtt={s};     avgrtt={s};     stdevrtt=000.000000;";
    }

    private static string? ParseCallerNumber(string? callerId)
    {
        if (callerId is null) return null;
        var lt = callerId.IndexOf('<');
        var gt = callerId.IndexOf('>');
        return lt >= 0 && gt > lt ? callerId[(lt + 1)..gt] : callerId;
    }

    private static string CauseText(int cause) => cause switch
    {
        0 => "Unknown",
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        19 => "User alerting, no answer",
        34 => "Circuit/channel congestion",
        _ => "Unknown",
    };

    // ---- JSON ---------------------------------------------------------------------------------------

    private void Emit(string type, Chan ch, Action<Utf8JsonWriter>? fields = null) => Emit(type, w =>
    {
        fields?.Invoke(w);
        WriteChannel(w, ch, "channel");
    });

    private void Emit(string type, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteString("timestamp", Timestamp());
            fields(w);
            w.WriteString("asterisk_id", scenario.AsteriskId);
            w.WriteString("application", "dialer");
            w.WriteEndObject();
        }
        broadcast(buffer.WrittenSpan.ToArray());
    }

    private string Timestamp() => time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);

    private static void WriteChannel(Utf8JsonWriter w, Chan ch, string? property = null)
    {
        if (property is null) w.WriteStartObject(); else w.WriteStartObject(property);
        w.WriteString("id", ch.Id);
        w.WriteString("name", ch.Name);
        w.WriteString("state", ch.State);
        w.WriteString("protocol_id", ch.ProtocolId);
        w.WriteStartObject("caller");
        w.WriteString("name", "Dialer");
        w.WriteString("number", ch.CallerNumber);
        w.WriteEndObject();
        w.WriteStartObject("connected");
        w.WriteString("name", "");
        w.WriteString("number", "");
        w.WriteEndObject();
        w.WriteString("accountcode", "");
        w.WriteStartObject("dialplan");
        w.WriteString("context", "from-trunk");
        w.WriteString("exten", "s");
        w.WriteNumber("priority", 1);
        w.WriteString("app_name", ch.InStasis ? "Stasis" : "AppDial2");
        w.WriteString("app_data", ch.InStasis ? $"{ch.App},{ch.AppArgs}" : "(Outgoing Line)");
        w.WriteEndObject();
        w.WriteString("creationtime", ch.CreationTime);
        w.WriteString("language", "en");
        w.WriteEndObject();
    }

    private static void WriteBridge(Utf8JsonWriter w, Bridge b, bool asProperty = true)
    {
        if (asProperty) w.WriteStartObject("bridge"); else w.WriteStartObject();
        w.WriteString("id", b.Id);
        w.WriteString("technology", "simple_bridge");
        w.WriteString("bridge_type", b.Type);
        w.WriteString("bridge_class", "stasis");
        w.WriteString("creator", "Stasis");
        w.WriteString("name", b.Name);
        w.WriteStartArray("channels");
        foreach (var c in b.Channels) w.WriteStringValue(c);
        w.WriteEndArray();
        w.WriteString("creationtime", b.CreationTime);
        w.WriteString("video_mode", "talker");
        w.WriteEndObject();
    }

    private static void WritePlayback(Utf8JsonWriter w, string id, string media, string target, string state, bool asProperty = true)
    {
        if (asProperty) w.WriteStartObject("playback"); else w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("media_uri", media);
        w.WriteString("target_uri", target);
        w.WriteString("language", "en");
        w.WriteString("state", state);
        w.WriteEndObject();
    }

    private static void WriteRecording(Utf8JsonWriter w, string name, string format, string state, string target, int? duration, bool asProperty = true)
    {
        if (asProperty) w.WriteStartObject("recording"); else w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("format", format);
        w.WriteString("state", state);
        w.WriteString("target_uri", target);
        if (duration is { } d) w.WriteNumber("duration", d);
        w.WriteEndObject();
    }

    private static void WriteEndpoint(Utf8JsonWriter w, string resource, bool asProperty = true)
    {
        if (asProperty) w.WriteStartObject("endpoint"); else w.WriteStartObject();
        w.WriteString("technology", "PJSIP");
        w.WriteString("resource", resource);
        w.WriteString("state", "online");
        w.WriteStartArray("channel_ids");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    // ---- world objects ------------------------------------------------------------------------------

    private enum FateKind : byte { Answer, Busy, NoAnswer, Congestion, BadNumber, Linked }

    /// <summary>What the far end does: ring this long then answer, hang up after talking, what AMD will decide.</summary>
    private sealed record Fate(FateKind Kind, double RingSeconds, double? TalkSeconds, (string Status, string Cause, double Seconds) Amd)
    {
        /// <summary>An agent phone: answers at once, stays up until hung up.</summary>
        public static readonly Fate Phone = new(FateKind.Answer, 0.005, null, ("HUMAN", "HUMAN-800-800", 1.8));
        /// <summary>A call over an inter-server trunk: the other Asterisk answers it into its dialplan.</summary>
        public static readonly Fate Linked = new(FateKind.Linked, 0.005, null, ("", "", 0));
        public static readonly Fate Busied = new(FateKind.Busy, 0, null, ("", "", 0));
        public static readonly Fate Congested = new(FateKind.Congestion, 0, null, ("", "", 0));
    }

    private sealed class Chan(string id, string name, string resource, string number, string app, string appArgs, bool createdInStasis)
    {
        public string Id { get; } = id;
        public string Name { get; } = name;
        public string Resource { get; } = resource;
        public string Number { get; } = number;
        public string App { get; } = app;
        public string AppArgs { get; } = appArgs;
        public bool CreatedInStasis { get; } = createdInStasis;
        public string ProtocolId { get; } = Guid.NewGuid().ToString();
        public string CreationTime { get; } = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);
        public string State { get; set; } = "Down";
        public DateTimeOffset? UpSince { get; set; }
        public uint Ssrc { get; } = (uint)Random.Shared.Next();
        /// <summary>The other end of an inter-server call: hanging up one side hangs up the other.</summary>
        public (EmulatedAsterisk World, string Id)? PeerLink { get; set; }
        public string CallerNumber { get; set; } = "";
        public string DialString { get; set; } = "";
        public bool Dialed { get; set; }
        public bool InStasis { get; set; }
        public Bridge? Bridge { get; set; }
        public required Fate Fate { get; init; }
        public Dictionary<string, string> Vars { get; } = new(StringComparer.Ordinal);
        public SortedList<(DateTimeOffset Due, long Seq), Action> Pending { get; } = [];
    }

    private sealed class Bridge(string id, string type, string name)
    {
        public string Id { get; } = id;
        public string Type { get; } = type;
        public string Name { get; } = name;
        public string CreationTime { get; } = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);
        public bool Announced { get; set; }
        public List<string> Channels { get; } = [];
        public Dictionary<string, DateTimeOffset> RecordingStartedAt { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>Query-string parameters of one request.</summary>
internal sealed class Args(Microsoft.AspNetCore.Http.IQueryCollection query)
{
    public string? this[string name] => query.TryGetValue(name, out var v) && v.Count > 0 ? v[0] : null;
}

/// <summary>A REST reply: status and a JSON body writer (null for 204).</summary>
internal sealed record Reply(int Status, byte[]? Body, string ContentType = "application/json")
{
    public static readonly Reply NoContent = new(204, null);

    public static Reply Json(int status, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return new Reply(status, buffer.WrittenSpan.ToArray());
    }

    public static Reply Array<T>(IReadOnlyList<T> items, Action<Utf8JsonWriter, T> write) => Json(200, w =>
    {
        w.WriteStartArray();
        foreach (var item in items) write(w, item);
        w.WriteEndArray();
    });

    /// <summary>Most ARI errors carry <c>message</c>…</summary>
    public static Reply Message(int status, string message) => Json(status, w => { w.WriteStartObject(); w.WriteString("message", message); w.WriteEndObject(); });
    /// <summary>…but a failed channel allocation carries <c>error</c> (fixture g).</summary>
    public static Reply Error(int status, string error) => Json(status, w => { w.WriteStartObject(); w.WriteString("error", error); w.WriteEndObject(); });
}
