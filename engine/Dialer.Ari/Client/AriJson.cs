using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Dialer.Ari.Client;

/// <summary>Source-generated (reflection-free) JSON metadata for every ARI model the client reads.</summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(AriEvent))]
[JsonSerializable(typeof(AriChannel))]
[JsonSerializable(typeof(AriChannel[]))]
[JsonSerializable(typeof(AriBridge))]
[JsonSerializable(typeof(AriBridge[]))]
[JsonSerializable(typeof(AriPlayback))]
[JsonSerializable(typeof(AriLiveRecording))]
[JsonSerializable(typeof(AriVariable))]
[JsonSerializable(typeof(AriEndpoint))]
[JsonSerializable(typeof(AriErrorBody))]
[JsonSerializable(typeof(AriApplication))]
internal sealed partial class AriJsonContext : JsonSerializerContext;

/// <summary>Parses one WebSocket message. Malformed input gives null (the caller counts it), never an exception.</summary>
public static class AriEventParser
{
    public static AriEvent? Parse(ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            return JsonSerializer.Deserialize(utf8Json, AriJsonContext.Default.AriEvent);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// Maps a JSON string to an enum by its wire name without allocating a string: the UTF-8 value is decoded
/// into a stack buffer and looked up through the frozen dictionary's span lookup. Unknown names give default (Unknown).
/// </summary>
public abstract class WireNameConverter<T> : JsonConverter<T> where T : struct, Enum
{
    private readonly FrozenDictionary<string, T> _byName;
    private readonly FrozenDictionary<string, T>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _names;
    private readonly T _unknown;

    protected WireNameConverter(IEnumerable<(string Wire, T Value)> names, T unknown = default)
    {
        _unknown = unknown;
        _byName = names.ToFrozenDictionary(n => n.Wire, n => n.Value, StringComparer.Ordinal);
        _lookup = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
        _names = new string[Enum.GetValues<T>().Length];
        foreach (var (wire, value) in _byName) _names[Convert.ToInt32(value)] = wire;
    }

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String) return _unknown;
        Span<char> buf = stackalloc char[64];
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (length > buf.Length) return _unknown;
        var n = reader.CopyString(buf);
        return _lookup.TryGetValue(buf[..n], out var v) ? v : _unknown;
    }

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
        writer.WriteStringValue(_names[Convert.ToInt32(value)] ?? "");

    /// <summary>Wire name = the enum name (for types where ARI uses the C# spelling).</summary>
    protected static IEnumerable<(string, T)> ByEnumName(params T[] skip) =>
        Enum.GetValues<T>().Where(v => !skip.Contains(v)).Select(v => (v.ToString(), v));
}

public sealed class AriEventTypeConverter() : WireNameConverter<AriEventType>(ByEnumName(AriEventType.Unknown));

public sealed class ChannelStateConverter() : WireNameConverter<ChannelState>(
[
    ("Down", ChannelState.Down), ("Rsrvd", ChannelState.Rsrvd), ("OffHook", ChannelState.OffHook),
    ("Dialing", ChannelState.Dialing), ("Ring", ChannelState.Ring), ("Ringing", ChannelState.Ringing),
    ("Up", ChannelState.Up), ("Busy", ChannelState.Busy), ("Dialing Offhook", ChannelState.DialingOffhook),
    ("Pre-ring", ChannelState.PreRing), ("Unknown", ChannelState.Unknown),
]);

public sealed class DialStatusConverter() : WireNameConverter<DialStatus>(
[
    ("", DialStatus.None), ("RINGING", DialStatus.Ringing), ("PROGRESS", DialStatus.Progress), ("ANSWER", DialStatus.Answer),
    ("BUSY", DialStatus.Busy), ("NOANSWER", DialStatus.NoAnswer), ("CONGESTION", DialStatus.Congestion),
    ("CHANUNAVAIL", DialStatus.ChanUnavail), ("CANCEL", DialStatus.Cancel), ("DONTCALL", DialStatus.DontCall),
    ("TORTURE", DialStatus.Torture), ("INVALIDARGS", DialStatus.InvalidArgs),
], DialStatus.Other);

/// <summary>
/// Reads the nested objects of events (channel, peer, bridge, playback...) by hand. STJ's object converter
/// pushes a read-stack frame per nested object, which allocates a frame array on every event (~460 bytes);
/// this way an event costs only its own objects and strings. Unmodelled fields are skipped.
/// </summary>
public abstract class FlatObjectConverter<T> : JsonConverter<T> where T : class, new()
{
    private readonly (byte[] Name, Action<T, string> Set)[] _strings;

    protected FlatObjectConverter(params (string Name, Action<T, string> Set)[] strings) =>
        _strings = [.. strings.Select(p => (System.Text.Encoding.UTF8.GetBytes(p.Name), p.Set))];

    public override T? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException($"{typeof(T).Name}: expected an object");
        var value = new T();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (ReadString(ref reader, value) || ReadOther(ref reader, value)) continue;
            reader.Read();
            reader.Skip();
        }
        return value;
    }

    private bool ReadString(ref Utf8JsonReader reader, T value)
    {
        foreach (var (name, set) in _strings)
        {
            if (!reader.ValueTextEquals(name)) continue;
            reader.Read();
            if (reader.TokenType == JsonTokenType.String) set(value, reader.GetString()!);
            else reader.Skip();
            return true;
        }
        return false;
    }

    /// <summary>At a property name that is not a plain string field: read its value and return true if it is modelled.</summary>
    protected virtual bool ReadOther(ref Utf8JsonReader reader, T value) => false;

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
        throw new NotSupportedException($"{typeof(T).Name} is read-only: the dialer never sends it");
}

public sealed class AriChannelConverter() : FlatObjectConverter<AriChannel>(("id", (c, v) => c.Id = v))
{
    private static readonly ChannelStateConverter States = new();

    protected override bool ReadOther(ref Utf8JsonReader reader, AriChannel value)
    {
        if (!reader.ValueTextEquals("state"u8)) return false;
        reader.Read();
        value.State = States.Read(ref reader, typeof(ChannelState), JsonSerializerOptions.Default);
        return true;
    }
}

/// <summary>A bridge in a REST answer: its id and the channels in it (what reconciliation reads to take calls and agent lines back).</summary>
public sealed class AriBridgeConverter() : FlatObjectConverter<AriBridge>(("id", (b, v) => b.Id = v))
{
    protected override bool ReadOther(ref Utf8JsonReader reader, AriBridge value)
    {
        if (!reader.ValueTextEquals("channels"u8)) return false;
        reader.Read();
        value.Channels = Strings.Read(ref reader, typeof(string[]), JsonSerializerOptions.Default) ?? [];
        return true;
    }

    private static readonly StringArrayConverter Strings = new();
}

/// <summary>A bridge in an event: its id only (the event path allocates nothing for the member list it skips).</summary>
public sealed class AriBridgeIdConverter() : FlatObjectConverter<AriBridge>(("id", (b, v) => b.Id = v));

public sealed class AriPlaybackConverter() : FlatObjectConverter<AriPlayback>(
    ("id", (p, v) => p.Id = v), ("media_uri", (p, v) => p.MediaUri = v), ("target_uri", (p, v) => p.TargetUri = v), ("state", (p, v) => p.State = v));

public sealed class AriLiveRecordingConverter() : FlatObjectConverter<AriLiveRecording>(
    ("name", (r, v) => r.Name = v), ("format", (r, v) => r.Format = v), ("state", (r, v) => r.State = v), ("target_uri", (r, v) => r.TargetUri = v))
{
    protected override bool ReadOther(ref Utf8JsonReader reader, AriLiveRecording value)
    {
        if (!reader.ValueTextEquals("duration"u8)) return false;
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number) value.Duration = reader.GetInt32();
        return true;
    }
}

public sealed class AriEndpointConverter() : FlatObjectConverter<AriEndpoint>(
    ("technology", (e, v) => e.Technology = v), ("resource", (e, v) => e.Resource = v), ("state", (e, v) => e.State = v));

public sealed class AriContactInfoConverter() : FlatObjectConverter<AriContactInfo>(
    ("uri", (c, v) => c.Uri = v), ("contact_status", (c, v) => c.ContactStatus = v), ("aor", (c, v) => c.Aor = v), ("roundtrip_usec", (c, v) => c.RoundtripUsec = v));

/// <summary>StasisStart args: a string array read without the collection converter's stack frame and growing list.</summary>
public sealed class StringArrayConverter : JsonConverter<string[]>
{
    [ThreadStatic] private static List<string>? _scratch;

    public override string[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null) return null;
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("args: expected an array");
        var list = _scratch ??= new List<string>(8);
        list.Clear();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            list.Add(reader.TokenType == JsonTokenType.String ? reader.GetString()! : "");
        return list.Count == 0 ? [] : [.. list];
    }

    public override void Write(Utf8JsonWriter writer, string[] value, JsonSerializerOptions options) =>
        throw new NotSupportedException("args are read-only");
}

/// <summary>
/// ARI's event time, "2026-11-21T19:27:32.494+0000" (milliseconds, offset without a colon), read from the UTF-8 bytes
/// into UTC without a string. Anything else gives default: a bad timestamp never loses the event.
/// </summary>
public sealed class AriTimestampConverter : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.String || reader.HasValueSequence) return default;
        if (!reader.ValueIsEscaped) return TryParse(reader.ValueSpan, out var utc) ? utc : default;
        // Escaped is valid JSON ("+0000" as "\u002B0000": System.Text.Json's writer, so the emulator, escapes '+'): read it
        // unescaped into the stack. Missed, every event of such a sender had no time, and the 2 s ran from arrival.
        Span<byte> plain = stackalloc byte[64];
        return reader.ValueSpan.Length <= plain.Length && TryParse(plain[..reader.CopyString(plain)], out var unescaped) ? unescaped : default;
    }

    public static bool TryParse(ReadOnlySpan<byte> s, out DateTime utc)
    {
        utc = default;
        // yyyy-MM-ddTHH:mm:ss[.fff…]±hhmm
        if (s.Length < 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return false;
        if (!Num(s, 0, 4, out var y) || !Num(s, 5, 2, out var mo) || !Num(s, 8, 2, out var d)
            || !Num(s, 11, 2, out var h) || !Num(s, 14, 2, out var mi) || !Num(s, 17, 2, out var sec)) return false;
        var i = 19;
        long ticks = 0;
        if (s[i] == '.')
        {
            var scale = TimeSpan.TicksPerSecond;
            for (i++; i < s.Length && s[i] is >= (byte)'0' and <= (byte)'9'; i++)
                if ((scale /= 10) > 0) ticks += (s[i] - '0') * scale;
        }
        if (s.Length - i != 5 || s[i] is not ((byte)'+' or (byte)'-') || !Num(s, i + 1, 2, out var oh) || !Num(s, i + 3, 2, out var om)) return false;
        if (mo is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59) return false;
        var offset = new TimeSpan(oh, om, 0);
        utc = new DateTime(y, mo, d, h, mi, sec, DateTimeKind.Utc).AddTicks(ticks) - (s[i] == '+' ? offset : -offset);
        return true;
    }

    private static bool Num(ReadOnlySpan<byte> s, int at, int digits, out int value)
    {
        value = 0;
        for (var k = at; k < at + digits; k++)
        {
            if (s[k] is < (byte)'0' or > (byte)'9') return false;
            value = value * 10 + (s[k] - '0');
        }
        return true;
    }

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        throw new NotSupportedException("timestamps are read-only");
}
