using System.Globalization;
using System.Text.Json;

namespace Dialer.Emulator;

/// <summary>Endpoints and trunks, the application, system info, and the faults of a whole Asterisk (stop, qualify).</summary>
internal sealed partial class EmulatedAsterisk
{
    public Reply Endpoint(string? tech, string? resource)
    {
        if (tech != "PJSIP" || resource is null || !(scenario.Trunks.Contains(resource) || resource.StartsWith(scenario.PhonePrefix, StringComparison.Ordinal)))
            return Reply.Message(404, "Endpoint not found");
        lock (_gate) return Reply.Json(200, w => WriteEndpoint(w, resource, asProperty: false));
    }

    /// <summary>GET /endpoints[/PJSIP]: the phones seen so far and the trunks (Asterisk lists what pjsip.conf defines).</summary>
    public Reply Endpoints(string? tech)
    {
        if (tech is not (null or "PJSIP")) return Reply.Message(404, "Endpoint not found");
        lock (_gate) return Reply.Array([.. _phones.Order(StringComparer.Ordinal), .. scenario.Trunks], (w, r) => WriteEndpoint(w, r, asProperty: false));
    }

    public Reply Application(string name)
    {
        StasisApp? app;
        lock (_gate)
            if (!_apps.TryGetValue(name, out app)) return Reply.Message(404, "Application not found");
        return Reply.Json(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            EventFilter filter;
            lock (_gate)
            {
                filter = app.Filter;
                var all = app.SubscribeAll;
                // subscribeAll: the topic of every kind (fixture f); else what was subscribed to, by kind ("endpoint:PJSIP/x" → "PJSIP/x").
                foreach (var (key, scheme, topic) in new[] { ("channel_ids", "channel:", "__AST_CHANNEL_ALL_TOPIC"), ("bridge_ids", "bridge:", "__AST_BRIDGE_ALL_TOPIC"), ("endpoint_ids", "endpoint:", "__AST_ENDPOINT_ALL_TOPIC"), ("device_names", "deviceState:", "__AST_DEVICE_STATE_ALL_TOPIC") })
                {
                    w.WriteStartArray(key);
                    if (all) w.WriteStringValue(topic);
                    foreach (var source in app.Subscriptions.Keys.Where(s => s.StartsWith(scheme, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                        w.WriteStringValue(source[scheme.Length..]);
                    w.WriteEndArray();
                }
            }
            foreach (var (key, types) in new[] { ("events_allowed", filter.Allowed), ("events_disallowed", filter.Disallowed) })
            {
                w.WriteStartArray(key);
                foreach (var t in types.Order(StringComparer.Ordinal))
                {
                    w.WriteStartObject();
                    w.WriteString("type", t);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
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

    /// <summary>GET /asterisk/variable: a global variable; Asterisk answers an unset one with an empty value (fixture f).</summary>
    public Reply GlobalVariable(Args q)
    {
        if (q["variable"] is not { } name) return Reply.Message(400, "Variable name is required");
        string value;
        lock (_gate) value = _globals.GetValueOrDefault(name, "");
        return Reply.Json(200, w => { w.WriteStartObject(); w.WriteString("value", value); w.WriteEndObject(); });
    }

    public string Global(string name)
    {
        lock (_gate) return _globals.GetValueOrDefault(name, "");
    }

    public string? AppOf(string channelId)
    {
        lock (_gate) return _channels.TryGetValue(channelId, out var ch) ? ch.App : null;
    }

    /// <summary>POST /asterisk/variable: sets a global variable (the dialplan reads it; extensions.conf keeps them over a reload).</summary>
    public Reply SetGlobalVariable(Args q)
    {
        if (q["variable"] is not { } name) return Reply.Message(400, "Variable name is required");
        lock (_gate) _globals[name] = q["value"] ?? "";
        return Reply.NoContent;
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

    /// <summary>Each trunk reports its qualify round trip, as PJSIP does for a contact with qualify_frequency; a dead one goes offline.</summary>
    public void EmitQualify()
    {
        lock (_gate)
            foreach (var trunk in scenario.Trunks)
            {
                var dead = scenario.TrunkFailureRate.GetValueOrDefault(trunk) >= 1 || _deadTrunks.Contains(trunk);
                Qualified(trunk, !dead);
            }
    }

    /// <summary>Under the lock: a qualify result, and the endpoint state change it causes (lab captures a, d: PeerStatusChange, then ContactStatusChange).</summary>
    private void Qualified(string trunk, bool reachable)
    {
        var changed = reachable ? _offline.Remove(trunk) : _offline.Add(trunk);
        if (reachable) _unreachable.Remove(trunk); else _unreachable.Add(trunk);
        if (changed) Emit("PeerStatusChange", w => { WriteEndpoint(w, trunk); WritePeer(w, reachable); }, SubscribedTo($"endpoint:PJSIP/{trunk}"));
        var rttUs = (long)(scenario.TrunkRttMs.GetValueOrDefault(trunk, 20) * 1000);
        Emit("ContactStatusChange", w =>
        {
            w.WriteStartObject("contact_info");
            w.WriteString("uri", $"sip:{trunk}@127.0.0.1:5060");
            w.WriteString("contact_status", reachable ? "Reachable" : "Unreachable");
            w.WriteString("aor", trunk);
            w.WriteString("roundtrip_usec", reachable ? rttUs.ToString(CultureInfo.InvariantCulture) : "0");
            w.WriteEndObject();
            WriteEndpoint(w, trunk);
        }, SubscribedTo($"endpoint:PJSIP/{trunk}"));
    }

    private static void WritePeer(Utf8JsonWriter w, bool reachable)
    {
        w.WriteStartObject("peer");
        w.WriteString("peer_status", reachable ? "Reachable" : "Unreachable");
        w.WriteEndObject();
    }

    /// <summary>
    /// Asterisk (re)starts: every trunk endpoint reads offline until its first qualify, <see cref="EmulatorScenario.BootQualifySeconds"/>
    /// later (~1.2 s on a real one); then each is Reachable. With 0 they are online at once.
    /// </summary>
    public void Boot()
    {
        if (scenario.BootQualifySeconds <= 0) return;
        lock (_gate) _offline.UnionWith(scenario.Trunks);
        _ = FirstQualify();
    }

    private async Task FirstQualify()
    {
        try { await Task.Delay(TimeSpan.FromSeconds(scenario.BootQualifySeconds * scenario.TimeScale), time, _stopped.Token); }
        catch (OperationCanceledException) { return; }
        EmitQualify();
    }

    /// <summary>The carrier behind a trunk dies: new calls get no SIP answer at all, calls up go silent (frozen RTCP).</summary>
    public void KillTrunk(string trunk)
    {
        lock (_gate)
        {
            _deadTrunks.Add(trunk);
            var now = time.GetUtcNow();
            foreach (var ch in _channels.Values)
            {
                if (ch.Resource != trunk || ch.FrozenAt is not null) continue;
                ch.FrozenAt = now;
                // No more RTP: pjsip's rtp_timeout hangs it up (lab capture d: hang-up cause 1, destroyed 44).
                if (ch.State == "Up" && scenario.RtpTimeoutSeconds > 0)
                    After(scenario.RtpTimeoutSeconds, ch, () => End(ch, hangupCause: 1, soft: false, techCause: null, dialStatus: null, destroyCause: 44));
            }
        }
    }

    /// <summary>"core stop gracefully": calls up go on, every new channel is refused with 500 "Allocation failed" (lab capture e).</summary>
    public void BeginShutdown()
    {
        lock (_gate) _shuttingDown = true;
    }

    /// <summary>After "core restart now": an empty Asterisk that accepts calls again (endpoints offline until their first qualify).</summary>
    public void Restarted()
    {
        lock (_gate)
        {
            _shuttingDown = false;
            _unreachable.Clear();
            _apps.Clear(); // with their subscriptions and filters: the sockets register them again
            _hearAll.Clear();
            _globals.Clear();
        }
        Boot();
    }

    /// <summary>The From: number of the last INVITE to <paramref name="number"/> ("anonymous" with no connected line), or null if never dialed.</summary>
    public string? FromOf(string number)
    {
        lock (_gate) return _lastFrom.GetValueOrDefault(number);
    }

    /// <summary>POST /applications/{app}/subscription?eventSource=endpoint:PJSIP/x (or channel:…, bridge:…).</summary>
    public Reply Subscribe(string app, Args q)
    {
        if (q["eventSource"] is not { } sources) return Reply.Message(400, "eventSource parameter is required");
        lock (_gate)
        {
            if (!_apps.TryGetValue(app, out var a)) return Reply.Message(404, "Application not found");
            var list = sources.Split(',');
            // Asterisk refuses the whole request for a channel or bridge it does not have.
            if (list.Any(s => s.StartsWith("channel:", StringComparison.Ordinal) && !_channels.ContainsKey(s["channel:".Length..])
                              || s.StartsWith("bridge:", StringComparison.Ordinal) && !_bridges.ContainsKey(s["bridge:".Length..])))
                return Reply.Message(422, "Event source does not exist");
            foreach (var source in list)
            {
                a.Subscriptions[source] = a.Subscriptions.GetValueOrDefault(source) + 1;
                Watchers(source)?.Add(a);
            }
        }
        return Application(app);
    }

    /// <summary>DELETE /applications/{app}/subscription?eventSource=…: one subscription fewer; 422 for a source it is not subscribed to.</summary>
    public Reply Unsubscribe(string app, Args q)
    {
        if (q["eventSource"] is not { } sources) return Reply.Message(400, "eventSource parameter is required");
        lock (_gate)
        {
            if (!_apps.TryGetValue(app, out var a)) return Reply.Message(404, "Application not found");
            var list = sources.Split(',');
            if (list.Any(s => !a.Subscriptions.ContainsKey(s))) return Reply.Message(422, "Event source was not subscribed to");
            foreach (var source in list)
                if (--a.Subscriptions[source] == 0)
                {
                    a.Subscriptions.Remove(source);
                    Watchers(source)?.Remove(a);
                }
        }
        return Application(app);
    }

    /// <summary>Under the lock: who hears a channel or bridge event source, null for other kinds (endpoints are looked up per event).</summary>
    private HashSet<StasisApp>? Watchers(string source) =>
        source.StartsWith("channel:", StringComparison.Ordinal) && _channels.TryGetValue(source["channel:".Length..], out var ch) ? ch.Watchers
        : source.StartsWith("bridge:", StringComparison.Ordinal) && _bridges.TryGetValue(source["bridge:".Length..], out var b) ? b.Watchers
        : null;

    /// <summary>PUT /applications/{app}/eventFilter with {"allowed":[{"type":…}], "disallowed":[…]} (ari-spec: since 16.3).</summary>
    public Reply SetEventFilter(string app, JsonElement? body)
    {
        lock (_gate)
        {
            if (!_apps.TryGetValue(app, out var a)) return Reply.Message(404, "Application not found");
            static HashSet<string>? Types(JsonElement? b, string key) =>
                b is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty(key, out var list) && list.ValueKind == JsonValueKind.Array
                    ? [.. list.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Object && x.TryGetProperty("type", out _)).Select(x => x.GetProperty("type").GetString()!)]
                    : null;
            var allowed = Types(body, "allowed");
            var disallowed = Types(body, "disallowed");
            a.Filter = body is null ? EventFilter.None : new EventFilter(allowed ?? a.Filter.Allowed, disallowed ?? a.Filter.Disallowed);
        }
        return Application(app);
    }

    /// <summary>An application's event filter: an empty allowed list allows all; disallowed wins.</summary>
    private sealed record EventFilter(HashSet<string> Allowed, HashSet<string> Disallowed)
    {
        public static readonly EventFilter None = new([], []);
        public bool Allows(string type) => (Allowed.Count == 0 || Allowed.Contains(type)) && !Disallowed.Contains(type);
    }
}
