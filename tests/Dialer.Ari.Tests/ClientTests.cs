using System.Collections.Concurrent;
using Dialer.Ari.Client;
using Dialer.Emulator;

namespace Dialer.Ari.Tests;

public class ClientTests
{
    private static AriClient Client(AriEmulator emu, string password = "dialer", int queue = 1024, TimeSpan? timeout = null, int retries = 2) => new(new AriServerOptions
    {
        Id = "pbx1", BaseUri = emu.BaseUri, User = "dialer", Password = password, EventQueueCapacity = queue,
        RequestTimeout = timeout ?? TimeSpan.FromSeconds(2), MaxRetries = retries, ReconnectMin = TimeSpan.FromMilliseconds(20),
    });

    [Fact]
    public async Task Ari_errors_become_typed_exceptions_with_asterisks_message()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        await using var ari = Client(emu, timeout: TimeSpan.FromSeconds(30), retries: 0); // each request once: a loaded machine's stall is no retry
        emu.SendRaw(""); // no socket yet: nothing happens
        await ari.OriginateAsync("dialer-1", "PJSIP/1801@carrier-a", "callee", "Dialer <5550000>", 30, null); // rings on
        var dup = await Assert.ThrowsAsync<AriConflictException>(() => ari.CreateChannelAsync("dialer-1", "PJSIP/1801@carrier-a", "callee", null));
        Assert.Equal("Channel with given unique ID already exists", dup.AsteriskMessage);
        var alloc = await Assert.ThrowsAsync<AriServerErrorException>(() => ari.CreateChannelAsync("dialer-2", "PJSIP/nobody", "callee", null));
        Assert.Equal((500, "Allocation failed"), (alloc.Status, alloc.AsteriskMessage)); // Asterisk's "error" key, not "message"
        var gone = await Assert.ThrowsAsync<AriNotFoundException>(() => ari.GetVariableAsync("no-such-channel", "CHANNEL(rtcp,all_rtt)"));
        Assert.Equal("Provided channel was not found", gone.AsteriskMessage);
        Assert.Null(await ari.GetVariableAsync("dialer-1", "NOT_SET")); // an unset variable is not an error
        await Assert.ThrowsAsync<AriNotFoundException>(() => ari.AddChannelAsync("no-such-bridge", "dialer-1"));
        await ari.HangupAsync("no-such-channel"); // already gone is what hang-up wants
        await using var wrong = Client(emu, password: "wrong", timeout: TimeSpan.FromSeconds(30), retries: 0);
        var auth = await Assert.ThrowsAsync<AriAuthenticationException>(() => wrong.ListChannelsAsync());
        Assert.Equal(401, auth.Status);
    }

    /// <summary>
    /// Load run on a loaded box: requests queued behind our own busy connections were timed as Asterisk's latency (p95 1–3 s),
    /// "REST slow" took every trunk out half the time and the engine placed half the asked rate. Only the time on the wire counts.
    /// </summary>
    [Fact]
    public async Task Requests_waiting_for_one_of_our_connections_do_not_read_as_a_slow_asterisk()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        emu.RestDelay = TimeSpan.FromMilliseconds(200);
        await using var ari = new AriClient(new AriServerOptions
        {
            Id = "pbx1", BaseUri = emu.BaseUri, User = "dialer", Password = "dialer", MaxConnections = 2, RequestTimeout = TimeSpan.FromSeconds(5),
        });
        await Task.WhenAll(Enumerable.Range(0, RestHealth.Window).Select(_ => ari.PingAsync())); // ten deep behind two connections
        Assert.Equal(RestHealth.Window, ari.RestHealth.Samples);
        Assert.True(ari.RestHealth.P95Ms() < 1000, $"p95 {ari.RestHealth.P95Ms():0} ms for an Asterisk that answers in 200 ms");
    }

    [Fact]
    public async Task Rest_5xx_is_retried_and_then_fails_cleanly_and_timeouts_give_up()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        await using var ari = Client(emu, retries: 2);
        emu.FailNextRequests(2);
        Assert.Empty(await ari.ListChannelsAsync()); // two 503s, then the third try succeeds
        emu.FailNextRequests(3);
        var e = await Assert.ThrowsAsync<AriServerErrorException>(() => ari.ListChannelsAsync());
        Assert.Equal(503, e.Status);
        await using var impatient = Client(emu, timeout: TimeSpan.FromMilliseconds(300), retries: 2);
        emu.RestDelay = TimeSpan.FromSeconds(2);
        var started = DateTime.UtcNow;
        var t = await Assert.ThrowsAsync<AriUnavailableException>(() => impatient.ListChannelsAsync());
        Assert.Equal("timed out", t.AsteriskMessage);
        Assert.InRange(DateTime.UtcNow - started, TimeSpan.FromMilliseconds(800), TimeSpan.FromSeconds(3)); // 3 tries × 300 ms
    }

    /// <summary>
    /// Cluster fencing (ClusterTests' paused owner): an originate sent just before the node was paused went unanswered, the
    /// client retried it on waking, after another node had taken the campaign over and hung that channel up: the retry was a
    /// new call. Every try of a request that makes or dials a channel asks <see cref="AriClient.MayCall"/> first.
    /// </summary>
    [Fact]
    public async Task A_call_is_not_tried_again_once_its_node_may_no_longer_call()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        await using var ari = Client(emu, retries: 2);
        var asked = 0;
        ari.MayCall = () => Interlocked.Increment(ref asked) > 1 ? "lease lost" : null; // the first try may go, not its retry
        emu.FailCommands("channels", 1, tries: 1); // the first try gets no usable answer
        var refused = await Assert.ThrowsAsync<AriRefusedException>(() => ari.OriginateAsync("dialer-1", "PJSIP/1801@carrier-a", "callee", null, 30, null));
        Assert.True(refused.Retried);
        Assert.Equal("lease lost", refused.AsteriskMessage);
        Assert.Empty(emu.PlaceRequests);
        Assert.Empty(await ari.ListChannelsAsync()); // other requests are not asked about
        await Assert.ThrowsAsync<AriRefusedException>(() => ari.DialAsync("dialer-1", 30));
        Assert.Equal(3, asked);
    }

    [Fact]
    public async Task Unknown_and_malformed_messages_are_counted_and_skipped_and_overflow_is_reported()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        await using var ari = Client(emu, queue: 4);
        var sink = new Sink();
        ari.Start(sink);
        await Rig.Until(() => emu.ConnectedSockets == 1 && sink.Reconciles.Count == 1, TimeSpan.FromSeconds(3), "connected");
        emu.SendRaw("""{"type":"SomethingNew","weird":[1,{"a":null}]}""");
        emu.SendRaw("{not json");
        emu.SendRaw("""{"type":"StasisStart","args":[],"channel":{"id":"x","state":"Up"}}""");
        await Rig.Until(() => sink.Events.Count == 2, TimeSpan.FromSeconds(3), "two events");
        Assert.Equal([AriEventType.Unknown, AriEventType.StasisStart], sink.Events.Select(e => e.Type));
        Assert.Equal("pbx1", sink.Events.Last().ServerId);
        Assert.Equal(1, ari.EventStats.Malformed);

        sink.Gate.Reset(); // a slow handler: the queue of 4 fills and events are dropped, counted, then reconciled
        for (var i = 0; i < 40; i++) emu.SendRaw("{\"type\":\"ChannelVarset\",\"variable\":\"V\",\"value\":\"" + i + "\",\"channel\":{\"id\":\"x\",\"state\":\"Up\"}}");
        await Rig.Until(() => ari.EventStats.Dropped > 0, TimeSpan.FromSeconds(3), "drops");
        sink.Gate.Set();
        await Rig.Until(() => sink.Reconciles.Contains(ReconcileReason.EventsDropped), TimeSpan.FromSeconds(3), "reconcile after drops");
        Assert.Equal(40, ari.EventStats.Dropped + sink.Events.Count(e => e.Type == AriEventType.ChannelVarset));
    }

    [Fact]
    public async Task Dropped_socket_reconnects_within_a_second_and_reconciles()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        await using var ari = Client(emu);
        var sink = new Sink();
        ari.Start(sink);
        await Rig.Until(() => sink.Reconciles.Count == 1, TimeSpan.FromSeconds(3), "connected");
        emu.DropEventSockets(); // no close frame, like "core stop now"
        var dropped = DateTime.UtcNow;
        await Rig.Until(() => sink.Reconciles.Count == 2, TimeSpan.FromSeconds(1), "reconnected and reconciled within 1 s");
        Assert.Equal([ReconcileReason.Connected, ReconcileReason.Reconnected], sink.Reconciles);
        Assert.True(DateTime.UtcNow - dropped < TimeSpan.FromSeconds(1));
    }

    private sealed class Sink : IAriEventSink
    {
        public ConcurrentQueue<AriEvent> Events { get; } = new();
        public ConcurrentQueue<ReconcileReason> Reconciles { get; } = new();
        public Valve Gate { get; } = new();

        // A handler that waits returns a pending task (it is called on the socket's reader: it must not block the thread).
        public async ValueTask OnEventAsync(AriClient server, AriEvent e, CancellationToken ct)
        {
            await Gate.Open.WaitAsync(ct);
            Events.Enqueue(e);
        }

        public ValueTask ReconcileAsync(AriClient server, ReconcileReason reason, CancellationToken ct)
        {
            Reconciles.Enqueue(reason);
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>Open until <see cref="Reset"/>, then closed until <see cref="Set"/>.</summary>
    private sealed class Valve
    {
        private volatile TaskCompletionSource _open = Opened();
        public Task Open => _open.Task;
        public void Reset() => _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Set() => _open.TrySetResult();

        private static TaskCompletionSource Opened()
        {
            var open = new TaskCompletionSource();
            open.SetResult();
            return open;
        }
    }
}
