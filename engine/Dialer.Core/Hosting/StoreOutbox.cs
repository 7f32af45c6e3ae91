using System.Diagnostics;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Text;

namespace Dialer.Core.Hosting;

/// <summary>
/// Keeps the store's blocking I/O off the engine loop. To the engine it is the lead source and the attempt log, and every
/// call it takes returns at once: leads come from an in-memory prefetch, writes go into a queue. One background thread owns
/// the real (blocking) lead source and attempt log and is the only one to touch them: it writes the queue in order, in
/// batches (one transaction each when <see cref="Batch"/> is given), retrying with back-off until the store takes them, and
/// refills the prefetch while the campaign is open.
/// The attempt row is still durable before its call exists: the outbox is <see cref="IAttemptLog.Deferred"/>, so the engine
/// holds the originate until the batch holding the row has committed and <see cref="EventKind.AttemptStored"/> comes back.
/// Back-pressure: while writes fail or the oldest waits longer than <see cref="MaxLag"/> (or more than <see cref="MaxBacklog"/>
/// are queued), <see cref="Accepting"/> is false and the engine places nothing; it resumes by itself once the store catches up.
/// A retried batch may repeat writes that had committed before a lost reply, so the writes must be idempotent (the attempt
/// insert ignores a row already there; the updates set values).
/// </summary>
public sealed class StoreOutbox : ILeadSource, IAttemptLog
{
    private readonly ILeadSource _leads;
    private readonly IAttemptLog _log;
    private readonly Func<EngineEvent, ValueTask> _post;
    private readonly TimeProvider _time;
    // The writes in order, guarded by locking it: the engine adds at the tail, the worker removes the head once written. A
    // plain queue reuses its ring; a ConcurrentQueue that is peeked (Accepting, per placement) never reuses a segment, and
    // allocated 56 B on the loop for every write queued.
    private readonly Queue<Op> _ops = new();
    // The head of the queue the worker is writing (copied under the lock, written without it).
    private Op[] _writing = [];
    // Prefetched leads, best last (the engine takes from the end, and gives back there): due retries and callbacks, in the
    // order they came due, are taken before any fresh lead. Both lists are guarded by locking _ready.
    private readonly List<Lead> _due = [];
    private readonly List<Lead> _ready = [];
    // The queues the engine refused at its last look (guarded by _ready), and the worker's copy of them for its claim.
    private readonly HashSet<int> _heldBack = [], _claimPassesOver = [];
    private readonly Func<Lead, bool> _notHeldBack;
    private LeadOrder _order;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<long> _stored = [];
    private Thread? _worker;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _failing;
    // The engine found no lead it could take at its last look (1): the next stocking tells it (LeadsStocked).
    private int _starved;
    private int _queued;
    // Attempt rows queued (guarded by _ops): a call waits for its row, so these are written at once; the other writes wait for
    // them or for the linger's end.
    private int _placedQueued;
    private long _writeFailures, _claimFailures, _written;
    private DateTime _cycleAt, _dueAt, _windowAt;
    // Leads the engine took (net of those it gave back), and how many it took in the last full window: the prefetch's size.
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private long _taken, _takenAtWindow;
    private int _lastWindow;
    // What the last refill aimed at: below half of it the worker is woken to top the prefetch up.
    private volatile int _target = 4;
    // The lead source's stock as the worker last read it (guarded by _ready).
    private LeadStock _stock = LeadStock.Unknown;

    /// <param name="post">Where <see cref="EventKind.AttemptStored"/> and <see cref="EventKind.LeadsStocked"/> go (EngineHost.PostAsync).</param>
    public StoreOutbox(ILeadSource leads, IAttemptLog log, Func<EngineEvent, ValueTask> post, TimeProvider time)
    {
        _leads = leads;
        _log = log;
        _post = post;
        _time = time;
        _order = new LeadOrder(_campaign);
        _notHeldBack = lead => !_claimPassesOver.Contains(_campaign.QueueOf(lead));
    }

    /// <summary>The campaign whose leads these are: its queues (<see cref="CampaignConfig.QueueOf"/>) are what the engine refuses.</summary>
    public CampaignConfig Campaign
    {
        get => _campaign;
        init
        {
            _campaign = value;
            _order = new LeadOrder(value);
        }
    }
    private CampaignConfig _campaign = new();

    /// <summary>
    /// The most leads kept ready for the engine; it keeps about the last 10 s of placements, 4 more to spare. The engine
    /// finding it empty waits a second before it asks again, so it must outlast the worker's round (write batch, then claim):
    /// at 64 the load run placed 47 of 500 calls/s, one prefetch a second.
    /// </summary>
    public int Prefetch { get; init; } = 2_000;
    public int MaxBacklog { get; init; } = 5_000;
    public TimeSpan MaxLag { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>Writes per batch at most: one transaction, and on PostgreSQL one round trip for its statements (StoreDb.Send).</summary>
    public int BatchSize { get; init; } = 1024;
    /// <summary>
    /// Group commit: how long writes no call waits for (a call's close, a lead's next due time) may wait for the next attempt
    /// row, to share its transaction, before they are written alone. Well under <see cref="MaxLag"/>, which holds placements.
    /// </summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>Prefetched leads go back to the source this often, so none outlives its lease in the prefetch.</summary>
    public TimeSpan Cycle { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Whether the campaign may dial now (its status in the store): read here, off the loop; closed, the prefetch is handed back.</summary>
    public Func<DateTime, bool>? IsOpen { get; init; }
    /// <summary>Runs its argument in one transaction (the store's batch); without it each write is its own.</summary>
    public Action<Action>? Batch { get; init; }
    /// <summary>Runs on the worker after the last write at stop (e.g. the lead source releases the leases it holds).</summary>
    public Action? OnStopped { get; init; }
    public Action<string>? Log { get; init; }
    /// <summary>
    /// Due retries and callbacks, asked for once a second apart from the prefetch and put ahead of it: a retry is never held
    /// behind fresh leads prefetched before it was due.
    /// </summary>
    public Func<DateTime, IReadOnlyList<Lead>>? Due { get; init; }

    /// <summary>
    /// No new call while set (placements count as held, like a store that is behind); calls up go on. Set when this node
    /// no longer holds the campaign's ownership lease, or is handing the campaign over.
    /// </summary>
    public bool Held
    {
        get => Volatile.Read(ref _held);
        set => Volatile.Write(ref _held, value);
    }
    private bool _held;

    public bool Deferred => true;
    public bool Accepting => !Held && !_failing && Volatile.Read(ref _queued) < MaxBacklog && !OldestLate();

    private bool OldestLate()
    {
        lock (_ops) return _ops.TryPeek(out var head) && Stopwatch.GetElapsedTime(head.Queued) > MaxLag;
    }

    private bool Empty
    {
        get { lock (_ops) return _ops.Count == 0; }
    }

    /// <summary>Whether what is queued is to be written now: an attempt row a call waits for, or a full batch.</summary>
    private bool Urgent
    {
        get { lock (_ops) return _placedQueued > 0 || _ops.Count >= BatchSize; }
    }
    /// <summary>Writes waiting or in progress.</summary>
    public int Backlog => Volatile.Read(ref _queued);
    public long Written => Interlocked.Read(ref _written);
    public long WriteFailures => Interlocked.Read(ref _writeFailures);
    public long ClaimFailures => Interlocked.Read(ref _claimFailures);
    public string? LastError { get; private set; }
    public int Prefetched { get { lock (_ready) return _due.Count + _ready.Count; } }

    public void Start()
    {
        _worker = new Thread(Work) { IsBackground = true, Name = "store-outbox" };
        _worker.Start();
    }

    // ---- the engine's side (its loop thread): never blocks --------------------------------------------

    public Lead? Next(DateTime utcNow) => Next(utcNow, static _ => true, int.MaxValue);

    /// <summary>
    /// The best prefetched lead <paramref name="accept"/> takes, by the one rule of lead order (<see cref="LeadOrder"/>): a refused
    /// queue's leads stay where they are, passed over. The queues refused are told to the worker, which then stocks and claims
    /// only other leads: without that a prefetch filled with leads for a few busy senior agents starved every other lead.
    /// </summary>
    public Lead? Next(DateTime utcNow, Func<Lead, bool> accept, int lookahead = 64)
    {
        Lead? lead;
        int left;
        lock (_ready)
        {
            _order.Begin(accept, lookahead);
            lead = Take(_due) ?? Take(_ready);
            _heldBack.Clear();
            _heldBack.UnionWith(_order.RefusedQueues);
            left = OfferableLocked();
        }
        if (lead is not null) Interlocked.Increment(ref _taken);
        else Volatile.Write(ref _starved, 1);
        if (lead is null || left < _target / 2) Wake();
        return lead;
    }

    /// <summary>The best (last) lead of <paramref name="from"/> the look takes, out of the list; the ones passed over keep their place.</summary>
    private Lead? Take(List<Lead> from)
    {
        for (var i = from.Count - 1; i >= 0 && _order.Open; i--)
        {
            if (!_order.Offer(from[i])) continue;
            var lead = from[i];
            from.RemoveAt(i);
            return lead;
        }
        return null;
    }

    /// <summary>Prefetched leads whose queue the engine did not refuse at its last look (under the lock): what the refill tops up.</summary>
    private int OfferableLocked()
    {
        if (_heldBack.Count == 0) return _due.Count + _ready.Count;
        var n = 0;
        foreach (var l in _due) if (!_heldBack.Contains(Campaign.QueueOf(l))) n++;
        foreach (var l in _ready) if (!_heldBack.Contains(Campaign.QueueOf(l))) n++;
        return n;
    }

    private int Offerable() { lock (_ready) return OfferableLocked(); }

    /// <summary>The source's stock as the worker last read it (each refill asks; the source recounts at most every <see cref="LeadStock.RecountSeconds"/>): no I/O here.</summary>
    public LeadStock Stock(DateTime utcNow)
    {
        lock (_ready) return _stock;
    }

    public void Release(Lead lead, DateTime utcNow)
    {
        Interlocked.Decrement(ref _taken);
        lock (_ready) _due.Add(lead); // the engine's next choice again
    }

    public void Finished(Lead lead, CallOutcome outcome, DateTime utcNow) => Enqueue(new Op(OpKind.LeadFinished, null, lead, outcome, utcNow));
    /// <summary>Queued like a finish (the store's update is blocking I/O); the lead is not in the prefetch meanwhile, so it cannot go out twice.</summary>
    public void Reschedule(Lead lead, DateTime dueUtc, bool callback, DateTime utcNow) =>
        Enqueue(new Op(callback ? OpKind.LeadCallback : OpKind.LeadRescheduled, null, lead, default, dueUtc));
    public void Placed(Call call) => Enqueue(new Op(OpKind.Placed, call, call.Lead, default, default));
    public void Finished(Call call) => Enqueue(new Op(OpKind.CallFinished, call, call.Lead, default, default));

    private void Enqueue(in Op op)
    {
        Interlocked.Increment(ref _queued);
        bool urgent;
        lock (_ops)
        {
            _ops.Enqueue(op with { Queued = Stopwatch.GetTimestamp() });
            if (op.Kind == OpKind.Placed) _placedQueued++;
            urgent = _placedQueued > 0 || _ops.Count >= BatchSize;
        }
        // The others wait for the worker's next round (at most Linger): a wake-up (a thread switch on each side) and a
        // transaction of their own for every call's close and lead update was most of the writer's cost at 10 calls/s.
        if (urgent) Wake();
    }

    private void Wake()
    {
        if (_wake.CurrentCount == 0)
            try { _wake.Release(); }
            catch (SemaphoreFullException) { } // another thread woke it first
    }

    /// <summary>
    /// Stops: writes everything queued, hands the prefetch back to the lead source and runs <see cref="OnStopped"/> (each
    /// retried for up to <paramref name="timeout"/>). Returns the writes left unwritten (0: nothing lost; else they are settled by
    /// reconciliation at the next start).
    /// </summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        if (_worker is null) return Backlog;
        _stopDeadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        await _stop.CancelAsync();
        Wake();
        await _stopped.Task.WaitAsync(timeout + TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        return Backlog;
    }

    private long _stopDeadline = long.MaxValue;

    // ---- the worker thread: owns the real lead source and attempt log ----------------------------------

    private void Work()
    {
        var backoff = TimeSpan.FromMilliseconds(50);
        try
        {
            while (true)
            {
                var stopping = _stop.IsCancellationRequested;
                if (!WriteBatch())
                {
                    if (stopping && Stopwatch.GetTimestamp() > _stopDeadline) break;
                    Thread.Sleep(backoff);
                    backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
                    continue;
                }
                backoff = TimeSpan.FromMilliseconds(50);
                // A slow store may still be writing at the stop deadline: what is left is reported, not waited for.
                if (stopping && Stopwatch.GetTimestamp() > _stopDeadline) break;
                if (Urgent || (stopping && !Empty))
                {
                    // At a high call rate writes never run out: the prefetch is topped up between batches, else the
                    // engine runs dry of leads (measured: 35 of 500 calls/s placed on a loaded machine); and due retries
                    // are asked for on time, else fresh leads from the prefetch go out ahead of them.
                    if (!stopping && (Offerable() < _target / 2 || DueAsk(_time.GetUtcNow().UtcDateTime))) Refill();
                    continue;
                }
                if (stopping) break;
                Refill();
                _wake.Wait(Linger); // the writes left (none a call waits for) go with the next attempt row, or alone after this
            }
            backoff = TimeSpan.FromMilliseconds(50);
            while (!GiveBack())
            {
                // A store that is still failing at the deadline keeps the leases until they run out (Lease), reported.
                if (Stopwatch.GetTimestamp() > _stopDeadline) throw new TimeoutException($"leases not handed back by the stop deadline: {LastError}");
                Thread.Sleep(backoff);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
        catch (Exception e)
        {
            LastError = Redact.Numbers($"store: stopping: {e.Message}");
            Log?.Invoke(LastError);
        }
        finally { _stopped.TrySetResult(); }
    }

    /// <summary>
    /// Writes the next batch from the head of the queue; false when it failed. In one transaction (<see cref="Batch"/>) a
    /// failure undoes the batch and it is retried whole; without, the writes made before the failure stay done.
    /// </summary>
    private bool WriteBatch()
    {
        int count;
        lock (_ops)
        {
            count = Math.Min(_ops.Count, BatchSize);
            if (count == 0) return true;
            if (_writing.Length < count) _writing = new Op[BatchSize];
            var i = 0;
            foreach (var op in _ops)
                if (i < count) _writing[i++] = op;
                else break;
        }
        var n = 0;
        void Apply()
        {
            n = 0;
            _stored.Clear();
            for (; n < count; n++)
            {
                var op = _writing[n];
                switch (op.Kind)
                {
                    case OpKind.Placed:
                        _log.Placed(op.Call!);
                        _stored.Add(op.Call!.Id);
                        break;
                    case OpKind.CallFinished: _log.Finished(op.Call!); break;
                    case OpKind.LeadFinished: _leads.Finished(op.Lead, op.Outcome, op.At); break;
                    case OpKind.LeadRescheduled or OpKind.LeadCallback: _leads.Reschedule(op.Lead, op.At, op.Kind == OpKind.LeadCallback, op.At); break;
                }
            }
        }
        var ok = true;
        try
        {
            if (Batch is { } batch) batch(Apply);
            else Apply();
        }
        catch (Exception e)
        {
            if (!_failing) Log?.Invoke(Redact.Numbers($"store: writing failed, new calls held until it recovers: {e.GetType().Name}: {e.Message}"));
            LastError = Redact.Numbers(e.Message);
            _failing = true; // before the count: whoever sees the failure counted sees placement held
            Interlocked.Increment(ref _writeFailures);
            ok = false;
            if (Batch is not null)
            {
                n = 0;
                _stored.Clear();
            }
        }
        if (ok && _failing)
        {
            Log?.Invoke("store: writing again, new calls resume");
            _failing = false;
        }
        lock (_ops)
            for (var i = 0; i < n; i++)
                if (_ops.Dequeue().Kind == OpKind.Placed) _placedQueued--;
        Array.Clear(_writing, 0, count); // the calls and leads written are not kept alive here
        Interlocked.Add(ref _queued, -n);
        Interlocked.Add(ref _written, n);
        foreach (var id in _stored) Post(EngineEvent.Stored(id));
        _stored.Clear();
        return ok;
    }

    /// <summary>To the engine, from the worker (which waits while the engine's queue is full).</summary>
    private void Post(EngineEvent e)
    {
        var posted = _post(e);
        if (!posted.IsCompleted) posted.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Leads went into the prefetch: an engine that found none looks again now, not a second later.</summary>
    private void Stocked()
    {
        if (Interlocked.Exchange(ref _starved, 0) == 1) Post(EngineEvent.Stocked());
    }

    private void Refill()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        try
        {
            if (IsOpen is { } open && !open(now))
            {
                HandBack();
                _leads.Next(now); // a closed campaign's source lets its leases go when asked
                return;
            }
            var stock = _leads.Stock(now);
            lock (_ready) _stock = stock;
            if (now - _cycleAt > Cycle)
            {
                _cycleAt = now;
                HandBack();
            }
            if (Due is { } due && DueAsk(now))
            {
                _dueAt = now;
                var urgent = due(now);
                lock (_ready) _due.InsertRange(0, urgent.Reverse()); // behind those due before them, ahead of every fresh lead
                if (urgent.Count > 0) Stocked();
            }
            // Sized to need: what the engine took in the last 10 s (or more in the 10 s now counting), 4 more to spare.
            var taken = Interlocked.Read(ref _taken);
            if (now - _windowAt >= Window)
            {
                _lastWindow = now - _windowAt < Window * 2 ? (int)Math.Max(0, taken - _takenAtWindow) : 0;
                _takenAtWindow = taken;
                _windowAt = now;
            }
            var target = _target = Math.Clamp(Math.Max(_lastWindow, (int)(taken - _takenAtWindow)) + 4, Math.Min(4, Prefetch), Prefetch);
            int have;
            lock (_ready)
            {
                have = OfferableLocked();
                _claimPassesOver.Clear();
                _claimPassesOver.UnionWith(_heldBack);
            }
            if (have >= target) return;
            var fresh = new List<Lead>(target - have);
            // The source's next claim may fail (a killed connection) after it handed out leads from its buffer: those are
            // this node's, leased to it, and known nowhere else, so they are stocked either way (dropped, 8 of 40 leads
            // stayed leased after a stop in OutboxTests, until their lease ran out).
            try
            {
                // Leads of the queues the engine refuses are left to the source (the database hopper leaves them in the table).
                while (fresh.Count < target - have && (_claimPassesOver.Count == 0 ? _leads.Next(now) : _leads.Next(now, _notHeldBack)) is { } lead) fresh.Add(lead);
            }
            finally { Stock(fresh); }
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _claimFailures);
            LastError = Redact.Numbers(e.Message);
            Log?.Invoke(Redact.Numbers($"store: claiming leads failed (retried): {e.GetType().Name}: {e.Message}"));
        }
    }

    /// <summary>Leads the source handed out, best first, into the prefetch.</summary>
    private void Stock(List<Lead> fresh)
    {
        if (fresh.Count == 0) return;
        // A retry the source handed out with fresh leads (due when it claimed them) is not held behind the prefetch either.
        var retries = fresh.Where(l => l.Attempts > 0).Reverse().ToList();
        fresh.RemoveAll(l => l.Attempts > 0);
        fresh.Reverse(); // worst first: the engine takes from the end
        lock (_ready)
        {
            _due.InsertRange(0, retries);
            _ready.InsertRange(0, fresh);
        }
        Stocked();
    }

    /// <summary>
    /// At stop: the prefetch back to the lead source and <see cref="OnStopped"/>; false when the store failed (a killed pooled
    /// connection fails its next use), to be tried again: what the source could not hand back it still holds.
    /// </summary>
    private bool GiveBack()
    {
        try
        {
            HandBack();
            OnStopped?.Invoke();
            return true;
        }
        catch (Exception e)
        {
            LastError = Redact.Numbers(e.Message);
            Log?.Invoke(Redact.Numbers($"store: handing leases back failed (retried): {e.GetType().Name}: {e.Message}"));
            return false;
        }
    }

    /// <summary>Whether due retries are to be asked for now: once a second.</summary>
    private bool DueAsk(DateTime now) => Due is not null && now - _dueAt >= TimeSpan.FromSeconds(1);

    /// <summary>Prefetched leads go back to the lead source untouched.</summary>
    private void HandBack()
    {
        List<Lead> back;
        lock (_ready)
        {
            back = [.. _ready, .. _due];
            _ready.Clear();
            _due.Clear();
        }
        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var lead in back) _leads.Release(lead, now); // best last in, best first out of a stacking source
    }

    private enum OpKind : byte { Placed, CallFinished, LeadFinished, LeadRescheduled, LeadCallback }

    private readonly record struct Op(OpKind Kind, Call? Call, Lead Lead, CallOutcome Outcome, DateTime At)
    {
        public long Queued { get; init; }
    }
}
