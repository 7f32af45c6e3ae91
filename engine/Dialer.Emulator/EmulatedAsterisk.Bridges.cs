using System.Globalization;
using System.Text.Json;

namespace Dialer.Emulator;

/// <summary>Bridges, playbacks and recordings (live and stored).</summary>
internal sealed partial class EmulatedAsterisk
{
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
            SilenceEnds(ch, SilenceEnd.Message);
            ch.Playing[id] = media;
            Emit("PlaybackStarted", w => WritePlayback(w, id, media, target, "playing"), HearersOf(ch));
            After(scenario.PlaybackSeconds, ch, () =>
            {
                if (!ch.Playing.Remove(id)) return; // stopped meanwhile
                Emit("PlaybackFinished", w => WritePlayback(w, id, media, target, "done"), HearersOf(ch));
                CalleeAnswers(ch, media);
            });
            return Reply.Json(201, w => WritePlayback(w, id, media, target, "queued", asProperty: false));
        }
    }

    /// <summary>DELETE /playbacks/{id}: the prompt stops now (PlaybackFinished, as Asterisk sends for a stopped playback).</summary>
    public Reply StopPlayback(string id)
    {
        lock (_gate)
        {
            foreach (var ch in _channels.Values)
                if (ch.Playing.Remove(id, out var media))
                {
                    Emit("PlaybackFinished", w => WritePlayback(w, id, media, $"channel:{ch.Id}", "done"), HearersOf(ch));
                    return Reply.NoContent;
                }
            return Reply.Message(404, "Playback not found");
        }
    }

    /// <summary>
    /// A scripted callee (<see cref="EmulatorScenario.CalleeKeys"/>) presses its key for this prompt, the n-th time it hears
    /// it taking the n-th key ('-': says nothing), <see cref="EmulatorScenario.KeySeconds"/> after the prompt ended.
    /// </summary>
    private void CalleeAnswers(Chan ch, string media)
    {
        if (!(scenario.CalleeKeys.TryGetValue(ch.Number, out var keys) || scenario.CalleeKeys.TryGetValue("*", out keys))
            || !keys.TryGetValue(media, out var presses)) return;
        var n = ch.Heard[media] = ch.Heard.GetValueOrDefault(media) + 1;
        if (n > presses.Length || presses[n - 1] == '-') return;
        var digit = presses[n - 1].ToString();
        After(scenario.KeySeconds, ch, () => Emit("ChannelDtmfReceived", ch, w => { w.WriteString("digit", digit); w.WriteNumber("duration_ms", 100); }));
    }

    public Reply CreateBridge(Args q)
    {
        var type = q["type"] ?? "mixing";
        if (type is not ("mixing" or "holding" or "dtmf_events" or "proxy_media" or "video_sfu" or "video_single"))
            return Reply.Message(500, "Unable to create bridge. Possible duplicate bridge id '(null)'");
        lock (_gate)
        {
            var id = q["bridgeId"] ?? Guid.NewGuid().ToString();
            if (_bridges.ContainsKey(id)) return Reply.Message(409, $"Bridge with id '{id}' already exists"); // Asterisk 22 (lab cl1)
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
            if (b.Announced) Emit("BridgeDestroyed", w => WriteBridge(w, b), HearersOf(b));
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
                Emit("BridgeCreated", w => WriteBridge(w, b), HearersOf(b));
            }
            foreach (var chId in ids)
            {
                var ch = _channels[chId];
                if (ch.Bridge == b) continue;
                if (ch.Bridge is not null) Leave(ch);
                ch.Bridge = b;
                b.Channels.Add(chId);
                if (_apps.TryGetValue(ch.App, out var app)) b.Watchers.Add(app); // the app that puts a channel in a bridge hears the bridge
                Emit("ChannelEnteredBridge", ch, w => WriteBridge(w, b));
            }
            // Asterisk then tells every channel in the bridge who its peer is (lab capture g: two of each per call).
            if (b.Channels.Count >= 2)
                foreach (var id in b.Channels)
                {
                    var ch = _channels[id];
                    SilenceEnds(ch, SilenceEnd.Agent); // someone to hear now
                    var peer = _channels[b.Channels.First(c => c != id)];
                    Emit("ChannelVarset", ch, w => { w.WriteString("variable", "BRIDGEPEER"); w.WriteString("value", peer.Name); });
                    Emit("ChannelVarset", ch, w => { w.WriteString("variable", "BRIDGEPVTCALLID"); w.WriteString("value", peer.ProtocolId); });
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
            for (var i = 0; i < 2; i++) Emit("RecordingStarted", w => WriteRecording(w, name, format, "recording", target, null), HearersOf(b));
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
            var known = _bridges.TryGetValue(bridgeId, out var b);
            if (known && b!.RecordingStartedAt.Remove(name, out var started))
                duration = (int)(time.GetUtcNow() - started).TotalSeconds;
            _stored[name] = ("wav", duration);
            for (var i = 0; i < 2; i++) Emit("RecordingFinished", w => WriteRecording(w, name, "wav", "done", $"bridge:{bridgeId}", duration), known ? HearersOf(b!) : Hearers());
            return Reply.NoContent;
        }
    }


    public Reply GetBridge(string id)
    {
        lock (_gate)
            return _bridges.TryGetValue(id, out var b) ? Reply.Json(200, w => WriteBridge(w, b, asProperty: false)) : Reply.Message(404, "Bridge not found");
    }

    /// <summary>POST/DELETE /channels/{id}/moh: no events of its own.</summary>
    public Reply ChannelMoh(string id)
    {
        lock (_gate) return _channels.ContainsKey(id) ? Reply.NoContent : Reply.Message(404, "Channel not found");
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
            var bridge = _bridges[bridgeId];
            _bridgePlays.Add(new BridgePlay(bridgeId, media, [.. bridge.Channels], bridge.RecordingStartedAt.Count > 0));
            for (var i = 0; i < 2; i++) Emit("PlaybackStarted", w => WritePlayback(w, id, media, target, "playing"), HearersOf(bridge));
            _ = BridgeLater(scenario.PlaybackSeconds, bridgeId, () =>
            {
                for (var i = 0; i < 2; i++) Emit("PlaybackFinished", w => WritePlayback(w, id, media, target, "done"), HearersOf(bridge));
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
}
