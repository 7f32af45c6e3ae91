using System.Runtime.ExceptionServices;
using Dialer.Core.Domain;
using Dialer.Core.Hosting;
using Dialer.Core.Text;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary>How a node holds its campaigns (<c>dialer run --lease-seconds</c>, <c>--drain-seconds</c>).</summary>
public sealed record NodeOptions
{
    /// <summary>How long a campaign stays this node's without a renewal: a standby takes a dead owner's campaign within it.</summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>How often leases are renewed and free campaigns looked for: a third of the lease, so two renewals may fail before it runs out.</summary>
    public TimeSpan RenewEvery => Lease / 3;
    /// <summary>How long a drain (and a node's stop, when above zero) lets the calls up finish before the rest is hung up.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.Zero;
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Whether the node takes free campaigns by itself and stands by for the others (<c>dialer run</c>); false: it holds
    /// only the campaigns it is told to take (<c>dialer serve</c>, whose API starts and stops them).
    /// </summary>
    public bool Standby { get; init; } = true;
}

/// <summary>
/// An engine node: of the campaigns it is configured for, it paces only those whose ownership lease (campaign_owners) it
/// holds, one <see cref="CampaignEngine"/> each, and stands by for the rest. Leases are renewed on this host's own timer,
/// never on an engine loop. A campaign whose lease could not be renewed before it ran out (the store unreachable, or this
/// process paused) is suspended: no new call, its calls up go on, and it resumes on the first renewal that goes through.
/// One taken by another node (fenced: a renewal or a write found the epoch moved on) stops placing calls at once; its calls
/// up finish, then its engine stops, and the lease is left to the new owner. A free campaign (never owned, released, or its owner's lease ran out) goes to a standby
/// first: a node that paces campaigns already waits one renewal period, and a node just started takes a second one only
/// after two leases, so campaigns spread over nodes started together. Taking over from a dead owner reconciles that owner's open attempts and channels, and those of every
/// owner before it since the campaign was last handed back (their names come from the lease row), and the new engine seeds its abandon ledger from the store: one budget per campaign.
/// If the store fails, renewals fail: held campaigns stop placing calls when their lease runs out and go on when it is back; nothing new is taken.
/// </summary>
public sealed class NodeHost : IAsyncDisposable
{
    private readonly StoreDb _db;
    private readonly Pii _pii;
    private readonly NodeOptions _options;
    private readonly Action<string> _log;
    private readonly CampaignOwnership _ownership;
    /// <summary>The one writer of every engine's agent state changes (agent_states), off their loops.</summary>
    private readonly AgentStateLog _agentStates;
    /// <summary>How long the stop waits for the store to take the last agent state changes (the logouts), after the engines stopped.</summary>
    private static readonly TimeSpan AgentStatesFlush = TimeSpan.FromSeconds(3);
    // Copy-on-write: campaigns taken on demand (TakeAsync) join it while the renewal timer reads it.
    private volatile Slot[] _slots;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly List<Task> _work = [];
    private Task _loop = Task.CompletedTask;

    public NodeHost(StoreDb db, Pii pii, string node, IReadOnlyList<RunConfig> campaigns, NodeOptions options, Action<string> log)
    {
        if (campaigns.Count == 0 && options.Standby) throw new ArgumentException("a node needs at least one campaign");
        if (campaigns.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"campaign '{twice.Key}' is given twice");
        _db = db;
        _stopped = new Lazy<Task>(StopAsync);
        _pii = pii;
        _options = options;
        _log = Redact.Masking(log);
        Node = node;
        _ownership = new CampaignOwnership(db, node);
        _agentStates = new AgentStateLog(new AgentStates(db), _log);
        _slots = [.. campaigns.Select(NewSlot)];
        // Nodes try the free campaigns in different orders, so that nodes starting together rarely race for the same one.
        _first = _slots.Length == 0 ? 0 : (int)((uint)node.Aggregate(17, (h, ch) => h * 31 + ch) % (uint)_slots.Length);
    }

    private Slot NewSlot(RunConfig c)
    {
        var records = new Campaigns(_db);
        var record = records.Find(c.Name) ?? records.Create(c.Name, new CampaignSettings { TimeZone = c.TimeZone.Id }, DateTime.UtcNow);
        return new Slot(c, record);
    }

    private readonly int _first;

    public string Node { get; }
    public NodeOptions Options => _options;

    /// <summary>The campaigns paced here now (a snapshot).</summary>
    public IReadOnlyList<(string Campaign, CampaignEngine Engine)> Running
    {
        get
        {
            var slots = _slots;
            lock (_gate) return [.. slots.Where(s => s.Engine is not null && !s.Losing).Select(s => (s.Config.Name, s.Engine!))];
        }
    }

    /// <summary>The engines whose campaign was lost or handed over and that are still finishing their calls.</summary>
    public int Finishing { get { var slots = _slots; lock (_gate) return slots.Count(s => s.Engine is not null && s.Losing); } }

    /// <summary>Whether an engine of this node faulted (`dialer run` then exits 6).</summary>
    public bool Faulted { get; private set; }

    /// <summary>Takeovers and losses, in order: what the status line and tests read.</summary>
    public event Action<NodeEvent>? Changed;

    /// <summary>Starts the renewal timer; campaigns are taken on its first tick.</summary>
    public void Start()
    {
        _startedAt = DateTime.UtcNow;
        _loop = Task.Run(() => LoopAsync(_stop.Token));
    }

    private DateTime _startedAt;

    private async Task LoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.RenewEvery);
        do
        {
            // The store's calls block: off this loop's thread, and a stalled store still loses the leases on time.
            var tick = Task.Run(Tick, CancellationToken.None);
            while (!tick.IsCompleted)
            {
                await Task.WhenAny(tick, Task.Delay(100, CancellationToken.None));
                Expire(DateTime.UtcNow);
            }
            try { await tick; }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log(Redact.Numbers($"node {Node}: store: {e.Message} (leases are kept until they run out)"));
            }
        } while (await Wait(timer, ct));
    }

    private static async Task<bool> Wait(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>One renewal round: renew what is held, take what is free and due for this node.</summary>
    private void Tick()
    {
        var now = DateTime.UtcNow;
        var slots = _slots;
        foreach (var slot in slots)
        {
            CampaignLease? held;
            lock (_gate) held = slot.Lease; // a campaign draining keeps its lease until its calls are done
            if (held is null) continue;
            CampaignLease? renewed;
            try { renewed = _ownership.Renew(held, _options.Lease, now); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _log(Redact.Numbers($"node {Node}: campaign '{slot.Config.Name}': lease renewal failed: {e.Message}"));
                continue; // Expire stops it if this goes on past the lease
            }
            if (renewed is null)
            {
                Fenced(slot, "fenced: the renewal found another node holding the campaign");
                continue;
            }
            CampaignEngine? resumed = null;
            DateTime since = default;
            lock (_gate)
                if (slot.Lease == held)
                {
                    slot.Lease = renewed;
                    if (slot.SuspendedAt is { } at && !slot.Losing)
                    {
                        (resumed, since, slot.SuspendedAt) = (slot.Engine, at, null);
                        if (resumed is not null) resumed.Outbox.Held = false;
                    }
                }
            if (resumed is not null)
                Raise(new NodeEvent(NodeEventKind.Resumed, slot.Config.Name, Node, null, renewed.Epoch, DateTime.UtcNow, null,
                    $"lease renewed after {(DateTime.UtcNow - since).TotalSeconds:0.0} s suspended: nobody took the campaign over, pacing resumed"));
        }
        if (_stopping || !_options.Standby) return;
        // A node just started takes one campaign, more only after two leases: nodes started together share them out.
        var settling = now - _startedAt < _options.Lease * 2;
        int owned;
        lock (_gate) owned = slots.Count(s => s.Lease is not null || s.Engine is not null || s.Starting);
        for (var k = 0; k < slots.Length; k++)
        {
            var slot = slots[(_first + k) % slots.Length];
            lock (_gate)
                if (slot.Lease is not null || slot.Engine is not null || slot.Starting || now < slot.NotBefore) continue;
            var owner = _ownership.Owner(slot.Record.Id, now);
            if (owner is not null && owner != Node)
            {
                slot.FreeSince = null;
                continue;
            }
            // A free campaign goes to a standby first: a node pacing campaigns already waits one renewal period.
            // Held under this node's own name, it is a previous process's: taken back at once.
            slot.FreeSince ??= now;
            // (Half a period: a look that comes a few milliseconds early must not make it wait a whole period more.)
            if (owner is null && owned > 0 && (settling || now - slot.FreeSince < _options.RenewEvery / 2)) continue;
            if (_stopping) return;
            var lease = _ownership.TryAcquire(slot.Record.Id, _options.Lease, now);
            if (lease is null) continue;
            slot.FreeSince = null;
            lock (_work) // a stop that began meanwhile waits for what is tracked before it, or finds the campaign never taken
                if (!_stopping)
                {
                    lock (_gate)
                    {
                        Hold(slot, lease);
                        slot.Starting = true;
                    }
                    owned++;
                    Track(Task.Run(() => StartAsync(slot, lease, now), CancellationToken.None)); // never on this timer's thread
                    continue;
                }
            try { _ownership.Release(lease); }
            catch (Exception e) when (e is not OutOfMemoryException) { _log(Redact.Numbers($"node {Node}: release failed: {e.Message}")); }
            return;
        }
    }

    /// <summary>
    /// Takes the campaign now (<c>dialer serve</c>'s start): its lease, then its engine, with the same recovery as a standby's
    /// takeover. Fails, naming why, if another live node holds it (<see cref="CampaignHeldException"/>) or it could not start (the
    /// lease is then handed back).
    /// </summary>
    public async Task<CampaignEngine> TakeAsync(RunConfig config)
    {
        var added = _slots.Any(s => s.Config.Name == config.Name) ? null : NewSlot(config); // the store, outside the lock
        Slot slot;
        lock (_gate)
        {
            slot = _slots.FirstOrDefault(s => s.Config.Name == config.Name) ?? added!;
            if (slot == added) _slots = [.. _slots, slot];
            if (slot.Lease is not null || slot.Engine is not null || slot.Starting) throw new InvalidOperationException($"campaign '{config.Name}' already runs on node {Node}");
            slot.Starting = true; // no second take meanwhile
        }
        var now = DateTime.UtcNow;
        CampaignLease? lease = null;
        try { lease = _ownership.TryAcquire(slot.Record.Id, _options.Lease, now); }
        finally { if (lease is null) lock (_gate) slot.Starting = false; }
        if (lease is null)
            throw new CampaignHeldException($"campaign '{config.Name}' is paced by node {_ownership.Owner(slot.Record.Id, now) ?? "another node"}: stop it there first");
        lock (_gate) Hold(slot, lease);
        if (await StartAsync(slot, lease, now) is { } failed) ExceptionDispatchInfo.Throw(failed);
        lock (_gate)
            return slot.Engine is { } engine && !slot.Losing ? engine : throw new InvalidOperationException($"campaign '{config.Name}': lost to another node while starting");
    }

    /// <summary>
    /// The campaign is this node's under <paramref name="lease"/> (call under _gate): its writes carry the lease's epoch as their
    /// fence; the first one the store refuses stops the campaign, as a renewal that finds the epoch moved on does.
    /// </summary>
    private void Hold(Slot slot, CampaignLease lease)
    {
        slot.Lease = lease;
        var fence = new CampaignFence(lease.CampaignId, lease.Epoch);
        // Raised inside the refused write's transaction, on the outbox's thread: the stop runs elsewhere.
        fence.Refused += why => Task.Run(() => Lose(slot, why));
        slot.Fence = fence;
    }

    /// <summary>Another node holds the campaign now: its fence refuses every write from here on, and the campaign is let go.</summary>
    private void Fenced(Slot slot, string why)
    {
        CampaignFence? fence;
        lock (_gate) fence = slot.Fence;
        if (fence is not null) fence.Refuse(why);
        else Lose(slot, why);
    }

    /// <summary>
    /// Why a call may not leave now (null: it may): this node's lease of the campaign ran out by its own clock, or was lost.
    /// Asked by the driver right before each originate, since Asterisk cannot check the fence: a node paused past its lease
    /// that wakes up with calls whose rows were written before the pause does not dial them behind the new owner's back.
    /// </summary>
    private string? MayPlace(Slot slot, long epoch)
    {
        CampaignLease? held;
        lock (_gate) held = slot.Lease;
        return held is { } l && l.Epoch == epoch && DateTime.UtcNow < l.Until ? null : "this node no longer holds the campaign's ownership lease";
    }

    /// <summary>Starts the campaign's engine under <paramref name="lease"/>; what made it fail (the lease is then released), else null.</summary>
    private async Task<Exception?> StartAsync(Slot slot, CampaignLease lease, DateTime leaseAt)
    {
        var c = slot.Config;
        try
        {
            // The database hopper hands out leads only while the campaign is running.
            new Campaigns(_db).SetStatus(slot.Record.Id, CampaignStatus.Running, DateTime.UtcNow);
            var telephony = c.Telephony with { Driver = c.Telephony.Driver with { SharedServers = true, MayPlace = () => MayPlace(slot, lease.Epoch) } };
            CampaignFence fence;
            lock (_gate) fence = slot.Fence!;
            // The owner it took over from (itself, restarted) and every owner before: what any of them left is recovered as its own.
            IReadOnlyCollection<string> over = lease.TakenFrom is { } from ? [from, .. lease.TakenOver] : lease.TakenOver;
            var engine = await CampaignEngine.StartAsync(telephony, _db, _pii, slot.Record, (c.Settings ?? slot.Record.Settings).ToConfig(c.Name),
                (c.Settings ?? slot.Record.Settings).CreatePacer(1), Node, _log, _options.ConnectTimeout, _stop.Token, over, fence, _agentStates);
            bool lost;
            lock (_gate)
            {
                slot.Engine = engine;
                slot.Starting = false;
                lost = slot.Lease?.Epoch != lease.Epoch; // renewals replace the lease; a loss clears it
                if (lost) slot.Losing = true;
            }
            if (lost)
            {
                engine.Outbox.Held = true;
                Track(FinishAsync(slot, engine, release: null, "lost while starting", _options.Lease));
                return null;
            }
            var r = engine.Reconciled;
            var state = engine.Engine.State;
            var ledger = state.Ledger;
            var e = new NodeEvent(NodeEventKind.Took, c.Name, Node, lease.TakenFrom, lease.Epoch, DateTime.UtcNow, leaseAt,
                $"{(lease.TakenFrom is { } f ? $"taken over from {f}" : "taken")}{(lease.TakenOver.Where(n => n != lease.TakenFrom).ToList() is { Count: > 0 } earlier ? $" (and from the owners before: {string.Join(", ", earlier)})" : "")} (epoch {lease.Epoch}), pacing {(DateTime.UtcNow - leaseAt).TotalSeconds:0.0} s after the lease; recovery: calls adopted (still bridged to an agent) {r.Adopted}, " +
                $"agent lines taken back {engine.Driver.Stats.AgentsTakenBack}, channels hung up (nobody could own them) {r.HungUp}, bridges deleted (nothing kept in them) {r.BridgesDeleted}; open attempts closed " +
                $"{r.Attempts.Closed} ({r.Attempts.Abandoned} as abandoned), {r.Attempts.LeasesReleased} leases released; abandon budget from the store: " +
                $"today {ledger.AbandonedToday}/{ledger.LiveToday}, 30 days {ledger.Abandoned30}/{ledger.Live30}; pacing from the store's recent calls: " +
                (double.IsNaN(state.RecentLiveP) ? "none (priors)" : $"live answers a call {state.RecentLiveP:0.00}, calibration {state.Calibration.Factor:0.00}"));
            Raise(e);
            return null;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Could not start (Asterisk unreachable, store failing): hand the campaign back for another node to try.
            _log(Redact.Numbers($"node {Node}: campaign '{c.Name}': could not start: {e.Message}; released"));
            lock (_gate)
            {
                slot.Lease = null;
                slot.Starting = false;
                slot.NotBefore = DateTime.UtcNow + _options.Lease;
            }
            try { _ownership.Release(lease); }
            catch (Exception re) when (re is not OutOfMemoryException) { _log(Redact.Numbers($"node {Node}: release failed: {re.Message}")); }
            return e;
        }
    }

    /// <summary>Between renewals: a lease whose time is up (renewals failing) stops its campaign's placements.</summary>
    /// <remarks>
    /// A running engine is suspended, not stopped: it places nothing (the outbox is held, and the driver asks the lease before
    /// each originate), its calls up go on, their rows wait in its outbox, and renewals go on. The first renewal that goes
    /// through (nobody took the campaign meanwhile: the epoch is still this one) resumes it; one that finds another epoch, or
    /// a write the store refuses, lets it go. Stopping instead would lose the rows of every call that ended while the store
    /// was away (measured: 20 writes and 10 conversations' outcomes over a 20 s outage with a 6 s lease).
    /// </remarks>
    private void Expire(DateTime utcNow)
    {
        foreach (var slot in _slots)
        {
            CampaignEngine? suspend = null;
            bool due;
            lock (_gate)
            {
                due = slot.Lease is { } l && utcNow >= l.Until && slot.SuspendedAt is null;
                if (due && slot.Engine is { } engine && !slot.Losing)
                {
                    (suspend, slot.SuspendedAt) = (engine, utcNow);
                    engine.Outbox.Held = true;
                }
            }
            if (!due) continue;
            const string why = "lease ran out by this node's clock: no renewal went through in time (store unreachable, or this process was paused)";
            if (suspend is null) Lose(slot, why); // still starting: StartAsync sees the lease gone
            else Raise(new NodeEvent(NodeEventKind.Suspended, slot.Config.Name, Node, null, 0, utcNow, null, $"{why}; no new call until a renewal goes through"));
        }
    }

    /// <summary>
    /// No new placement at once; the calls up go on for up to a lease, then the engine stops (<see cref="FinishAsync"/>: let go
    /// at once if another node took the campaign over). The lease is not ours to release.
    /// </summary>
    private void Lose(Slot slot, string why)
    {
        CampaignEngine? engine;
        lock (_gate)
        {
            if (slot.Lease is null) return;
            engine = slot.Engine;
            slot.Lease = null;
            // Still starting: StartAsync sees the lease gone. Draining: it already places nothing and its calls are finishing.
            if (engine is null || slot.Losing) return;
            slot.Losing = true;
        }
        engine.Outbox.Held = true;
        Raise(new NodeEvent(NodeEventKind.Lost, slot.Config.Name, Node, null, 0, DateTime.UtcNow, null, why));
        Track(FinishAsync(slot, engine, release: null, why, _options.Lease));
    }

    /// <summary>
    /// Moves a campaign off this node on purpose without dropping a call: no new placement, the calls up finish (up to
    /// <paramref name="timeout"/>; the rest is then hung up), the engine stops, and the lease is released so the next node
    /// takes the campaign at once. This node does not take it back for two leases.
    /// </summary>
    public async Task<bool> DrainAsync(string campaign, TimeSpan timeout)
    {
        var slot = _slots.FirstOrDefault(s => s.Config.Name == campaign) ?? throw new ArgumentException($"campaign '{campaign}' is not on node {Node}");
        CampaignEngine? engine;
        CampaignLease? lease;
        lock (_gate)
        {
            if (slot.Losing || slot.Engine is null || slot.Lease is null) return false;
            engine = slot.Engine;
            lease = slot.Lease;
            slot.Losing = true;
            slot.NotBefore = DateTime.UtcNow + _options.Lease * 2;
        }
        engine.Outbox.Held = true;
        await FinishAsync(slot, engine, lease, "drained", timeout);
        return true;
    }

    /// <summary>
    /// Waits up to <paramref name="wait"/> for the calls up to end, stops the engine (what is left is hung up), releases
    /// <paramref name="release"/>. A campaign lost to another node is let go instead, at once, nothing hung up: that node
    /// adopted the calls still bridged and took the agent lines back. Lost and the store unreachable, it is let go too: the
    /// next owner reconciles what is left, and a hang-up here could drop calls it adopted.
    /// </summary>
    private async Task FinishAsync(Slot slot, CampaignEngine engine, CampaignLease? release, string why, TimeSpan wait)
    {
        CampaignFence? fence;
        lock (_gate) fence = slot.Fence;
        var until = DateTime.UtcNow + wait;
        while (engine.Driver.LiveCalls > 0 && DateTime.UtcNow < until && fence is not { WasRefused: true }) await Task.Delay(50, CancellationToken.None);
        var left = engine.Driver.LiveCalls;
        var letGo = release is null && fence is not null && (fence.WasRefused || !StillHolds(fence));
        if (letGo) await engine.LetGoAsync();
        else await engine.DisposeAsync();
        if (engine.Host.Status == EngineStatus.Faulted) Faulted = true;
        lock (_gate)
        {
            slot.Engine = null;
            slot.Losing = false;
            if (release is not null) slot.Lease = null;
        }
        if (release is not null)
        {
            // Renewals kept it ours while draining; released last, after the engine wrote its last rows.
            try { _ownership.Release(release); }
            catch (Exception e) when (e is not OutOfMemoryException) { _log(Redact.Numbers($"node {Node}: release failed: {e.Message} (it runs out in {_options.Lease.TotalSeconds:0} s)")); }
        }
        Raise(new NodeEvent(release is null ? NodeEventKind.Stopped : NodeEventKind.HandedOver, slot.Config.Name, Node, null, release?.Epoch ?? 0,
            DateTime.UtcNow, null, $"{why}; " + (letGo ? $"let go with {left} calls up (left to the new owner), {engine.Unwritten} writes refused" : $"stopped with {left} calls up (hung up), {engine.Unwritten} attempt writes unwritten") +
                                   $", {engine.Host.Failures} loop failures" +
                             (engine.Host.Status == EngineStatus.Faulted ? $", FAULTED: {engine.Host.Fault}" : "")));
    }

    private bool StillHolds(CampaignFence fence)
    {
        try { return _ownership.StillHolds(fence); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log(Redact.Numbers($"node {Node}: campaign ownership unknown ({e.Message}): its calls are left to the next owner"));
            return false;
        }
    }

    private void Track(Task work)
    {
        lock (_work)
        {
            _work.RemoveAll(t => t.IsCompleted);
            _work.Add(work);
        }
    }

    private void Raise(NodeEvent e)
    {
        _log($"node {Node}: campaign '{e.Campaign}': {e.Detail}");
        Changed?.Invoke(e);
    }

    /// <summary>
    /// Stops the node: the renewal timer, then every campaign: drained for <see cref="NodeOptions.DrainTimeout"/> when it is
    /// above zero, else stopped at once (calls hung up); each lease is released so a standby takes over at once. A second
    /// call waits for the first stop.
    /// </summary>
    public ValueTask DisposeAsync() => new(_stopped.Value);

    private readonly Lazy<Task> _stopped;

    private async Task StopAsync()
    {
        Task[] pending;
        lock (_work)
        {
            _stopping = true; // nothing new is taken; renewals go on while the campaigns drain
            pending = [.. _work];
        }
        await Task.WhenAll(pending); // starts in progress end; engines that lost their campaign finish
        var drains = new List<Task>();
        foreach (var slot in _slots)
        {
            CampaignEngine? engine;
            CampaignLease? lease;
            lock (_gate)
            {
                engine = slot.Losing ? null : slot.Engine;
                lease = slot.Lease;
                if (engine is not null) slot.Losing = true;
            }
            if (engine is null) continue;
            engine.Outbox.Held = true;
            drains.Add(FinishAsync(slot, engine, lease, "node stopping", _options.DrainTimeout));
        }
        await Task.WhenAll(drains);
        await _agentStates.StopAsync(AgentStatesFlush); // after the engines: their agents' logouts are in
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private volatile bool _stopping;

    private sealed class Slot(RunConfig config, CampaignRecord record)
    {
        public RunConfig Config { get; } = config;
        public CampaignRecord Record { get; } = record;
        public CampaignLease? Lease;
        /// <summary>The fencing token of the lease the engine runs under (<see cref="Hold"/>).</summary>
        public CampaignFence? Fence;
        public CampaignEngine? Engine;
        /// <summary>Lost, handed over or stopping: no new call; the engine is finishing its calls.</summary>
        public bool Losing;
        /// <summary>When the lease ran out by this node's clock, the engine running (<see cref="Expire"/>): no new call until a renewal goes through.</summary>
        public DateTime? SuspendedAt;
        public bool Starting;
        public DateTime? FreeSince;
        /// <summary>Not taken before (after a drain, or a start that failed).</summary>
        public DateTime NotBefore;
    }
}

public enum NodeEventKind : byte { Took, Lost, HandedOver, Stopped, Suspended, Resumed }

/// <summary>What happened to a campaign on a node: taken (from whom, with which epoch, when the lease was taken; At is when pacing began), lost, handed over, stopped, suspended (its lease ran out by this node's clock), resumed.</summary>
public sealed record NodeEvent(NodeEventKind Kind, string Campaign, string Node, string? TakenFrom, long Epoch, DateTime At, DateTime? LeaseAt, string Detail);
