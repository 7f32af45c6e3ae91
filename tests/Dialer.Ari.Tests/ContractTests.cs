using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Dialer.Emulator;

namespace Dialer.Ari.Tests;

/// <summary>
/// Replays each captured scenario's REST requests against the emulator, in the captured order and after the
/// same number of events, and checks the emulator answers with the same key events (types, states, causes,
/// dial statuses, args) and the same statuses and error messages as Asterisk 22.10.1 did.
/// </summary>
public class ContractTests
{
    // Events that carry no call-control meaning and whose count depends on the lab (device states, dialplan steps, noise variables).
    private static readonly HashSet<string> Noise = ["DeviceStateChanged", "ChannelDialplan", "ChannelConnectedLine", "ChannelCallerId"];

    [Theory]
    [InlineData("a_answered_app_hangup.jsonl")]
    [InlineData("b_busy_486.jsonl")]
    [InlineData("c_ring_no_answer_timeout5.jsonl")]
    [InlineData("c2_ringing_app_cancel.jsonl")]
    [InlineData("d_unavailable_503.jsonl")]
    [InlineData("e_bridge_agent_far_end_hangup.jsonl")]
    [InlineData("f_vars_rtcp_endpoints_recording.jsonl")]
    [InlineData("g_errors.jsonl")]
    [InlineData("g2_ws_close_on_asterisk_stop.jsonl")]
    [InlineData("h_amd_via_continue_silence.jsonl")]
    [InlineData("h2_amd_human.jsonl")]
    [InlineData("h3_amd_machine.jsonl")]
    public async Task Emulator_reproduces_the_capture(string file)
    {
        var records = Fixtures.Load(file);
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.02 });
        using var http = new HttpClient { BaseAddress = new Uri(emu.BaseUri, "/") };
        var good = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("dialer:dialer"u8.ToArray()));
        var bad = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("dialer:wrong"u8.ToArray()));

        var expected = records.Where(r => Kind(r) == "event").Select(r => r.GetProperty("event")).Where(IsKey).ToList();
        var got = new ConcurrentQueue<JsonElement>();
        using var anyMessage = new ManualResetEventSlim();
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", good.ToString());
        var opened = false;
        Task<bool>? reader = null;
        var ids = new Dictionary<string, string>(); // captured Asterisk-assigned channel id → the emulator's

        var keyEventsSoFar = 0;
        foreach (var r in records)
        {
            if (Kind(r) == "event" && IsKey(r.GetProperty("event"))) keyEventsSoFar++;
            switch (Kind(r))
            {
                case "ws" when r.GetProperty("what").GetString() == "open" && !opened:
                    await ws.ConnectAsync(new Uri($"ws://{emu.BaseUri.Authority}/ari/events?app=dialer&subscribeAll=true"), CancellationToken.None);
                    reader = Task.Run(() => ReadAll(ws, got, anyMessage)); // off xunit's two-thread context
                    opened = true;
                    emu.SendRaw("""{"type":"TestHello"}""");
                    await WaitFor(() => anyMessage.IsSet, $"{file}: the events socket works (sockets {emu.ConnectedSockets}, reader {reader.Status})");
                    break;
                case "ws" when r.GetProperty("what").GetString() == "handshake_failed":
                    using (var badWs = new ClientWebSocket())
                    {
                        badWs.Options.SetRequestHeader("Authorization", bad.ToString());
                        badWs.Options.CollectHttpResponseDetails = true;
                        await Assert.ThrowsAsync<WebSocketException>(() => badWs.ConnectAsync(new Uri($"ws://{emu.BaseUri.Authority}/ari/events?app=dialer"), CancellationToken.None));
                        Assert.Equal(401, (int)badWs.HttpStatusCode);
                    }
                    break;
                case "ws" when r.GetProperty("what").GetString() == "note" && r.GetProperty("detail").GetString()!.Contains("core stop now"):
                    var seen = keyEventsSoFar;
                    await WaitFor(() => got.Count >= seen, $"{file}: {seen} key events before core stop, got {got.Count}");
                    await emu.StopNowAsync();
                    break;
                case "rest":
                    var before = keyEventsSoFar;
                    await WaitFor(() => got.Count >= before, $"{file}: {before} key events before {Describe(r)}, got {got.Count} (emulator: {emu.ChannelsCreated} channels, {emu.EventsEmitted} events emitted)");
                    var resp = r.GetProperty("response");
                    if (resp.GetProperty("status").ValueKind == JsonValueKind.Null) break; // Asterisk was down: nothing to compare
                    var (status, body) = await Send(http, r, ids, r.TryGetProperty("auth", out _) ? bad : good);
                    Assert.True(resp.GetProperty("status").GetInt32() == status, $"{file}: {Describe(r)} → {status}, Asterisk said {resp.GetProperty("status")}");
                    CompareBody(file, r, resp.GetProperty("body"), body, ids);
                    break;
            }
        }
        await WaitFor(() => got.Count >= expected.Count || reader!.IsFaulted,
            $"{file}: expected {expected.Count} key events, got {got.Count} (emulator: {emu.ChannelsCreated} channels, {emu.EventsEmitted} events emitted)");
        if (reader!.IsFaulted) await reader; // surface the reader's failure
        await Task.Delay(50); // nothing extra may follow
        Assert.Equal(Canonical(expected), Canonical(got.ToList()));
        if (file.StartsWith("g2"))
            Assert.False(await reader!, "core stop now must drop the socket without a close frame");
    }

    /// <summary>
    /// The lab's captures of what the emulator hid (issue 11): their requests are replayed at the captured pace (scaled)
    /// with the lab's actions (a carrier killed, a graceful stop begun) done to the emulator at the same moment, and every
    /// answer must carry Asterisk's status and error message: 409 for an id that is the start of a live one, 500
    /// "Allocation failed" during shutdown and for an unreachable trunk, 404 once rtp_timeout ended a dead call.
    /// </summary>
    [Theory]
    // The pace is a fraction of the lab's: the emulator's own timers (rtp_timeout, qualify) run on the wall clock, so the
    // replay's lateness on a loaded machine must stay small beside them. Capture d polls RTCP 10 times a second for 90 s:
    // at 1/50 a machine at load 50 fell seconds behind it and met the scaled rtp_timeout (1.2 s) early.
    [InlineData("lab/a_prefix_conflict.jsonl", 0.05)]
    [InlineData("lab/b_callerid_from.jsonl", 0.05)]
    [InlineData("lab/d_frozen_rtcp_dead_peer.jsonl", 0.2)]
    [InlineData("lab/e_shutdown_refusal.jsonl", 0.05)]
    [InlineData("lab/f_dead_peer_no_response.jsonl", 0.05)]
    [InlineData("lab/j_rtcp_sequence_jumps_rtp_loop.jsonl", 0.05)]
    public async Task Emulator_answers_the_lab_requests_as_asterisk_did(string file, double scale)
    {
        var records = Fixtures.Load(file);
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = scale, RtpTimeoutSeconds = 60 });
        using var http = new HttpClient { BaseAddress = new Uri(emu.BaseUri, "/") };
        var good = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("dialer:dialer"u8.ToArray()));
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", good.ToString());
        await ws.ConnectAsync(new Uri($"ws://{emu.BaseUri.Authority}/ari/events?app=dialer&subscribeAll=true"), CancellationToken.None);
        var drain = Task.Run(() => ReadAll(ws, new ConcurrentQueue<JsonElement>(), new ManualResetEventSlim()));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var late = TimeSpan.Zero; // a slow machine shifts the replay instead of squeezing the gaps after a lab action
        var ids = new Dictionary<string, string>();
        foreach (var r in records)
        {
            var due = TimeSpan.FromMilliseconds(r.GetProperty("t_ms").GetDouble() * scale) + late;
            var wait = due - clock.Elapsed; // read once: a second read can be past due and make the delay negative
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            else late -= wait;
            switch (Kind(r))
            {
                case "ws" when r.GetProperty("what").GetString() == "note":
                    var note = r.GetProperty("detail").GetString()!;
                    if (note.Contains("core stop gracefully")) emu.BeginShutdown();
                    else if (note.Contains("kill -9 of the carrier-a")) emu.KillTrunk("carrier-a");
                    else if (note.Contains("carrier-b sipp stopped")) emu.KillTrunk("carrier-b");
                    break;
                case "event" when r.GetProperty("event").GetProperty("type").GetString() == "ContactStatusChange"
                                  && r.GetProperty("event").GetProperty("contact_info").GetProperty("contact_status").GetString() == "Unreachable":
                    emu.EmitQualify(); // the lab's qualify noticed the dead carrier here
                    break;
                case "rest":
                    var resp = r.GetProperty("response");
                    if (resp.GetProperty("status").ValueKind == JsonValueKind.Null) break;
                    var (status, body) = await Send(http, r, ids, good);
                    Assert.True(resp.GetProperty("status").GetInt32() == status, $"{file}: {Describe(r)} at {r.GetProperty("t_ms")} ms → {status}, Asterisk said {resp.GetProperty("status")}");
                    foreach (var key in new[] { "message", "error" })
                        if (resp.GetProperty("body") is { ValueKind: JsonValueKind.Object } captured && captured.TryGetProperty(key, out var v))
                            Assert.True(body.ValueKind == JsonValueKind.Object && body.TryGetProperty(key, out var w) && w.GetString() == v.GetString(),
                                $"{file}: {Describe(r)}: '{key}' should be '{v}', emulator sent {body}");
                    break;
            }
        }
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await drain.WaitAsync(TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// Lab capture l: Asterisk answers /channels/create before the channel is in Stasis. Requests sent at once on the new
    /// channel were refused "Channel not in Stasis application" (409 for /variable and /dial, 422 for /bridges/{id}/addChannel);
    /// the same requests sent once its StasisStart had come were done. The emulator whose created channels enter Stasis a
    /// moment after the reply answers each as Asterisk did: the refused ones at once, the others after its StasisStart.
    /// </summary>
    [Fact]
    public async Task Emulator_refuses_requests_on_a_created_channel_until_it_is_in_stasis_as_asterisk_did()
    {
        const string file = "lab/l_created_channel_not_yet_in_stasis.jsonl";
        var records = Fixtures.Load(file).Where(r => Kind(r) == "rest").ToList();
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        emu.CreatedChannelsEnterStasisAfter = TimeSpan.FromMilliseconds(200);
        using var http = new HttpClient { BaseAddress = new Uri(emu.BaseUri, "/") };
        var good = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("dialer:dialer"u8.ToArray()));
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", good.ToString());
        await ws.ConnectAsync(new Uri($"ws://{emu.BaseUri.Authority}/ari/events?app=dialer"), CancellationToken.None);
        var events = new ConcurrentQueue<JsonElement>();
        var drain = Task.Run(() => ReadAll(ws, events, new ManualResetEventSlim()));
        var ids = new Dictionary<string, string> { ["capture9"] = "dialer" }; // the lab's app name → the emulator's
        var refused = 0;
        foreach (var r in records)
        {
            var resp = r.GetProperty("response");
            var path = r.GetProperty("path").GetString()!;
            var channel = r.GetProperty("query").TryGetProperty("channel", out var c) ? c.GetString() : path.StartsWith("/ari/channels/cap9-", StringComparison.Ordinal) ? path.Split('/')[3] : null;
            if (r.GetProperty("method").GetString() == "POST" && channel is not null && resp.GetProperty("status").GetInt32() < 400)
                await Rig.Until(() => events.Any(e => e.GetProperty("type").GetString() == "StasisStart" && e.GetProperty("channel").GetProperty("id").GetString() == channel),
                    TimeSpan.FromSeconds(3), $"StasisStart of {channel}");
            var (status, body) = await Send(http, r, ids, good);
            Assert.True(resp.GetProperty("status").GetInt32() == status, $"{Describe(r)} → {status}, Asterisk said {resp.GetProperty("status")}");
            if (status < 400) continue;
            Assert.Equal(resp.GetProperty("body").GetProperty("message").GetString(), body.GetProperty("message").GetString());
            refused++;
        }
        Assert.Equal(7, refused);
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await drain.WaitAsync(TimeSpan.FromSeconds(2));
    }

    /// <summary>
    /// Lab capture i: an agent's phone dials 500 (Stasis(dialer,agent,agent5)), is put in a bridge, presses 1, 2 and # and
    /// hangs up. Without subscribeAll the app hears StasisStart, the bridge entry, the three keys and StasisEnd, and nothing
    /// after (no hang-up request, no ChannelDestroyed): a channel from the dialplan is the app's only while in Stasis.
    /// </summary>
    [Fact]
    public async Task Emulator_reproduces_a_phone_that_dials_in_presses_keys_and_hangs_up()
    {
        const string file = "lab/i_agent_dialin_keys_hangup.jsonl";
        var records = Fixtures.Load(file);
        var expected = records.Where(r => Kind(r) == "event").Select(r => r.GetProperty("event")).Where(IsKey).ToList();
        var bridge = records.First(r => Kind(r) == "rest" && r.GetProperty("path").GetString() == "/ari/bridges").GetProperty("query").GetProperty("bridgeId").GetString()!;
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { TimeScale = 0.02 });
        using var http = new HttpClient { BaseAddress = new Uri(emu.BaseUri, "/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String("dialer:dialer"u8.ToArray()));
        var got = new ConcurrentQueue<JsonElement>();
        using var anyMessage = new ManualResetEventSlim();
        using var ws = new ClientWebSocket();
        ws.Options.SetRequestHeader("Authorization", http.DefaultRequestHeaders.Authorization.ToString());
        await ws.ConnectAsync(new Uri($"ws://{emu.BaseUri.Authority}/ari/events?app=dialer&subscribeAll=false"), CancellationToken.None);
        var reader = Task.Run(() => ReadAll(ws, got, anyMessage));

        var phone = emu.PhoneDialsIn("agent5");
        await WaitFor(() => got.Count >= 1, $"{file}: StasisStart of the phone");
        Assert.True((await http.PostAsync($"ari/bridges?type=mixing&bridgeId={bridge}", null)).IsSuccessStatusCode);
        Assert.True((await http.PostAsync($"ari/bridges/{bridge}/addChannel?channel={phone}", null)).IsSuccessStatusCode);
        await WaitFor(() => got.Count >= 2, $"{file}: the phone in the bridge");
        foreach (var key in new[] { "1", "2", "#" }) emu.PressKey(phone, key);
        emu.FarEndHangsUp(phone);
        await WaitFor(() => got.Count >= expected.Count, $"{file}: expected {expected.Count} key events, got {got.Count}");
        await Task.Delay(50); // nothing extra may follow
        Assert.Equal(Canonical(expected), Canonical([.. got.Where(IsKey)]));
        await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await reader.WaitAsync(TimeSpan.FromSeconds(2));
    }

    private static string Kind(JsonElement r) => r.GetProperty("kind").GetString()!;

    private static bool IsKey(JsonElement e)
    {
        var type = e.GetProperty("type").GetString()!;
        if (Noise.Contains(type) || type == "TestHello") return false;
        // AMD results, and the RTCP summary a channel leaves as it goes (the driver's per-call trunk quality).
        return type != "ChannelVarset" || e.GetProperty("variable").GetString() is "AMDSTATUS" or "AMDCAUSE" or "RTPAUDIOQOS";
    }

    /// <summary>The comparable content of a sequence: channel ids renamed by first appearance, fields that matter kept.</summary>
    private static List<string> Canonical(List<JsonElement> events)
    {
        var alias = new Dictionary<string, string>();
        string A(string id) => alias.TryGetValue(id, out var a) ? a : alias[id] = $"ch{alias.Count + 1}";
        var keys = events.Select(e =>
        {
            var type = e.GetProperty("type").GetString()!;
            var chan = e.TryGetProperty("channel", out var c) ? c : e.TryGetProperty("peer", out var p) ? p : default;
            var who = chan.ValueKind == JsonValueKind.Object ? A(chan.GetProperty("id").GetString()!) : "";
            var detail = type switch
            {
                "Dial" => e.GetProperty("dialstatus").GetString(),
                "ChannelStateChange" => chan.GetProperty("state").GetString(),
                "StasisStart" => string.Join(",", e.GetProperty("args").EnumerateArray().Select(a => a.GetString())),
                "ChannelHangupRequest" => $"cause={Opt(e, "cause")} soft={Opt(e, "soft")} tech={Opt(e, "tech_cause")}",
                "ChannelDestroyed" => $"cause={Opt(e, "cause")} tech={Opt(e, "tech_cause")}",
                "ChannelVarset" when e.GetProperty("variable").GetString() == "RTPAUDIOQOS" => $"RTPAUDIOQOS keys {Keys(e.GetProperty("value").GetString()!)}",
                "ChannelVarset" => $"{e.GetProperty("variable").GetString()}={e.GetProperty("value").GetString()}",
                "PlaybackStarted" or "PlaybackFinished" => $"{e.GetProperty("playback").GetProperty("target_uri").GetString()![..6]} {e.GetProperty("playback").GetProperty("state").GetString()}",
                "RecordingStarted" or "RecordingFinished" => $"{e.GetProperty("recording").GetProperty("state").GetString()} duration={Opt(e.GetProperty("recording"), "duration") != "-"}",
                "ChannelDtmfReceived" => e.GetProperty("digit").GetString(),
                "ChannelEnteredBridge" or "ChannelLeftBridge" => $"in bridge with {e.GetProperty("bridge").GetProperty("channels").GetArrayLength()}",
                _ => "",
            };
            return (Type: type, Key: $"{type} {who} {detail}");
        }).ToList();
        // Asterisk reports a state change and its Dial status in either order (captures a and e differ): fix one order.
        for (var i = 0; i + 1 < keys.Count; i++)
            if (keys[i].Key.EndsWith(" RINGING") && keys[i + 1].Key.EndsWith(" Ringing") || keys[i].Key.EndsWith(" ANSWER") && keys[i + 1].Key.EndsWith(" Up"))
                (keys[i], keys[i + 1]) = (keys[i + 1], keys[i]);
        return keys.Select(k => k.Key).ToList();
    }

    /// <summary>The keys of an RTCP "k=v;k=v" summary, in order: what a parser of it depends on.</summary>
    private static string Keys(string summary) =>
        string.Join(",", summary.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(kv => kv.Split('=')[0]));

    /// <summary>A measured value with its numbers (and SIP call ids) blanked: the format must match Asterisk's, the figures cannot.</summary>
    private static string Shape(string value) =>
        System.Text.RegularExpressions.Regex.Replace(
            System.Text.RegularExpressions.Regex.Replace(value, "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID"), "[0-9]+", "N");

    private static string Opt(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v.ToString() : "-";

    private static string Describe(JsonElement r) => $"{r.GetProperty("method").GetString()} {r.GetProperty("path").GetString()}";

    private static async Task<(int, JsonElement)> Send(HttpClient http, JsonElement r, Dictionary<string, string> ids, AuthenticationHeaderValue auth)
    {
        string Map(string s) => ids.Aggregate(s, (acc, kv) => acc.Replace(kv.Key, kv.Value));
        var query = string.Join("&", r.GetProperty("query").EnumerateObject()
            .Select(p => $"{p.Name}={Uri.EscapeDataString(Map(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText()))}"));
        var path = Map(r.GetProperty("path").GetString()!);
        using var req = new HttpRequestMessage(new HttpMethod(r.GetProperty("method").GetString()!), query.Length > 0 ? $"{path}?{query}" : path);
        req.Headers.Authorization = auth;
        if (r.GetProperty("body").ValueKind == JsonValueKind.Object)
            req.Content = new StringContent(r.GetProperty("body").GetRawText(), Encoding.UTF8, "application/json");
        using var resp = await http.SendAsync(req);
        var captured = r.GetProperty("response").GetProperty("body");
        if (captured.ValueKind == JsonValueKind.Object && captured.TryGetProperty("_binary", out _))
        {
            // A recording's audio: same media type, some bytes.
            Assert.Equal(captured.GetProperty("content_type").GetString(), resp.Content.Headers.ContentType?.MediaType);
            Assert.True((await resp.Content.ReadAsByteArrayAsync()).Length > 44, "a WAV file with samples");
            return ((int)resp.StatusCode, default);
        }
        var text = await resp.Content.ReadAsStringAsync();
        var body = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        // Learn the emulator's id for a channel Asterisk named itself, so later requests address the same call.
        if (r.GetProperty("method").GetString() == "POST" && r.GetProperty("path").GetString() == "/ari/channels" && captured.ValueKind == JsonValueKind.Object
            && captured.TryGetProperty("id", out var cid) && body.ValueKind == JsonValueKind.Object)
            ids[cid.GetString()!] = body.GetProperty("id").GetString()!;
        return ((int)resp.StatusCode, body);
    }

    private static void CompareBody(string file, JsonElement r, JsonElement captured, JsonElement body, Dictionary<string, string> ids)
    {
        if (captured.ValueKind != JsonValueKind.Object || captured.TryGetProperty("_binary", out _)) return;
        // RTP/RTCP/SIP readings are measurements: their format must agree, not their figures.
        var measured = r.GetProperty("query").TryGetProperty("variable", out var variable)
                       && variable.GetString()!.StartsWith("CHANNEL(", StringComparison.Ordinal) && variable.GetString()!.Contains(',');
        foreach (var key in new[] { "message", "error", "value", "state" })
            if (captured.TryGetProperty(key, out var v))
                Assert.True(body.ValueKind == JsonValueKind.Object && body.TryGetProperty(key, out var w)
                            && (measured && key == "value" ? Shape(w.GetString()!) == Shape(v.GetString()!) : w.GetString() == v.GetString()),
                    $"{file}: {Describe(r)}: '{key}' should be '{v}', emulator sent {body}");
        if (captured.TryGetProperty("id", out var id) && !ids.ContainsKey(id.GetString()!))
            Assert.Equal(id.GetString(), body.GetProperty("id").GetString());
    }

    /// <summary>Reads events until the socket ends; true if it ended with a close frame, false if the connection dropped.</summary>
    private static async Task<bool> ReadAll(ClientWebSocket ws, ConcurrentQueue<JsonElement> into, ManualResetEventSlim anyMessage)
    {
        var buffer = new byte[256 * 1024];
        try
        {
            while (true)
            {
                var n = 0;
                ValueWebSocketReceiveResult r;
                do
                {
                    r = await ws.ReceiveAsync(buffer.AsMemory(n), CancellationToken.None);
                    n += r.Count;
                } while (!r.EndOfMessage);
                if (r.MessageType == WebSocketMessageType.Close) return true;
                anyMessage.Set();
                var e = JsonDocument.Parse(buffer.AsMemory(0, n)).RootElement.Clone();
                Assert.NotNull(Client.AriEventParser.Parse(buffer.AsSpan(0, n))); // the client reads what the emulator writes
                if (IsKey(e)) into.Enqueue(e);
            }
        }
        catch (WebSocketException)
        {
            return false;
        }
    }

    private static async Task WaitFor(Func<bool> done, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(5);
        while (!done())
        {
            if (DateTime.UtcNow > until) Assert.Fail("timed out: " + what);
            await Task.Delay(2);
        }
    }
}
