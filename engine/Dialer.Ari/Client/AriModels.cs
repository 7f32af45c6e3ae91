using System.Text.Json.Serialization;

namespace Dialer.Ari.Client;

// The slice of ARI's data models (ari-spec/*.json, Asterisk 22) the dialer reads. Property names are the
// wire names; fields we do not model are skipped by the parser without allocating (design rule 5), so every
// field here costs something on each event: only what call control uses is modelled.

/// <summary>ARI "Channel": its id (ours, "dialer-…") and state.</summary>
[JsonConverter(typeof(AriChannelConverter))]
public sealed class AriChannel
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("state")] public ChannelState State { get; set; }
}

/// <summary>ARI "Bridge". <see cref="Channels"/> is read from REST answers only (GET /bridges): in events it stays empty, so parsing one allocates no list.</summary>
[JsonConverter(typeof(AriBridgeConverter))]
public sealed class AriBridge
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    /// <summary>The ids of the channels in it now.</summary>
    [JsonPropertyName("channels")] public string[] Channels { get; set; } = [];
}

/// <summary>ARI "Playback".</summary>
[JsonConverter(typeof(AriPlaybackConverter))]
public sealed class AriPlayback
{
    [JsonPropertyName("id")] public string Id { get; set; } = "";
    [JsonPropertyName("media_uri")] public string? MediaUri { get; set; }
    /// <summary>"channel:{id}" or "bridge:{id}".</summary>
    [JsonPropertyName("target_uri")] public string? TargetUri { get; set; }
    [JsonPropertyName("state")] public string? State { get; set; }
}

/// <summary>ARI "LiveRecording".</summary>
[JsonConverter(typeof(AriLiveRecordingConverter))]
public sealed class AriLiveRecording
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("format")] public string? Format { get; set; }
    [JsonPropertyName("state")] public string? State { get; set; }
    [JsonPropertyName("target_uri")] public string? TargetUri { get; set; }
    [JsonPropertyName("duration")] public int? Duration { get; set; }
}

/// <summary>ARI "Endpoint" (a trunk or a phone, e.g. PJSIP/carrier-a).</summary>
[JsonConverter(typeof(AriEndpointConverter))]
public sealed class AriEndpoint
{
    [JsonPropertyName("technology")] public string Technology { get; set; } = "";
    [JsonPropertyName("resource")] public string Resource { get; set; } = "";
    [JsonPropertyName("state")] public string? State { get; set; }
}

/// <summary>
/// ARI "Application": what an app is subscribed to. Ids are "PJSIP/carrier-a" for endpoints, device names for device
/// states; an app registered with subscribeAll lists the "__AST_…_ALL_TOPIC" of each kind instead.
/// </summary>
public sealed class AriApplication
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("channel_ids")] public string[] ChannelIds { get; set; } = [];
    [JsonPropertyName("bridge_ids")] public string[] BridgeIds { get; set; } = [];
    [JsonPropertyName("endpoint_ids")] public string[] EndpointIds { get; set; } = [];
    [JsonPropertyName("device_names")] public string[] DeviceNames { get; set; } = [];
}

/// <summary>ARI "ContactInfo": a SIP contact's qualify result; <c>roundtrip_usec</c> is a string on the wire.</summary>
[JsonConverter(typeof(AriContactInfoConverter))]
public sealed class AriContactInfo
{
    [JsonPropertyName("uri")] public string? Uri { get; set; }
    [JsonPropertyName("contact_status")] public string? ContactStatus { get; set; }
    [JsonPropertyName("aor")] public string? Aor { get; set; }
    [JsonPropertyName("roundtrip_usec")] public string? RoundtripUsec { get; set; }
}

/// <summary>ARI "Variable": the answer of GET …/variable.</summary>
public sealed class AriVariable
{
    [JsonPropertyName("value")] public string? Value { get; set; }
}

/// <summary>Body of an ARI error response: Asterisk uses <c>message</c> mostly and <c>error</c> for some 500s.</summary>
public sealed class AriErrorBody
{
    [JsonPropertyName("message")] public string? Message { get; set; }
    [JsonPropertyName("error")] public string? Error { get; set; }
}

/// <summary>
/// One WebSocket message. ARI has ~50 event models that share a handful of fields, so one flat class
/// holds the union of the fields the dialer reads and <see cref="Type"/> says which event it is.
/// </summary>
public sealed class AriEvent
{
    [JsonPropertyName("type")] public AriEventType Type { get; set; }
    /// <summary>When Asterisk says it happened (UTC); default when the message had none.</summary>
    [JsonPropertyName("timestamp"), JsonConverter(typeof(AriTimestampConverter))] public DateTime Timestamp { get; set; }
    [JsonPropertyName("channel")] public AriChannel? Channel { get; set; }
    /// <summary>Dial: the channel being dialed.</summary>
    [JsonPropertyName("peer")] public AriChannel? Peer { get; set; }
    /// <summary>StasisStart: the application arguments.</summary>
    [JsonPropertyName("args"), JsonConverter(typeof(StringArrayConverter))] public string[]? Args { get; set; }
    /// <summary>Q.850 cause (ChannelDestroyed, ChannelHangupRequest); absent when the far end sent BYE.</summary>
    [JsonPropertyName("cause")] public int? Cause { get; set; }
    /// <summary>SIP status behind the cause (486, 480, 503…), when there was one.</summary>
    [JsonPropertyName("tech_cause")] public int? TechCause { get; set; }
    [JsonPropertyName("soft")] public bool Soft { get; set; }
    [JsonPropertyName("dialstatus")] public DialStatus DialStatus { get; set; }
    [JsonPropertyName("bridge"), JsonConverter(typeof(AriBridgeIdConverter))] public AriBridge? Bridge { get; set; }
    [JsonPropertyName("playback")] public AriPlayback? Playback { get; set; }
    [JsonPropertyName("recording")] public AriLiveRecording? Recording { get; set; }
    [JsonPropertyName("endpoint")] public AriEndpoint? Endpoint { get; set; }
    [JsonPropertyName("contact_info")] public AriContactInfo? ContactInfo { get; set; }
    /// <summary>ChannelVarset: which variable and its new value (RTPAUDIOQOS carries the call's RTCP summary).</summary>
    [JsonPropertyName("variable")] public string? Variable { get; set; }
    [JsonPropertyName("value")] public string? Value { get; set; }
    /// <summary>ChannelDtmfReceived: the key pressed (0-9, *, #, A-D).</summary>
    [JsonPropertyName("digit")] public string? Digit { get; set; }

    /// <summary>Which Asterisk sent it (our configured server id, not parsed: the connection knows).</summary>
    [JsonIgnore] public string ServerId { get; set; } = "";

    /// <summary>The channel the event is about: <c>channel</c>, or <c>peer</c> for Dial.</summary>
    [JsonIgnore] public AriChannel? Subject => Channel ?? Peer;
}

[JsonConverter(typeof(AriEventTypeConverter))]
public enum AriEventType : byte
{
    /// <summary>A type this client does not model: kept out of the way, never an error.</summary>
    Unknown,
    StasisStart, StasisEnd,
    ChannelCreated, ChannelDestroyed, ChannelStateChange, ChannelHangupRequest, ChannelVarset,
    ChannelDialplan, ChannelCallerId, ChannelConnectedLine, ChannelDtmfReceived, ChannelHold, ChannelUnhold,
    ChannelTalkingStarted, ChannelTalkingFinished, ChannelToneDetected, ChannelUserevent,
    Dial,
    BridgeCreated, BridgeDestroyed, BridgeMerged, BridgeBlindTransfer, BridgeAttendedTransfer, BridgeVideoSourceChanged,
    ChannelEnteredBridge, ChannelLeftBridge,
    PlaybackStarted, PlaybackContinuing, PlaybackFinished,
    RecordingStarted, RecordingFinished, RecordingFailed,
    EndpointStateChange, ContactStatusChange, PeerStatusChange, DeviceStateChanged,
    ApplicationReplaced, ApplicationMoveFailed, ApplicationRegistered, ApplicationUnregistered,
    TextMessageReceived, MissingParams,
}

/// <summary>ARI channel states (Channel.state in channels.json).</summary>
[JsonConverter(typeof(ChannelStateConverter))]
public enum ChannelState : byte
{
    Unknown, Down, Rsrvd, OffHook, Dialing, Ring, Ringing, Up, Busy, DialingOffhook, PreRing,
}

/// <summary>Dial.dialstatus; <see cref="None"/> is the empty string of the first Dial event.</summary>
[JsonConverter(typeof(DialStatusConverter))]
public enum DialStatus : byte
{
    None, Ringing, Progress, Answer, Busy, NoAnswer, Congestion, ChanUnavail, Cancel, DontCall, Torture, InvalidArgs, Other,
}
