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
[JsonSerializable(typeof(AriEndpoint[]))]
[JsonSerializable(typeof(AriVariable))]
[JsonSerializable(typeof(AriErrorBody))]
[JsonSerializable(typeof(Dictionary<string, string>))]
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
