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
/// serialized under it, so every socket sees one global order. Each event goes to the Stasis apps that hear it (a channel's
/// to the app it is in and the apps subscribed to it), through <c>deliver(app, message)</c>: as on Asterisk 22, an app has
/// one WebSocket, and the app of another engine hears nothing of this one's calls.
/// </summary>
internal sealed partial class EmulatedAsterisk(EmulatorScenario scenario, TimeProvider time, Action<string, byte[]> deliver)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Chan> _channels = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Bridge> _bridges = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _liveRecordings = new(StringComparer.Ordinal); // name → bridge id
    // Every app a WebSocket ever registered (by name): Stasis() into it works from then on, until Asterisk restarts.
    private readonly Dictionary<string, StasisApp> _apps = new(StringComparer.Ordinal);
    // Global variables (POST /asterisk/variable): the dialplan reads them (DIALER_AGENT_APP_{agent}: whose app an agent's calls enter).
    private readonly Dictionary<string, string> _globals = new(StringComparer.Ordinal);
    private readonly HashSet<string> _phones = new(StringComparer.Ordinal);
    // Inter-server trunks: PJSIP endpoint name here → the Asterisk at its far end.
    private readonly Dictionary<string, EmulatedAsterisk> _links = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Format, int Seconds)> _stored = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopped = new();
    // Trunks whose carrier is gone: no SIP answer to new calls, frozen RTCP on calls up, Unreachable at the next qualify.
    private readonly HashSet<string> _deadTrunks = new(StringComparer.Ordinal);
    // PJSIP endpoints reading "offline": every trunk until its first qualify after a boot, a dead trunk once qualify noticed.
    private readonly HashSet<string> _offline = new(StringComparer.Ordinal);
    // Trunks whose last qualify failed: Asterisk no longer dials them (lab capture d: 500 "Allocation failed").
    private readonly HashSet<string> _unreachable = new(StringComparer.Ordinal);
    // The From: number of the last INVITE to each dialed number (what the carrier saw).
    private readonly Dictionary<string, string> _lastFrom = new(StringComparer.Ordinal);
    private bool _shuttingDown;
    // The apps first registered by a subscribeAll socket: they hear everything.
    private readonly List<StasisApp> _hearAll = [];
    private long _seq;
    private long _idSeq;
    private long _timerSeq;

    // Each live callee's spells in silence (answered, in the app, hearing nobody): channel id, seconds, what ended it.
    private readonly List<Silence> _silences = [];

    public EmulatorScenario Scenario => scenario;
    public long ChannelsCreated { get; private set; }
    public int ActiveChannels { get { lock (_gate) return _channels.Count; } }

    public IReadOnlyList<Silence> Silences
    {
        get { lock (_gate) return [.. _silences]; }
    }

    // Every POST /bridges/{id}/play: what was played, to whom, and whether the bridge was being recorded.
    private readonly List<BridgePlay> _bridgePlays = [];

    public IReadOnlyList<BridgePlay> BridgePlays
    {
        get { lock (_gate) return [.. _bridgePlays]; }
    }

    /// <summary>Under the lock: a callee who is a person (not a machine, not a phone or a leg) is answered and in the app, hearing nobody.</summary>
    private void SilenceStarts(Chan ch)
    {
        if (ch.Fate.Kind == FateKind.Answer && ch.Fate != Fate.Phone && !ch.FromDialplan && ch.Fate.Amd.Status != "MACHINE" && ch.SilentSince is null)
            ch.SilentSince = time.GetUtcNow();
    }

    /// <summary>Under the lock: the callee hears someone (a bridge with another channel), a message, the dialplan (AMD), or the call ends.</summary>
    private void SilenceEnds(Chan ch, SilenceEnd how)
    {
        if (ch.SilentSince is not { } since) return;
        ch.SilentSince = null;
        _silences.Add(new Silence(ch.Id, (time.GetUtcNow() - since).TotalSeconds, how));
    }

    /// <summary>How long after its /channels/create reply a channel enters Stasis (<see cref="AriEmulator.CreatedChannelsEnterStasisAfter"/>).</summary>
    public TimeSpan StasisEntryDelay { get; set; }

    /// <summary>
    /// A WebSocket registers <paramref name="app"/>: its registration number (for <see cref="Unregister"/>), and the
    /// ApplicationReplaced message for the socket that had the app until now (null when the app's filter keeps it out):
    /// Asterisk sends it there, and every later event to the new socket only.
    /// </summary>
    public (long Registration, byte[]? Replaced) RegisterApp(string app, bool subscribeAll)
    {
        lock (_gate)
        {
            if (!_apps.TryGetValue(app, out var known))
            {
                known = _apps[app] = new StasisApp(app, subscribeAll);
                if (subscribeAll) _hearAll.Add(known); // Asterisk keeps that model for the app's life, whatever connects later
            }
            var replaced = known.Registration > 0 ? Message("ApplicationReplaced", static _ => { }, known) : null;
            known.Registration = ++_registrations;
            return (known.Registration, replaced);
        }
    }

    private long _registrations;

    /// <summary>
    /// The socket of registration <paramref name="registration"/> closed while it still had the app: the app is inactive, and a
    /// channel that enters Stasis() into it now is hung up (lab cl2: Stasis into an app whose socket closed fails at once).
    /// </summary>
    public void Unregister(string app, long registration)
    {
        lock (_gate)
            if (_apps.TryGetValue(app, out var known) && known.Registration == registration) known.Registration = 0;
    }

    /// <summary>
    /// One Stasis application: what it subscribed to (POST /applications/{app}/subscription), each with how many times (Asterisk
    /// counts them, and keeps them across reconnects until it restarts), and its event type filter.
    /// </summary>
    private sealed class StasisApp(string name, bool subscribeAll)
    {
        public string Name { get; } = name;
        public bool SubscribeAll { get; } = subscribeAll;
        public Dictionary<string, int> Subscriptions { get; } = new(StringComparer.Ordinal);
        public EventFilter Filter { get; set; } = EventFilter.None;
        /// <summary>The registration of the socket that has it now; 0 while none has (channels cannot enter it then).</summary>
        public long Registration { get; set; }
        /// <summary>What closes each of its messages: <c>,"application":NAME}</c>.</summary>
        public byte[] Tail { get; } = System.Text.Encoding.UTF8.GetBytes($",\"application\":{JsonSerializer.Serialize(name)}}}");
    }

    /// <summary>
    /// Runs <paramref name="action"/> under the lock after <paramref name="seconds"/> (scaled), unless the channel is gone.
    /// A channel's actions run in due order even when the process stalls past several of them at once (a ring
    /// timeout must never overtake the ringing it ends). Called under the lock.
    /// </summary>
    private void After(double seconds, Chan ch, Action action) => AfterUnscaled(TimeSpan.FromSeconds(seconds * scenario.TimeScale), ch, action);

    /// <summary><see cref="After"/> with a delay in the emulator's time as it is, not scaled (Asterisk's own timings).</summary>
    private void AfterUnscaled(TimeSpan delay, Chan ch, Action action)
    {
        // At least 1 ms: a zero delay would complete inline, inside the lock, before the REST reply is built.
        delay = TimeSpan.FromTicks(Math.Max(delay.Ticks, TimeSpan.TicksPerMillisecond));
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


    // ---- world objects ------------------------------------------------------------------------------

    private enum FateKind : byte { Answer, Busy, NoAnswer, Congestion, BadNumber, Linked, DeadPeer }

    /// <summary>What the far end does: ring this long then answer, hang up after talking, what AMD will decide.</summary>
    private sealed record Fate(FateKind Kind, double RingSeconds, double? TalkSeconds, (string Status, string Cause, double Seconds) Amd)
    {
        /// <summary>An agent phone: answers at once, stays up until hung up.</summary>
        public static readonly Fate Phone = new(FateKind.Answer, 0.005, null, ("HUMAN", "HUMAN-800-800", 1.8));
        /// <summary>A call over an inter-server trunk: the other Asterisk answers it into its dialplan.</summary>
        public static readonly Fate Linked = new(FateKind.Linked, 0.005, null, ("", "", 0));
        public static readonly Fate Busied = new(FateKind.Busy, 0, null, ("", "", 0));
        public static readonly Fate Congested = new(FateKind.Congestion, 0, null, ("", "", 0));
        /// <summary>A carrier that is gone: no SIP response at all, not even 100 Trying.</summary>
        public static readonly Fate DeadPeer = new(FateKind.DeadPeer, 0, null, ("", "", 0));
    }

    private sealed class Chan(string id, string name, string resource, string number, string app, string appArgs, bool createdInStasis)
    {
        public string Id { get; } = id;
        public string Name { get; } = name;
        public string Resource { get; } = resource;
        public string Number { get; } = number;
        /// <summary>The app it belongs to: the one it was created in, or entered Stasis with from the dialplan.</summary>
        public string App { get; set; } = app;
        /// <summary>Apps subscribed to it (eventSource channel:{id}): they hear its events wherever it is.</summary>
        public HashSet<StasisApp> Watchers { get; } = [];
        public string AppArgs { get; } = appArgs;
        public bool CreatedInStasis { get; } = createdInStasis;
        /// <summary>It reached the app from the dialplan (Stasis() in extensions.conf), not through ARI: subscribed only while in Stasis.</summary>
        public bool FromDialplan { get; init; }
        public string ProtocolId { get; } = Guid.NewGuid().ToString();
        public string CreationTime { get; } = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);
        public string State { get; set; } = "Down";
        public DateTimeOffset? UpSince { get; set; }
        public uint Ssrc { get; } = (uint)Random.Shared.Next();
        /// <summary>The other end of an inter-server call: hanging up one side hangs up the other.</summary>
        public (EmulatedAsterisk World, string Id)? PeerLink { get; set; }
        public string CallerNumber { get; set; } = "";
        /// <summary>The connected line: what PJSIP sends the carrier as From:.</summary>
        public string ConnectedName { get; set; } = "";
        public string ConnectedNumber { get; set; } = "";
        /// <summary>When its carrier died: its RTCP figures stay as they were then.</summary>
        public DateTimeOffset? FrozenAt { get; set; }
        public string DialString { get; set; } = "";
        public bool Dialed { get; set; }
        public bool InStasis { get; set; }
        public Bridge? Bridge { get; set; }
        /// <summary>Since when the callee, answered and in the app, hears nobody (null: not silent).</summary>
        public DateTimeOffset? SilentSince { get; set; }
        public required Fate Fate { get; init; }
        public Dictionary<string, string> Vars { get; } = new(StringComparer.Ordinal);
        public SortedList<(DateTimeOffset Due, long Seq), Action> Pending { get; } = [];
        /// <summary>Playbacks on this channel now (id → media), and how often each media has been heard (the callee's answers).</summary>
        public Dictionary<string, string> Playing { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, int> Heard { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Bridge(string id, string type, string name)
    {
        public string Id { get; } = id;
        public string Type { get; } = type;
        public string Name { get; } = name;
        public string CreationTime { get; } = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+0000'", CultureInfo.InvariantCulture);
        public bool Announced { get; set; }
        public List<string> Channels { get; } = [];
        /// <summary>Apps that hear the bridge: those that put a channel in it, and those subscribed to it (bridge:{id}).</summary>
        public HashSet<StasisApp> Watchers { get; } = [];
        public Dictionary<string, DateTimeOffset> RecordingStartedAt { get; } = new(StringComparer.Ordinal);
    }
}

/// <summary>What ended a live callee's silence: an agent (a bridge with another channel), a message, the dialplan (AMD), the call's end.</summary>
public enum SilenceEnd : byte { Agent, Message, Dialplan, HungUp }

/// <summary>A spell a live callee spent answered, in the app, hearing nobody; <see cref="Seconds"/> long, ended by <see cref="How"/>.</summary>
public readonly record struct Silence(string ChannelId, double Seconds, SilenceEnd How);

/// <summary>A playback into a bridge: its media, the channels in the bridge then, and whether a recording of the bridge was running.</summary>
public sealed record BridgePlay(string BridgeId, string Media, IReadOnlyList<string> Channels, bool Recorded);

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
