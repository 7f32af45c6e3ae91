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
}
