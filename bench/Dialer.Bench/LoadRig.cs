using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;

namespace Dialer.Bench;

/// <summary>The real-time engine on the ARI driver at a fixed call rate, as the load runs use it (emulator or a real Asterisk).</summary>
internal sealed class LoadRig : IAsyncDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private Task _loop = Task.CompletedTask;
    private StoppablePacer _pacer = null!;
    private int _disposed;
    public required AriDriver Driver { get; init; }
    public required DialerEngine Engine { get; init; }
    public required AriClient Client { get; init; }
    public required EngineHost Host { get; init; }

    /// <param name="callsPerSecond">The rate; 0 places nothing (the engine's fixed cost with its agents connected).</param>
    /// <param name="phones">Numbers to dial, in order (the lead list).</param>
    public static async Task<LoadRig> StartAsync(AriClient client, AriDriverOptions options, IReadOnlyList<TrunkConfig> trunks, int agents, double callsPerSecond,
        IEnumerable<string> phones, ChannelOwner owner)
    {
        var campaign = new CampaignConfig { Name = "load", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, RingTimeoutSeconds = 15, RetryDelaySeconds = new Dictionary<CallOutcome, double>() };
        var catalog = new SkillCatalog();
        var agentList = Enumerable.Range(0, agents).Select(i => new Agent { Index = i, Id = $"agent{i + 1}", Skills = SkillSet.From(catalog, []) }).ToList();
        var start = DateTime.UtcNow;
        var leads = phones.Select((p, i) => new Lead { Id = i + 1, Phone = p, Region = "load", TimeZone = TimeZoneInfo.Utc });
        EngineHost? host = null;
        var driver = new AriDriver(options with { Owner = owner }, [client], trunks, agentList, e => host!.PostAsync(e));
        var pacer = new StoppablePacer(new FixedRatePacer(Math.Max(callsPerSecond, 1), seed: 1)) { Stopped = callsPerSecond <= 0 };
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = agentList, Trunks = trunks, Pacer = pacer, Control = driver,
            Leads = new MemoryHopper(campaign, leads, start), Predictor = new Flat(), Owner = owner,
        }, start);
        host = new EngineHost(engine, TimeProvider.System);
        var rig = new LoadRig { Driver = driver, Engine = engine, Client = client, Host = host, _pacer = pacer };
        await driver.StartAsync();
        rig._loop = Task.Run(() => host.RunAsync(rig._cts.Token));
        return rig;
    }

    /// <summary>No new call from now on; the calls up go on to their own end.</summary>
    public void StopDialing() => _pacer.Stopped = true;

    /// <summary>Stops the engine loop and the driver (every call still up is hung up and closed).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10))) await Driver.StopAsync(grace.Token);
        await _cts.CancelAsync();
        try { await _loop; }
        catch (OperationCanceledException) { }
        await Driver.DisposeAsync();
    }

    /// <summary>The rig's pacer, which the run can switch off to let the calls up end by themselves.</summary>
    private sealed class StoppablePacer(IPacer inner) : IPacer
    {
        public volatile bool Stopped;
        public string Name => inner.Name;
        public bool ReactsToEvents => inner.ReactsToEvents;
        public PacingDecision Decide(DialerState state) => Stopped ? new(0, state.Now + 1) : inner.Decide(state);
    }

    /// <summary>Every lead the same live chance: the load runs measure the runtime, not the predictor.</summary>
    internal sealed class Flat : IAnswerPredictor
    {
        public float PredictLive(Lead lead, DateTime utcNow) => 0.1f;
        public void Observe(Lead lead, DateTime placedUtc, bool live) { }
    }
}
