using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Dialer.Emulator;

/// <summary>Events and the JSON Asterisk 22 writes for each object.</summary>
internal sealed partial class EmulatedAsterisk
{
    // ---- JSON ---------------------------------------------------------------------------------------

    // A channel that came in through the dialplan (an agent's phone dialing 500, an inter-server leg) is the app's only
    // while in Stasis: after its StasisEnd the app hears nothing more of it, not even ChannelDestroyed (lab capture i).
    // An app also subscribed to the channel's endpoint hears each of its events a second time through it (lab capture k).
    private void Emit(string type, Chan ch, Action<Utf8JsonWriter>? fields = null)
    {
        void Write(Utf8JsonWriter w)
        {
            fields?.Invoke(w);
            WriteChannel(w, ch, "channel");
        }
        var appHears = !ch.FromDialplan || ch.InStasis || type == "StasisEnd";
        var hearers = HearersOf(ch, appHears);
        if (type is "ChannelEnteredBridge" && ch.Bridge is { } b) hearers.UnionWith(b.Watchers);
        Emit(type, Write, hearers);
        if (appHears) Emit(type, Write, SubscribedTo($"endpoint:PJSIP/{ch.Resource}"), toAll: false);
    }

    /// <summary>Under the lock: the app the channel is in (<paramref name="appHears"/>) and the apps subscribed to it.</summary>
    private HashSet<StasisApp> HearersOf(Chan ch, bool appHears = true)
    {
        var hearers = Hearers();
        if (appHears && _apps.TryGetValue(ch.App, out var own)) hearers.Add(own);
        hearers.UnionWith(ch.Watchers);
        return hearers;
    }

    /// <summary>Under the lock: the apps that use the bridge or subscribed to it (its playbacks, recordings, its end).</summary>
    private HashSet<StasisApp> HearersOf(Bridge b)
    {
        var hearers = Hearers();
        hearers.UnionWith(b.Watchers);
        return hearers;
    }

    /// <summary>Under the lock: the apps subscribed to an event source such as "endpoint:PJSIP/carrier-a".</summary>
    private HashSet<StasisApp> SubscribedTo(string source)
    {
        var hearers = Hearers();
        foreach (var app in _apps.Values)
            if (app.Subscriptions.ContainsKey(source)) hearers.Add(app);
        return hearers;
    }

    private readonly HashSet<StasisApp> _hearers = [];

    /// <summary>Under the lock: the (emptied) set of apps the next event goes to.</summary>
    private HashSet<StasisApp> Hearers()
    {
        _hearers.Clear();
        return _hearers;
    }

    /// <summary>
    /// Writes one event and hands it to the apps that hear it. Without subscribeAll an app hears only what it is subscribed to
    /// (lab capture g): its own channels from the moment they are its own (no ChannelCreated, no ChannelDialplan), its bridges
    /// from their first use (no BridgeCreated), and what it subscribed to; an app registered with subscribeAll hears every
    /// event once (<paramref name="toAll"/>: not the repeats through an endpoint subscription). Each app's event filter applies.
    /// </summary>
    private void Emit(string type, Action<Utf8JsonWriter> fields, HashSet<StasisApp> hearers, bool toAll = true)
    {
        byte[]? body = null;
        var subscribed = type is not ("ChannelCreated" or "ChannelDialplan" or "BridgeCreated");
        if (subscribed)
            foreach (var app in hearers)
                if (!app.SubscribeAll || !toAll) Send(app);
        if (toAll)
            foreach (var app in _hearAll) Send(app);
        return;

        void Send(StasisApp app)
        {
            if (!app.Filter.Allows(type)) return;
            body ??= Body(type, fields);
            deliver(app.Name, [.. body, .. app.Tail]);
        }
    }

    /// <summary>One app's message, or null when its filter keeps it out.</summary>
    private byte[]? Message(string type, Action<Utf8JsonWriter> fields, StasisApp app) =>
        app.Filter.Allows(type) ? [.. Body(type, fields), .. app.Tail] : null;

    /// <summary>An event's JSON up to its "application" field: the object is left open, each app's <see cref="StasisApp.Tail"/> closes it.</summary>
    private byte[] Body(string type, Action<Utf8JsonWriter> fields)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteString("timestamp", Timestamp());
            fields(w);
            w.WriteString("asterisk_id", scenario.AsteriskId);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan[..^1].ToArray(); // without the closing brace
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

    private void WriteEndpoint(Utf8JsonWriter w, string resource, bool asProperty = true)
    {
        if (asProperty) w.WriteStartObject("endpoint"); else w.WriteStartObject();
        w.WriteString("technology", "PJSIP");
        w.WriteString("resource", resource);
        w.WriteString("state", _offline.Contains(resource) ? "offline" : "online");
        w.WriteStartArray("channel_ids");
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
