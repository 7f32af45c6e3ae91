using System.Text;
using System.Text.Json;
using Dialer.Ari.Client;

namespace Dialer.Ari.Tests;

public class ParsingTests
{
    public static TheoryData<string> FixtureFiles() => [.. Fixtures.Files];

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Every_captured_event_parses_with_its_key_fields(string file)
    {
        var events = Fixtures.Load(file).Where(r => r.GetProperty("kind").GetString() == "event").Select(r => r.GetProperty("event")).ToList();
        foreach (var raw in events)
        {
            var e = AriEventParser.Parse(Encoding.UTF8.GetBytes(raw.GetRawText()));
            Assert.NotNull(e);
            var type = raw.GetProperty("type").GetString()!;
            Assert.Equal(type, e.Type.ToString());
            // "peer" is the dialed channel of a Dial, but a PeerStatusChange's peer is a SIP peer's status.
            var chan = raw.TryGetProperty("channel", out var c) ? c : type == "Dial" && raw.TryGetProperty("peer", out var p) ? p : default;
            // Asterisk's time of the event, to the millisecond, in UTC (it drives the 2 s rule from the answer).
            var stamp = DateTimeOffset.ParseExact(raw.GetProperty("timestamp").GetString()!, "yyyy-MM-dd'T'HH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(stamp.UtcDateTime, e.Timestamp);
            Assert.Equal(DateTimeKind.Utc, e.Timestamp.Kind);
            if (chan.ValueKind == JsonValueKind.Object)
            {
                Assert.Equal(chan.GetProperty("id").GetString(), e.Subject!.Id);
                Assert.Equal(chan.GetProperty("state").GetString()!.Replace(" ", "").Replace("-", ""), e.Subject.State.ToString(), ignoreCase: true);
            }
            Assert.Equal(raw.TryGetProperty("cause", out var cause) ? cause.GetInt32() : null, e.Cause);
            Assert.Equal(raw.TryGetProperty("tech_cause", out var tech) ? tech.GetInt32() : null, e.TechCause);
            if (raw.TryGetProperty("dialstatus", out var ds))
                Assert.Equal(ds.GetString(), e.DialStatus == DialStatus.None ? "" : e.DialStatus.ToString().ToUpperInvariant());
            if (raw.TryGetProperty("args", out var args))
                Assert.Equal(args.EnumerateArray().Select(a => a.GetString()), e.Args!);
            if (raw.TryGetProperty("bridge", out var bridge)) Assert.Equal(bridge.GetProperty("id").GetString(), e.Bridge!.Id);
            if (raw.TryGetProperty("playback", out var pb)) Assert.Equal(pb.GetProperty("id").GetString(), e.Playback!.Id);
            if (raw.TryGetProperty("recording", out var rec)) Assert.Equal(rec.GetProperty("name").GetString(), e.Recording!.Name);
        }
    }

    /// <summary>JSON may escape any character: System.Text.Json's writer (the emulator's) sends "+0000" as "\u002B0000".</summary>
    [Fact]
    public void An_escaped_timestamp_still_gives_the_events_time()
    {
        var e = AriEventParser.Parse("""{"type":"ChannelDestroyed","timestamp":"2026-12-01T21:15:03.456\u002B0000","cause":16}"""u8);
        Assert.Equal(new DateTime(2026, 12, 1, 21, 15, 3, 456, DateTimeKind.Utc), e!.Timestamp);
    }

    [Fact]
    public void Captured_rest_bodies_parse_into_the_models()
    {
        var checkedBodies = 0;
        foreach (var file in Fixtures.Files)
            foreach (var r in Fixtures.Load(file).Where(r => r.GetProperty("kind").GetString() == "rest"))
            {
                var resp = r.GetProperty("response");
                if (!resp.TryGetProperty("body", out var body) || body.ValueKind == JsonValueKind.Null || resp.GetProperty("status").ValueKind != JsonValueKind.Number) continue;
                var path = r.GetProperty("path").GetString()!;
                var status = resp.GetProperty("status").GetInt32();
                var json = Encoding.UTF8.GetBytes(body.GetRawText());
                if (status >= 400)
                {
                    var err = JsonSerializer.Deserialize(json, AriJsonContext.Default.AriErrorBody)!;
                    Assert.False(string.IsNullOrEmpty(err.Message ?? err.Error), $"{path}: error body without message/error");
                }
                else if (path == "/ari/channels" && r.GetProperty("method").GetString() == "GET")
                    Assert.All(JsonSerializer.Deserialize(json, AriJsonContext.Default.AriChannelArray)!, c => Assert.NotEmpty(c.Id));
                else if (path.StartsWith("/ari/channels") && path.EndsWith("/variable"))
                    Assert.NotNull(JsonSerializer.Deserialize(json, AriJsonContext.Default.AriVariable)!.Value);
                else if (path.StartsWith("/ari/channels") && r.GetProperty("method").GetString() == "POST" && !path.Contains("/play"))
                    Assert.Equal(body.GetProperty("id").GetString(), JsonSerializer.Deserialize(json, AriJsonContext.Default.AriChannel)!.Id);
                else if (path == "/ari/bridges" && body.ValueKind == JsonValueKind.Array)
                    Assert.Equal(body.EnumerateArray().Select(b => b.GetProperty("channels").EnumerateArray().Select(c => c.GetString()!).ToArray()),
                        JsonSerializer.Deserialize(json, AriJsonContext.Default.AriBridgeArray)!.Select(b => b.Channels));
                else if (path == "/ari/bridges" || path.StartsWith("/ari/bridges/") && body.TryGetProperty("bridge_type", out _))
                {
                    var bridge = JsonSerializer.Deserialize(json, AriJsonContext.Default.AriBridge)!;
                    Assert.Equal(body.GetProperty("id").GetString(), bridge.Id);
                    Assert.Equal(body.GetProperty("channels").EnumerateArray().Select(c => c.GetString()), bridge.Channels); // who is in it: recovery reads this
                }
                else if (path.EndsWith("/play"))
                    Assert.Equal(body.GetProperty("id").GetString(), JsonSerializer.Deserialize(json, AriJsonContext.Default.AriPlayback)!.Id);
                else if (path.EndsWith("/record") || path.StartsWith("/ari/recordings/live/"))
                    Assert.Equal(body.GetProperty("name").GetString(), JsonSerializer.Deserialize(json, AriJsonContext.Default.AriLiveRecording)!.Name);
                else continue;
                checkedBodies++;
            }
        Assert.True(checkedBodies > 40, $"only {checkedBodies} REST bodies checked");
    }

    /// <summary>A REST bridge says who is in it (recovery takes calls and agent lines back from it); an event's bridge skips that list, allocating nothing for it.</summary>
    [Fact]
    public void Bridge_members_are_read_from_rest_answers_and_skipped_in_events()
    {
        var rest = JsonSerializer.Deserialize("""{"id":"b1","bridge_type":"mixing","channels":["dialer-n-c-agent-a1-","dialer-n-c-call-7-"],"name":""}"""u8,
            AriJsonContext.Default.AriBridge)!;
        Assert.Equal(["dialer-n-c-agent-a1-", "dialer-n-c-call-7-"], rest.Channels);
        var members = string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"dialer-n-c-call-{i}-\""));
        var full = Encoding.UTF8.GetBytes($$$"""{"type":"ChannelEnteredBridge","timestamp":"2026-12-01T10:00:00.000+0000","bridge":{"id":"b1","channels":[{{{members}}}]},"channel":{"id":"c1","state":"Up"}}""");
        var bare = Encoding.UTF8.GetBytes("""{"type":"ChannelEnteredBridge","timestamp":"2026-12-01T10:00:00.000+0000","bridge":{"id":"b1","channels":[]},"channel":{"id":"c1","state":"Up"}}""");
        var e = AriEventParser.Parse(full)!;
        Assert.Equal("b1", e.Bridge!.Id);
        Assert.Empty(e.Bridge.Channels);
        AriEventParser.Parse(bare);
        var before = GC.GetAllocatedBytesForCurrentThread();
        AriEventParser.Parse(bare);
        var withoutMembers = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        AriEventParser.Parse(full);
        Assert.Equal(withoutMembers, GC.GetAllocatedBytesForCurrentThread() - before); // 40 members cost the event path nothing
    }

    [Fact]
    public void Unknown_types_and_fields_never_break_parsing()
    {
        var e = AriEventParser.Parse("""{"type":"ChannelFutureThing","new_field":{"deep":[1,2,{"x":null}]},"channel":{"id":"c1","state":"Up","brand_new":true}}"""u8);
        Assert.NotNull(e);
        Assert.Equal(AriEventType.Unknown, e.Type);
        Assert.Equal("c1", e.Channel!.Id);
        var odd = AriEventParser.Parse("""{"type":"Dial","dialstatus":"SOMETHING_NEW","peer":{"id":"p","state":"Weird state"}}"""u8)!;
        Assert.Equal(DialStatus.Other, odd.DialStatus);
        Assert.Equal(ChannelState.Unknown, odd.Peer!.State);
        Assert.Null(AriEventParser.Parse("""{"type":"StasisStart","channel":"""u8));
        Assert.Null(AriEventParser.Parse("not json"u8));
    }

    /// <summary>Every wire name our models read exists in Asterisk's swagger models (ari-spec), so a typo cannot hide.</summary>
    [SpecFact]
    public void Model_property_names_agree_with_the_ari_spec()
    {
        var specDir = Fixtures.SpecDir!;
        var models = new Dictionary<string, HashSet<string>>();
        foreach (var f in Directory.EnumerateFiles(specDir, "*.json"))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(f));
            if (!doc.RootElement.TryGetProperty("models", out var ms)) continue;
            foreach (var m in ms.EnumerateObject())
                models[m.Name] = [.. m.Value.GetProperty("properties").EnumerateObject().Select(p => p.Name)];
        }
        var eventProps = models.Where(m => m.Key != "Channel").SelectMany(m => m.Value).ToHashSet();
        var map = new Dictionary<Type, IReadOnlySet<string>>
        {
            [typeof(AriChannel)] = models["Channel"],
            [typeof(AriBridge)] = models["Bridge"],
            [typeof(AriPlayback)] = models["Playback"],
            [typeof(AriLiveRecording)] = models["LiveRecording"],
            [typeof(AriEndpoint)] = models["Endpoint"],
            [typeof(AriContactInfo)] = models["ContactInfo"],
            [typeof(AriVariable)] = models["Variable"],
            [typeof(AriEvent)] = eventProps,
        };
        foreach (var (type, props) in map)
            foreach (var p in type.GetProperties())
                if (p.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonPropertyNameAttribute), false).FirstOrDefault() is System.Text.Json.Serialization.JsonPropertyNameAttribute a)
                    Assert.True(props.Contains(a.Name), $"{type.Name}.{p.Name}: '{a.Name}' is not in the ARI spec");
    }
}
