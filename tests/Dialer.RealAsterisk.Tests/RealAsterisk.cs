using System.Diagnostics;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Modes;
using Dialer.Core.Pacing;

namespace Dialer.RealAsterisk.Tests;

/// <summary>Where the real Asterisk and sipp are (environment variables, README.md); null when this machine has none.</summary>
internal static class Lab
{
    public static readonly Uri? Ari = Url("DIALER_ARI_URL");
    public static readonly Uri? Ari2 = Url("DIALER_ARI_URL2");
    public static readonly string User = Environment.GetEnvironmentVariable("DIALER_ARI_USER") ?? "dialer";
    public static readonly string Password = Environment.GetEnvironmentVariable("DIALER_ARI_PASSWORD") ?? "dialer";
    public static readonly string App = Environment.GetEnvironmentVariable("DIALER_ARI_APP") ?? "dialer";
    public static readonly string? Sipp = new[] { "SIPP", "DIALER_SIPP" }.Select(Environment.GetEnvironmentVariable).FirstOrDefault(p => p is not null && File.Exists(p));
    public static readonly string? SippLogs = Environment.GetEnvironmentVariable("DIALER_SIPP_LOGS") is { } d && Directory.Exists(d) ? d : null;
    /// <summary>Asterisk's SIP port (the agent phone the suite starts dials 500 there).</summary>
    public static readonly int SipPort = int.TryParse(Environment.GetEnvironmentVariable("DIALER_SIP_PORT"), out var p) ? p : 5060;
    /// <summary>A command that runs an Asterisk CLI command on the first server, given as one more argument (e.g. "/work/lab/bin/ast-cli 1").</summary>
    public static readonly string? AstCli = Command("DIALER_AST_CLI");
    /// <summary>Commands that kill carrier-a's sipp at once (SIGKILL: a dead carrier, not a polite one) and start it again.</summary>
    public static readonly string? CarrierAKill = Command("DIALER_CARRIER_A_KILL");
    public static readonly string? CarrierAStart = Command("DIALER_CARRIER_A_START");

    private static string? Command(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } c ? c : null;

    /// <summary>Runs a lab command through /bin/sh; a non-zero exit or one that takes longer than <paramref name="timeout"/> fails the test.</summary>
    public static async Task Sh(string command, TimeSpan timeout)
    {
        using var sh = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", command]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        using var cts = new CancellationTokenSource(timeout);
        var output = sh.StandardOutput.ReadToEndAsync(cts.Token);
        var errors = sh.StandardError.ReadToEndAsync(cts.Token);
        try { await sh.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            sh.Kill(entireProcessTree: true);
            Assert.Fail($"'{command}' did not finish within {timeout.TotalSeconds:0} s");
        }
        Assert.True(sh.ExitCode == 0, $"'{command}' exited {sh.ExitCode}: {await output}{await errors}");
    }

    /// <summary>GET of an ARI resource the client has no call for (e.g. a global variable), as JSON text.</summary>
    public static async Task<string> Get(Uri server, string resource)
    {
        using var http = new HttpClient { BaseAddress = server };
        http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{User}:{Password}")));
        return await http.GetStringAsync(resource);
    }

    private static Uri? Url(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } u ? new Uri(u.EndsWith('/') ? u : u + "/") : null;

    public static AriClient Client(string id, Uri url, string? app = null) => new(new AriServerOptions
    {
        Id = id, BaseUri = url, User = User, Password = Password, App = app ?? App,
        ReconnectMin = TimeSpan.FromMilliseconds(100), ReconnectMax = TimeSpan.FromSeconds(1),
    });
}

/// <summary>A test that needs a running Asterisk and sipp: skipped, and reported so, without them.</summary>
public sealed class RealAsteriskFactAttribute : FactAttribute
{
    public RealAsteriskFactAttribute(bool needsSecondServer = false, bool needsSippLogs = false, bool needsCli = false, bool needsCarrierControl = false)
    {
        if (Lab.Ari is null || Lab.Sipp is null) Skip = "needs a running Asterisk and sipp: set DIALER_ARI_URL and SIPP (see README.md)";
        else if (needsSecondServer && Lab.Ari2 is null) Skip = "needs a second Asterisk: set DIALER_ARI_URL2";
        else if (needsSippLogs && Lab.SippLogs is null) Skip = "needs the sipp peers' message logs: set DIALER_SIPP_LOGS";
        else if (needsCli && Lab.AstCli is null) Skip = "needs the Asterisk CLI: set DIALER_AST_CLI";
        else if (needsCarrierControl && (Lab.CarrierAKill is null || Lab.CarrierAStart is null)) Skip = "needs to kill and start carrier-a: set DIALER_CARRIER_A_KILL and DIALER_CARRIER_A_START";
    }
}

/// <summary>The engine in real time with the ARI driver on the real Asterisk: one call in flight per ready agent.</summary>
internal sealed class LiveRig : IAsyncDisposable
{
    private static int _rigs;
    private readonly CancellationTokenSource _cts = new();
    private Task _run = Task.CompletedTask;
    /// <summary>Whose channels this rig's are (unique to the rig).</summary>
    public required ChannelOwner Owner { get; init; }
    public required AriDriver Driver { get; init; }
    public required DialerEngine Engine { get; init; }
    public required EngineHost Host { get; init; }
    public required MemoryHopper Hopper { get; init; }
    /// <summary>Every attempt the engine placed and finished (the attempts table of a run on the store).</summary>
    public required AttemptTable Attempts { get; init; }
    public required IReadOnlyList<AriClient> Servers { get; init; }
    /// <summary>The driver's diagnostics, for failure messages.</summary>
    public required List<string> Log { get; init; }

    /// <param name="region">Each lead's region (local presence), "lab" by default.</param>
    /// <param name="agentIds">The agents' ids (their PJSIP endpoints), agent1..agentN by default.</param>
    /// <param name="callsPerReadyAgent">Calls kept in flight per ready agent: above 1 a live callee can find nobody (safe harbor).</param>
    /// <param name="survey">An agentless survey campaign with this script (one line at a time) instead of agents' calls.</param>
    /// <param name="trunkEndpoint">The first trunk's dial string instead of PJSIP/{number}@trunk (e.g. PJSIP/carrier-a/sip:{number}@host:port).</param>
    /// <param name="attempts">Where the attempts go (one that also writes them to a store), a table of its own by default.</param>
    /// <param name="firstLeadId">The first lead's id (the ids of leads rows in that store), 1 by default.</param>
    /// <param name="app">The Stasis app (a campaign engine's own, as `dialer run` names them), DIALER_ARI_APP by default.</param>
    /// <param name="placeOnceSet">When given, no call is placed before it is set.</param>
    public static async Task<LiveRig> StartAsync(IEnumerable<string> phones, int agents, AriDriverOptions options, string[]? trunks = null, bool twoServers = false,
        Func<string, string>? region = null, string[]? agentIds = null, int callsPerReadyAgent = 1, double trunkCallsPerSecond = 20,
        CallScript? survey = null, string? trunkEndpoint = null, AttemptTable? attempts = null, long firstLeadId = 1, string? app = null,
        ManualResetEventSlim? placeOnceSet = null)
    {
        var servers = new List<AriClient> { Lab.Client("pbx1", Lab.Ari!, app) };
        if (twoServers) servers.Add(Lab.Client("pbx2", Lab.Ari2!, app));
        await TrunksOnline(trunks ?? ["carrier-a"]);
        var campaign = new CampaignConfig
        {
            Name = "real", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, RingTimeoutSeconds = 15,
            MaxAttempts = 1, MaxAttemptsPerDay = 1, RetryDelaySeconds = new Dictionary<CallOutcome, double>(),
            Mode = survey is null ? DialingMode.Predictive : DialingMode.Survey, Script = survey,
        };
        var catalog = new SkillCatalog();
        var agentList = Enumerable.Range(0, agents).Select(i => new Agent { Index = i, Id = agentIds?[i] ?? $"agent{i + 1}", Skills = SkillSet.From(catalog, []) }).ToList();
        var leads = phones.Select((p, i) => new Lead { Id = firstLeadId + i, Phone = p, Region = region?.Invoke(p) ?? "lab", TimeZone = TimeZoneInfo.Utc }).ToList();
        var now = DateTime.UtcNow;
        var hopper = new MemoryHopper(campaign, leads, now);
        var trunkList = (trunks ?? ["carrier-a"]).Select((t, i) => new TrunkConfig
        {
            Name = t, Channels = 30, CallsPerSecond = trunkCallsPerSecond, RatePerMinute = new Dictionary<string, double> { [""] = 0.01 * (i + 1) }, Endpoint = i == 0 && trunkEndpoint is not null ? trunkEndpoint : $"PJSIP/{{number}}@{t}",
        }).ToList();
        // A rig-unique owner: its ids never meet those of an earlier rig or run whose channels Asterisk is still tearing down.
        // With one owner per process, a test's second rig (or the next test) created call-1 and agent1's line again while
        // the first one's were going: 409 "Channel with given unique ID already exists", the call lost (the caller-id test's
        // "both calls answered" timed out after the events test; the restart and safe-harbor tests failed in full runs only).
        var owner = new ChannelOwner($"real{Environment.ProcessId}n{Interlocked.Increment(ref _rigs)}", "real");
        EngineHost? host = null;
        var log = new List<string>();
        attempts ??= new AttemptTable();
        void Said(string line)
        {
            lock (log) log.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }
        foreach (var server in servers) server.Log = Said;
        var driver = new AriDriver(options with { Owner = owner }, servers, trunkList, agentList, e => host!.PostAsync(e)) { Log = Said };
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = agentList, Trunks = trunkList, Pacer = survey is null ? new AgentsReadyPacer(callsPerReadyAgent, placeOnceSet) : new AgentlessPacer(1, 1), Control = driver,
            Leads = hopper, Predictor = new HalfLive(), Owner = owner, Log = attempts,
        }, now);
        host = new EngineHost(engine, TimeProvider.System);
        var rig = new LiveRig { Owner = owner, Driver = driver, Engine = engine, Host = host, Hopper = hopper, Servers = servers, Log = log, Attempts = attempts };
        using (var start = new CancellationTokenSource(TimeSpan.FromSeconds(10))) await driver.StartAsync(start.Token);
        rig._run = Task.Run(() => host.RunAsync(rig._cts.Token));
        return rig;
    }

    /// <summary>
    /// Waits (up to 20 s) until Asterisk reads each trunk's endpoint online: a carrier an earlier test killed and started
    /// again stays Unreachable until its next qualify (every 5 s), and Asterisk refuses calls to it until then (500
    /// "Allocation failed"; the caller-id test after the carrier-kill test lost its only attempts so). Then the test goes on:
    /// a trunk still offline is the test's to find.
    /// </summary>
    private static async Task TrunksOnline(string[] trunks)
    {
        await using var probe = Lab.Client("probe", Lab.Ari!);
        var clock = Stopwatch.StartNew();
        foreach (var trunk in trunks)
            while (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                try
                {
                    if ((await probe.GetEndpointAsync("PJSIP", trunk)).State == "online") break;
                }
                catch (AriException) { } // Asterisk restarting (the restart test): asked again
                await Task.Delay(200);
            }
    }

    public Task<T> Query<T>(Func<DialerEngine, T> read) => Host.QueryAsync(read);

    public async Task WaitDone(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await Query(e => Hopper.Pending == 0 && e.LiveCalls.Count == 0))
        {
            if (clock.Elapsed > timeout)
                lock (Log) Assert.Fail($"not done: {Hopper.Pending} leads pending, {Driver.LiveCalls} calls live; driver said:\n{string.Join("\n", Log)}");
            await Task.Delay(50);
        }
    }

    /// <param name="rig">Whose driver's diagnostics go into the failure message.</param>
    public static async Task Until(Func<bool> done, TimeSpan timeout, string what, LiveRig? rig = null)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > timeout) Assert.Fail("timed out: " + what + (rig is null ? "" : "; driver said:\n" + rig.Said()));
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5))) await Driver.StopAsync(grace.Token);
        _cts.Cancel();
        try { await _run; }
        catch (OperationCanceledException) { }
        await Driver.DisposeAsync();
    }

    /// <summary>The driver's diagnostics so far, for failure messages.</summary>
    public string Said()
    {
        lock (Log) return string.Join("\n", Log);
    }

    public static async Task Until(Func<Task<bool>> done, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await done())
        {
            if (clock.Elapsed > timeout) Assert.Fail("timed out: " + what);
            await Task.Delay(20);
        }
    }

    private sealed class AgentsReadyPacer(int perReadyAgent, ManualResetEventSlim? gate) : IPacer
    {
        public string Name => "agents-ready";
        public bool ReactsToEvents => true;
        public PacingDecision Decide(DialerState s) =>
            new(gate is { IsSet: false } ? 0 : Math.Max(0, perReadyAgent * s.Count(AgentState.Ready) - s.InFlight), s.Now + 0.1);
    }

    private sealed class HalfLive : IAnswerPredictor
    {
        public float PredictLive(Lead lead, DateTime utcNow) => 0.5f;
        public void Observe(Lead lead, DateTime placedUtc, bool live) { }
    }
}

/// <summary>
/// The attempts the engine wrote: each call as placed (with the wall-clock time) and as finished, and handed on to
/// <paramref name="store"/> when given (the product's attempts table, e.g. DbAttemptLog). Thread-safe.
/// </summary>
internal sealed class AttemptTable(IAttemptLog? store = null) : IAttemptLog
{
    private readonly List<(Call Call, DateTime At)> _placed = [];
    private readonly List<Call> _finished = [];

    public void Placed(Call call)
    {
        store?.Placed(call);
        lock (_placed) _placed.Add((call, DateTime.UtcNow));
    }

    public void Finished(Call call)
    {
        store?.Finished(call);
        lock (_finished) _finished.Add(call);
    }

    public IReadOnlyList<(Call Call, DateTime At)> AllPlaced
    {
        get { lock (_placed) return [.. _placed]; }
    }

    public IReadOnlyList<Call> AllFinished
    {
        get { lock (_finished) return [.. _finished]; }
    }
}
