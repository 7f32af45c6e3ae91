using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Emulator;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;

namespace Dialer.Ari.Tests;

/// <summary>The engine in real time, the ARI driver, and an emulated Asterisk on 127.0.0.1: the whole production path.</summary>
internal sealed class Rig : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private Task _run = Task.CompletedTask;
    private bool _ownsEmulator = true;
    private bool _dead;

    public required AriEmulator Emulator { get; init; }
    /// <summary>A second Asterisk ("pbx2"), linked to the first ("pbx1") by an inter-server trunk, when the test asked for one.</summary>
    public AriEmulator? Emulator2 { get; init; }
    public required AriClient Client { get; init; }
    public required AriDriver Driver { get; init; }
    public required EngineHost Host { get; init; }
    public required DialerEngine Engine { get; init; }
    public required MemoryHopper Hopper { get; init; }
    public required List<Lead> Leads { get; init; }

    public static async Task<Rig> StartAsync(EmulatorScenario scenario, IEnumerable<string> phones, int agents, AriDriverOptions options,
        TrunkConfig[]? trunks = null, Dictionary<CallOutcome, double>? retries = null, int overdial = 0, EmulatorScenario? pbx2 = null,
        Func<AriEmulator, Task>? beforeStart = null, Action<string>? log = null, bool subscribeAll = false, AriEmulator? emulator = null,
        CampaignConfig? campaign = null, IPacer? pacer = null, IPreviewDesk? desk = null, IAttemptLog? attempts = null, string app = AriServerOptions.DefaultApp)
    {
        var ownsEmulator = emulator is null; // given one: what an earlier rig left in it is this rig's to find
        emulator ??= await AriEmulator.StartAsync(scenario);
        if (beforeStart is not null) await beforeStart(emulator);
        var emulator2 = pbx2 is null ? null : await AriEmulator.StartAsync(pbx2);
        if (emulator2 is not null && beforeStart is not null) await beforeStart(emulator2);
        if (emulator2 is not null) AriEmulator.Link(emulator, "pbx1", emulator2, "pbx2");
        AriClient Client(string id, AriEmulator emu) => new(new AriServerOptions
        {
            Id = id, BaseUri = emu.BaseUri, User = "dialer", Password = "dialer", SubscribeAll = subscribeAll, App = app,
            RequestTimeout = TimeSpan.FromSeconds(1), ReconnectMin = TimeSpan.FromMilliseconds(50), ReconnectMax = TimeSpan.FromMilliseconds(300),
        });
        var client = Client("pbx1", emulator);
        AriClient[] clients = emulator2 is null ? [client] : [client, Client("pbx2", emulator2)];
        campaign ??= new CampaignConfig
        {
            Name = "test", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, MaxAttempts = 2, MaxAttemptsPerDay = 2,
            RetryDelaySeconds = retries ?? [],
        };
        var catalog = new SkillCatalog();
        var agentList = Enumerable.Range(0, agents).Select(i => new Agent { Index = i, Id = $"agent{i + 1}", Skills = SkillSet.From(catalog, []) }).ToList();
        var leads = phones.Select((p, i) => new Lead { Id = i + 1, Phone = p, Region = "lab", TimeZone = TimeZoneInfo.Utc }).ToList();
        var now = DateTime.UtcNow;
        var hopper = new MemoryHopper(campaign, leads, now);
        trunks ??= [Trunk("carrier-a", 0.01)];
        EngineHost? host = null;
        var driver = new AriDriver(options, clients, trunks, agentList, e => host!.PostAsync(e)) { Log = log };
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = agentList, Trunks = trunks, Pacer = pacer ?? new AgentsReadyPacer(overdial), Control = driver,
            Leads = hopper, Predictor = new FixedPredictor(), Desk = desk, Log = attempts, Owner = options.Owner,
        }, now);
        host = new EngineHost(engine, TimeProvider.System);
        var rig = new Rig { Emulator = emulator, Emulator2 = emulator2, Client = client, Driver = driver, Host = host, Engine = engine, Hopper = hopper, Leads = leads, _ownsEmulator = ownsEmulator };
        await driver.StartAsync();
        rig._run = Task.Run(() => host.RunAsync(rig._cts.Token));
        return rig;
    }

    public static TrunkConfig Trunk(string name, double rate, int channels = 50) => new()
    {
        Name = name, Channels = channels, CallsPerSecond = 50, RatePerMinute = new Dictionary<string, double> { [""] = rate },
        Endpoint = $"PJSIP/{{number}}@{name}",
    };

    public Task<T> Query<T>(Func<DialerEngine, T> read) => Host.QueryAsync(read);

    /// <summary>Waits until the campaign has nothing left: every lead retired and no call in flight.</summary>
    public async Task WaitDone(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!await Query(e => Hopper.Pending == 0 && e.LiveCalls.Count == 0))
        {
            if (DateTime.UtcNow > until)
                Assert.Fail($"campaign not done: {Hopper.Pending} leads pending, {await Query(e => e.LiveCalls.Count)} calls live, " +
                            $"driver: placed {Driver.Stats.Placed} answered {Driver.Stats.Answered} failures {Driver.Stats.PlaceFailures}");
            await Task.Delay(20);
        }
    }

    public static async Task Until(Func<bool> done, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (!done())
        {
            if (DateTime.UtcNow > until) Assert.Fail("timed out: " + what);
            await Task.Delay(5);
        }
    }

    /// <summary>The process dies (kill -9, as far as Asterisk can tell): the loop and the sockets stop, nothing is hung up.</summary>
    public async Task DieAsync()
    {
        _dead = true;
        _cts.Cancel();
        try { await _run; }
        catch (OperationCanceledException) { }
        await Driver.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_dead)
        {
            _cts.Cancel();
            try { await _run; }
            catch (OperationCanceledException) { } // the host's loop ends by cancellation
            await Driver.StopAsync();
            await Driver.DisposeAsync();
        }
        if (_ownsEmulator) await Emulator.DisposeAsync();
        if (Emulator2 is not null) await Emulator2.DisposeAsync();
    }

    /// <summary>Keeps one call in flight per ready agent (plus <paramref name="overdial"/>): enough to drive the path, no abandons by design.</summary>
    internal sealed class AgentsReadyPacer(int overdial) : IPacer
    {
        public string Name => "agents-ready";
        public bool ReactsToEvents => true;

        public PacingDecision Decide(DialerState s) =>
            new(Math.Max(0, s.Count(AgentState.Ready) + (s.Count(AgentState.Ready) > 0 ? overdial : 0) - s.InFlight), s.Now + 0.05);
    }

    private sealed class FixedPredictor : IAnswerPredictor
    {
        public float PredictLive(Lead lead, DateTime utcNow) => 0.5f;
        public void Observe(Lead lead, DateTime placedUtc, bool live) { }
    }
}
