using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary>
/// One campaign's engine on Asterisk with the store: leads from the database hopper (leased), every attempt written
/// before its call is placed, and attempts this node left open reconciled against Asterisk's live channels before the
/// first new call. `dialer run` runs one; `dialer serve` starts and stops them through <see cref="AriEngineLauncher"/>.
/// </summary>
public sealed class CampaignEngine : IRunningEngine
{
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private CampaignEngine(DialerEngine engine, EngineHost host, AriDriver driver, IReadOnlyList<AriClient> servers, DbAttemptLog attempts, ReconcileReport reconciled)
    {
        Engine = engine;
        Host = host;
        Driver = driver;
        Servers = servers;
        Attempts = attempts;
        Reconciled = reconciled;
    }

    public EngineHost Host { get; }
    public DialerEngine Engine { get; }
    public AriDriver Driver { get; }
    public IReadOnlyList<AriClient> Servers { get; }
    public IReadOnlyList<TelephonyLink> Links => [.. Servers.Select(s => new TelephonyLink(s.ServerId, s.IsConnected, s.EventStats.Connects))];
    public DbAttemptLog Attempts { get; }
    /// <summary>What start-up found among the attempts this node had left open (calls that ended while it was down, or still up and hung up now).</summary>
    public ReconcileReport Reconciled { get; }

    /// <summary>Starts the campaign: reconcile, connect every ARI server, then the engine loop. Fails if a server cannot be reached in <paramref name="connectTimeout"/>.</summary>
    public static async Task<CampaignEngine> StartAsync(Telephony telephony, StoreDb db, Pii pii, CampaignRecord campaign, CampaignConfig config,
        IPacer pacer, string node, Action<string> log, TimeSpan connectTimeout, CancellationToken ct)
    {
        var servers = telephony.Servers.Select(o => new AriClient(o) { Log = log }).ToList();
        try
        {
            using var connect = CancellationTokenSource.CreateLinkedTokenSource(ct);
            connect.CancelAfter(connectTimeout);
            var attempts = new DbAttemptLog(db, campaign.Id, node);
            var reconciled = await ReconcileAsync(attempts, config, servers, connect.Token);
            EngineHost? host = null;
            var driver = new AriDriver(telephony.Driver, servers, telephony.Trunks, telephony.Agents,
                e => host!.PostAsync(e),
                (t, on) => _ = host!.QueryAsync(e => { e.Trunks.SetAvailable(t, on); return 0; }))
            { Log = log };
            var engine = new DialerEngine(new EngineSetup
            {
                Campaign = config, Agents = telephony.Agents, Trunks = telephony.Trunks, Pacer = pacer, Control = driver,
                Leads = new DbLeadSource(db, pii, campaign.Id, config, node) { Routing = new RoutingRules(config, telephony.Skills, new RequirementTable()) },
                Predictor = new RateTable(perRegionHour: true), Log = attempts, FirstCallId = attempts.ReserveCallIds(),
            }, DateTime.UtcNow);
            host = new EngineHost(engine, TimeProvider.System);
            var run = new CampaignEngine(engine, host, driver, servers, attempts, reconciled);
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
    /// Open attempts of this node whose channel Asterisk no longer has are closed (their leads return to the queue);
    /// calls still up from before a crash cannot be adopted by a fresh engine, so they are hung up and closed too.
    /// </summary>
    private static async Task<ReconcileReport> ReconcileAsync(DbAttemptLog attempts, CampaignConfig config, IReadOnlyList<AriClient> servers, CancellationToken ct)
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in servers)
            foreach (var ch in await s.ListChannelsAsync(ct))
                if (ch.Id.StartsWith(AriDriver.CallPrefix, StringComparison.Ordinal)) live.Add(ch.Id);
        var report = attempts.Reconcile(live, config, DateTime.UtcNow);
        if (report.StillLive.Count == 0) return report;
        foreach (var id in report.StillLive)
            foreach (var s in servers) await s.HangupAsync(id, ct: ct);
        live.ExceptWith(report.StillLive);
        var closed = attempts.Reconcile(live, config, DateTime.UtcNow);
        return report with { Closed = report.Closed + closed.Closed };
    }

    /// <summary>Stops deciding first (no call may be placed while we hang up), then hangs up every call and agent line.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        try { await _loop; }
        catch (OperationCanceledException) { }
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5))) await Driver.StopAsync(grace.Token);
        await Driver.DisposeAsync();
        _stop.Dispose();
    }
}

/// <summary>`dialer serve --run-config`: starts a campaign's engine with the run config's telephony and the campaign's stored settings.</summary>
public sealed class AriEngineLauncher(Telephony telephony, StoreDb db, Pii pii, string node, Action<string> log) : IEngineLauncher
{
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public async Task<IRunningEngine> StartAsync(string campaign, Action<Call, bool> attemptWritten, CancellationToken ct)
    {
        var record = new Campaigns(db).Find(campaign) ?? throw new ArgumentException($"campaign '{campaign}' does not exist");
        var run = await CampaignEngine.StartAsync(telephony, db, pii, record, record.Settings.ToConfig(campaign), record.Settings.CreatePacer(1),
            node, log, ConnectTimeout, ct);
        run.Attempts.Written += attemptWritten;
        return run;
    }
}
