using Dialer.Core.Compliance;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;
using Dialer.Core.Text;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary>
/// One campaign's engine on Asterisk with the store: leads from the database hopper (leased) and every attempt written
/// before its call is placed, both through a <see cref="StoreOutbox"/> so no database call runs on the engine loop; attempts
/// this node left open reconciled against Asterisk's live channels before the first new call. `dialer run` runs one;
/// `dialer serve` starts and stops them through <see cref="AriEngineLauncher"/>. ARCHITECTURE.md has its failure model.
/// </summary>
public sealed partial class CampaignEngine : IRunningEngine
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private readonly Action<string> _log;

    private CampaignEngine(DialerEngine engine, EngineHost host, AriDriver driver, IReadOnlyList<AriClient> servers, DbAttemptLog attempts,
        StoreOutbox outbox, Recovery reconciled, Action<string> log)
    {
        Engine = engine;
        Host = host;
        Driver = driver;
        Servers = servers;
        Attempts = attempts;
        Outbox = outbox;
        Reconciled = reconciled;
        _log = log;
    }

    /// <summary>How long stop waits for Asterisk to hang up the calls and agent lines, and then for their ends to come back.</summary>
    public static readonly TimeSpan HangupTimeout = TimeSpan.FromSeconds(5);
    /// <summary>How long stop keeps retrying the last attempt rows against a store that is down.</summary>
    public static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(10);
    /// <summary>The most a stop takes: the command-line and API hosts wait at least this long on SIGTERM.</summary>
    public static readonly TimeSpan StopTimeout = HangupTimeout * 2 + FlushTimeout + TimeSpan.FromSeconds(5);

    public EngineHost Host { get; }
    public DialerEngine Engine { get; }
    public AriDriver Driver { get; }
    public IReadOnlyList<AriClient> Servers { get; }
    public IReadOnlyList<TelephonyLink> Links => [.. Servers.Select(s => new TelephonyLink(s.ServerId, s.IsConnected, s.EventStats.Connects))];
    public DbAttemptLog Attempts { get; }
    public StoreOutbox Outbox { get; }
    /// <summary>What the driver's trunk health measured (RTCP of the trunk's calls, its qualify round trips).</summary>
    public TrunkMedia Media(int trunk) => new(Driver.Health.RttMs(trunk), Driver.Health.Loss(trunk));
    /// <summary>Attempt writes the last stop could not make (the store was down throughout): reconciliation settles them at the next start.</summary>
    public int Unwritten { get; private set; }
    /// <summary>What start-up recovery found: calls adopted (still bridged to an agent), channels hung up, attempts closed.</summary>
    public Recovery Reconciled { get; }

    /// <summary>
    /// Starts the campaign: recovery (calls still bridged to an agent adopted, agent lines still in their bridges taken back,
    /// the rest hung up and its attempts closed), then every ARI server connected, then the engine loop. Fails if a server
    /// cannot be reached in <paramref name="connectTimeout"/>. <paramref name="takenOver"/>: nodes whose campaign this node takes
    /// over (they died): what they left is recovered as this node's own. <paramref name="fence"/>: the ownership lease's epoch,
    /// checked inside every attempt and lead write (recovery's too); none without ownership leases. <paramref name="agentStates"/>:
    /// the node's writer of agent state changes (none: not stored).
    /// </summary>
    public static async Task<CampaignEngine> StartAsync(Telephony telephony, StoreDb db, Pii pii, CampaignRecord campaign, CampaignConfig config,
        IPacer pacer, string node, Action<string> log, TimeSpan connectTimeout, CancellationToken ct, IReadOnlyCollection<string>? takenOver = null,
        CampaignFence? fence = null, AgentStateLog? agentStates = null)
    {
        log = Redact.Masking(log); // ARI errors carry the originate's query string, with the number in it
        // The profile's caller-id and recording rules hold before any call: a campaign that would break them does not start.
        if (ComplianceGate.CheckTelephony(config, telephony.Driver.DefaultCallerId, telephony.Driver.CallerIdByRegion, telephony.Driver.RecordCalls) is { } refused)
            throw new InvalidOperationException($"campaign '{campaign.Name}': {refused}");
        config.ShownCallerIds = new CallerIdPlan(telephony.Driver.DefaultCallerId, telephony.Driver.CallerIdByRegion); // the hopper's per-lead local-presence check
        // One Stasis app per campaign engine: Asterisk gives an app one WebSocket, and other engines may share these servers.
        var servers = telephony.Servers.Select(o => new AriClient(o.ForCampaign(new ChannelOwner(node, campaign.Name))) { Log = log }).ToList();
        try
        {
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
            connect.CancelAfter(connectTimeout);
            var attempts = new DbAttemptLog(db, campaign.Id, node) { RefusalBlockDays = campaign.Settings.RefusalBlockDays(), Fence = fence };
            var owners = new ChannelOwners(new ChannelOwner(node, campaign.Name), (takenOver ?? []).Select(n => new ChannelOwner(n, campaign.Name)));
            var owner = owners.Self;
            EngineHost? host = null;
            var driver = new AriDriver(telephony.Driver with { Owner = owner, TakenOver = owners.All.Skip(1).ToList(), RecordingNotice = config.Profile?.Recording?.Notice }, servers, telephony.Trunks, telephony.Agents,
                e => host!.PostAsync(e)) { Log = log };
            Recovery reconciled;
            List<Adoption> adopt;
            try { (reconciled, adopt) = await ReconcileAsync(attempts, config, telephony, driver, servers, owners, log, connect.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) // an Asterisk too slow or refusing: say which, never a bare cancel
            {
                throw new TimeoutException($"ARI: recovery could not read the channels of every server within {connectTimeout.TotalSeconds:0.#} s " +
                                           $"({string.Join(", ", servers.Select(s => s.ServerId))})");
            }
            var leads = new DbLeadSource(db, pii, campaign.Id, config, node) { Routing = new RoutingRules(config, telephony.Skills, new RequirementTable()), Fence = fence };
            var outbox = new StoreOutbox(leads, attempts, e => host!.PostAsync(e), TimeProvider.System)
            {
                Campaign = config, IsOpen = leads.IsRunning, Due = leads.ClaimDue, Batch = db.Batch, OnStopped = leads.ReleaseAllLeases, Log = log,
            };
            var engine = new DialerEngine(new EngineSetup
            {
                Campaign = config, Agents = telephony.Agents, Trunks = telephony.Trunks, Pacer = pacer, Control = driver,
                Leads = outbox, Predictor = new RateTable(perRegionHour: true), Log = outbox, FirstCallId = attempts.ReserveCallIds(), Owner = owner,
                Desk = config.Previews ? new PreviewDesk(log) : null, // the API reads the offers from the engine (PreviewApi)
            }, DateTime.UtcNow);
            engine.AgentStateChanged = agentStates?.For(campaign.Id); // before the loop: the first logins are stored too
            // The cap's budget is the campaign's: today's and the 30 days' live answers and abandons go on from the store.
            engine.State.Ledger.Seed(AbandonHistory.Load(db, campaign.Id, config.TimeZone, DateTime.UtcNow), DateTime.UtcNow);
            // And the pacing goes on from what the campaign's last calls taught, not from priors (a takeover is no cold start).
            engine.Learn(PacingHistory.Load(db, campaign.Id, DateTime.UtcNow));
            if (takenOver is { Count: > 0 }) engine.RampUp(DateTime.UtcNow);
            Adopt(engine, driver, leads, attempts, telephony.Agents, adopt, DateTime.UtcNow); // the loop has not started: the engine is ours here
            host = new EngineHost(engine, TimeProvider.System) { Log = log };
            var run = new CampaignEngine(engine, host, driver, servers, attempts, outbox, reconciled, log);
            try
            {
                await driver.StartAsync(connect.Token); // no call before the events flow: its first events would be lost
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                await driver.DisposeAsync();
                throw new TimeoutException($"ARI: not every server connected within {connectTimeout.TotalSeconds:0} s " +
                                           $"({string.Join(", ", servers.Select(s => $"{s.ServerId} {(s.IsConnected ? "up" : "down")}"))})");
            }
            outbox.Start();
            run._loop = Task.Run(() => host.RunAsync(run._stop.Token), CancellationToken.None);
            return run;
        }
        catch (Exception) when (servers.All(s => !s.IsConnected))
        {
            foreach (var s in servers) await s.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Asks every ARI server for its channels once: a wrong user or password, an Asterisk not running or one too slow to
    /// answer fails here (naming the server) before anything is imported or written.
    /// </summary>
    public static async Task CheckTelephonyAsync(Telephony telephony, TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        foreach (var o in telephony.Servers)
        {
            await using var client = new AriClient(o);
            try { await client.ListChannelsAsync(limit.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"ARI server '{o.Id}' at {o.BaseUri} did not answer within {timeout.TotalSeconds:0} s");
            }
        }
    }

    /// <summary>
    /// Stops so that nothing is left behind, and never throws before the driver has hung up: no new call (waiting callees to
    /// safe harbor, ringing calls hung up), every call and agent line hung up, their ends taken in by the loop, any end that
    /// did not come back closed by the engine itself, every attempt row written and every lease released. Bounded by <see cref="StopTimeout"/>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (Host.Status == EngineStatus.Running) await Safely("halting", () => Host.QueryAsync(e => { e.Halt(Host.Now); return 0; }));
        await Safely("hanging up", async () =>
        {
            using var grace = new CancellationTokenSource(HangupTimeout);
            await Driver.StopAsync(grace.Token);
        });
        await Safely("waiting for the calls to end", async () =>
        {
            var until = DateTime.UtcNow + HangupTimeout;
            while (Driver.LiveCalls > 0 && DateTime.UtcNow < until) await Task.Delay(20);
        });
        Host.Complete(); // the loop takes in what has come and returns
        await Safely("stopping the loop", async () =>
        {
            try { await _loop.WaitAsync(TimeSpan.FromSeconds(2)); }
            catch (TimeoutException) { await _stop.CancelAsync(); await _loop; }
        });
        // The loop has returned: the engine is ours alone now.
        await Safely("closing the calls left", () => { Engine.EndAll(Host.Now); return Task.CompletedTask; });
        await Safely("writing the last attempts", async () =>
        {
            Unwritten = await Outbox.StopAsync(FlushTimeout);
            if (Unwritten > 0) _log($"stop: {Unwritten} attempt writes could not be made (store down): they are reconciled at the next start");
        });
        await Safely("closing ARI", async () => await Driver.DisposeAsync());
        _stop.Dispose();
    }

    /// <summary>
    /// Lets the campaign go without touching the world, for a node fenced off it (another node took it over, adopted the calls
    /// still bridged and took the agent lines back): the loop stops, the sockets and HTTP close, nothing is hung up, no
    /// attempt is closed. The outbox's queued writes are tried once more (the fence refuses them) and its prefetched leads
    /// handed back. To Asterisk this is a kill -9, which is what recovery tests use it for (there the writes go out;
    /// start-up reconciliation settles either way).
    /// </summary>
    public async Task LetGoAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        await _loop;
        // A worker backing off from refused writes may outsleep the stop's wait: what it still holds is counted, not waited for.
        await Safely("letting the store writes go", async () => await Outbox.StopAsync(TimeSpan.Zero));
        Unwritten = Outbox.Backlog;
        await Safely("closing ARI", async () => await Driver.DisposeAsync());
        _stop.Dispose();
    }

    private async Task Safely(string what, Func<Task> step)
    {
        try { await step(); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log(Redact.Numbers($"stop: {what} failed: {e.Message}"));
        }
    }
}

/// <summary>
/// `dialer serve --run-config`: starts a campaign's engine with the run config's telephony and the campaign's stored
/// settings, through a <see cref="NodeHost"/> as `dialer run` does: the campaign's ownership lease is taken first (a start
/// fails while another live node paces it), renewed on the node's timer, and handed back when the API stops the campaign.
/// </summary>
public sealed class AriEngineLauncher(Telephony telephony, StoreDb db, Pii pii, string node, Action<string> log) : IEngineLauncher, IAsyncDisposable
{
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan Lease { get; init; } = new NodeOptions().Lease;

    private NodeHost? _node;
    private readonly Lock _gate = new();

    /// <summary>The node serve's engines run on: takes only the campaigns the API starts, no standby.</summary>
    public NodeHost Node
    {
        get
        {
            lock (_gate)
            {
                if (_node is null)
                {
                    _node = new NodeHost(db, pii, node, [], new NodeOptions { Standby = false, Lease = Lease, ConnectTimeout = ConnectTimeout }, log);
                    _node.Start();
                }
                return _node;
            }
        }
    }

    public async Task<IRunningEngine> StartAsync(string campaign, Action<Call, bool> attemptWritten, CancellationToken ct)
    {
        var record = new Campaigns(db).Find(campaign) ?? throw new ArgumentException($"campaign '{campaign}' does not exist");
        // Settings from the store (Settings null): what the API set is what is dialed.
        var config = new RunConfig(campaign, TimeZoneInfo.FindSystemTimeZoneById(record.Settings.TimeZone), null, telephony, "", null, null, node);
        var run = await Node.TakeAsync(config).WaitAsync(ct);
        run.Attempts.Written += attemptWritten;
        return new Held(Node, campaign, run);
    }

    /// <summary>A campaign's engine as the API holds it: stopping it hands the campaign's lease back.</summary>
    private sealed class Held(NodeHost node, string campaign, CampaignEngine engine) : IRunningEngine
    {
        public EngineHost Host => engine.Host;
        public IReadOnlyList<TelephonyLink> Links => engine.Links;
        public StoreOutbox? Outbox => engine.Outbox;
        public TrunkMedia Media(int trunk) => engine.Media(trunk);

        public async ValueTask DisposeAsync()
        {
            // Lost to another node meanwhile: the node is already stopping it; a second stop is a no-op.
            if (!await node.DrainAsync(campaign, TimeSpan.Zero)) await engine.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        NodeHost? n;
        lock (_gate) n = _node;
        if (n is not null) await n.DisposeAsync();
    }
}
