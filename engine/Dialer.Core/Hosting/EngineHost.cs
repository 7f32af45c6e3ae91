using System.Threading.Channels;
using Dialer.Core.Engine;
using Dialer.Core.Text;

namespace Dialer.Core.Hosting;

public enum EngineStatus : byte
{
    Running,
    /// <summary>The loop failed in a way that leaves its state unknown: it places no call, sends waiting callees to safe harbor, refuses queries, and still ends the calls up.</summary>
    Faulted,
    Stopped,
}

/// <summary>A query the engine cannot answer: it has faulted or stopped. The message says which, and why.</summary>
public sealed class EngineUnavailableException(EngineStatus status, string message) : Exception(message)
{
    public EngineStatus Status { get; } = status;
}

/// <summary>
/// Runs a <see cref="DialerEngine"/> in real time: the one loop that owns it, and what ARCHITECTURE.md calls the supervisor.
/// Drivers and the API post events into a bounded channel (writers wait when it is full: events are never dropped) and read
/// the engine through <see cref="QueryAsync{T}"/>, which runs on the loop. Engine time is monotonic (the start's wall clock
/// plus a monotonic stopwatch), so a wall-clock step back never reaches the engine; each event is stamped with its arrival
/// unless it carries when it happened.
/// A failure handling an event or a tick is logged (numbers masked), counted and kept in <see cref="LastFailure"/>, and the
/// loop goes on; <see cref="FaultAfter"/> failures within <see cref="FaultWindow"/> mean the state can no longer be trusted:
/// the host halts the engine (<see cref="DialerEngine.Halt"/>), reports <see cref="EngineStatus.Faulted"/>, and fails every
/// pending and future query with <see cref="EngineUnavailableException"/>, so no caller waits forever.
/// </summary>
public sealed class EngineHost
{
    private readonly Channel<Work> _inbox;
    private readonly DialerEngine _engine;
    private readonly TimeProvider _time;
    private readonly DateTime _startUtc;
    private readonly long _startTicks;
    private readonly Queue<DateTime> _recentFailures = new();
    private volatile EngineStatus _status;
    private long _failures;
    // No spinning before it blocks: at a few events a second each wake-up's spin would be most of the loop's CPU (issue 11).
    private readonly ManualResetEventSlim _woken = new(false, spinCount: 0);
    private int _sleeping;

    public EngineHost(DialerEngine engine, TimeProvider time, int capacity = 65_536)
    {
        _engine = engine;
        _time = time;
        _startUtc = time.GetUtcNow().UtcDateTime;
        _startTicks = time.GetTimestamp();
        _inbox = Channel.CreateBounded<Work>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    }

    public TimeProvider Time => _time;
    /// <summary>The loop's clock: monotonic, in UTC terms.</summary>
    public DateTime Now => _startUtc + _time.GetElapsedTime(_startTicks);
    public EngineStatus Status => _status;
    /// <summary>Why the engine faulted (null while it has not).</summary>
    public string? Fault { get; private set; }
    /// <summary>Events and ticks whose handling threw, since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);
    public string? LastFailure { get; private set; }
    public int FaultAfter { get; init; } = 3;
    public TimeSpan FaultWindow { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// How long the engine took over each pacing tick ([0]) and each event ([1]), in power-of-two microsecond bins: bin i
    /// counts steps of at least 2^(i-1) and under 2^i µs (bin 0: under 1 µs; the last bin: the rest). Written on the loop; read it there (<see cref="QueryAsync{T}"/>).
    /// </summary>
    public long[][] StepMicros { get; } = [new long[StepBins], new long[StepBins]];
    public const int StepBins = 24;

    /// <summary>Where failures are told (already masked).</summary>
    public Action<string>? Log { get; init; }
    /// <summary>
    /// Told, on the loop, how long the engine took on each event (its kind) or tick (null): the loop's own time, for load
    /// runs. It runs on the hot path, so it must be quick and allocate nothing; null (the default) costs nothing.
    /// </summary>
    public Action<EventKind?, TimeSpan>? Handled { get; init; }
    /// <summary>Raised on the loop when the status changes (to faulted or stopped), with the reason.</summary>
    public event Action<EngineStatus, string?>? StatusChanged;

    /// <summary>Posts an event, stamped with its arrival unless it says when it happened. After the loop stopped it is dropped: nothing is left to act on it.</summary>
    public ValueTask PostAsync(EngineEvent e, CancellationToken ct = default)
    {
        var w = new Work(e.HappenedAt(Now), null);
        if (!_inbox.Writer.TryWrite(w)) return PostSlowAsync(w, ct);
        WakeLoop();
        return default;
    }

    private async ValueTask PostSlowAsync(Work w, CancellationToken ct)
    {
        try { await _inbox.Writer.WriteAsync(w, ct); }
        catch (ChannelClosedException) { }
        WakeLoop();
    }

    /// <summary>The loop sleeps on <see cref="_woken"/> only after saying so in <see cref="_sleeping"/>: a post wakes it then, and only then.</summary>
    private void WakeLoop()
    {
        if (Volatile.Read(ref _sleeping) == 1) _woken.Set();
    }

    /// <summary>Runs <paramref name="read"/> on the engine loop (engine state is not thread-safe) and returns its result; throws <see cref="EngineUnavailableException"/> once the engine faulted or stopped.</summary>
    public async Task<T> QueryAsync<T>(Func<DialerEngine, T> read, CancellationToken ct = default)
    {
        ThrowIfUnavailable();
        var q = new Query<T>(read);
        try { await _inbox.Writer.WriteAsync(new Work(default, q), ct); }
        catch (ChannelClosedException) { throw Unavailable(); }
        WakeLoop();
        return await q.Done.Task.WaitAsync(ct);
    }

    /// <summary>
    /// The loop: handle events as they come, and tick the engine whenever it asked to be woken. It runs on a thread of its own,
    /// woken straight by a post: on the thread pool its wake-up queued behind the REST and socket work of hundreds of calls
    /// (issue 9's load run at 415 calls/s: answer → bridge command p99 25.7 ms). Completes when <paramref name="ct"/> is
    /// cancelled or the inbox completed; every query left is then failed.
    /// </summary>
    public Task RunAsync(CancellationToken ct)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var loop = new Thread(() =>
        {
            try
            {
                Run(ct);
                done.SetResult();
            }
            catch (Exception e) { done.SetException(e); }
        }) { IsBackground = true, Name = "engine loop" };
        loop.Start();
        return done.Task;
    }

    private void Run(CancellationToken ct)
    {
        var reader = _inbox.Reader;
        using var stop = ct.UnsafeRegister(static host => ((EngineHost)host!).WakeLoop(), this);
        try
        {
            Loop(reader, ct);
        }
        finally
        {
            if (_status != EngineStatus.Faulted) SetStatus(EngineStatus.Stopped, Fault);
            _inbox.Writer.TryComplete();
            while (reader.TryRead(out var w)) w.Query?.Fail(Unavailable());
        }
    }

    private void Loop(ChannelReader<Work> reader, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Guard(null);
            while (reader.TryRead(out var w)) Apply(w);
            if (reader.Completion.IsCompleted) return; // completed and drained
            var wait = _engine.NextWakeAt - Now;
            if (wait <= TimeSpan.Zero) continue;
            // Wake at least once a second: a deadline can never be missed by more than that even if the wake-up sum is off.
            Sleep(reader, wait < TimeSpan.FromSeconds(1) ? wait : TimeSpan.FromSeconds(1), ct);
        }
    }

    /// <summary>Until a post, the stop, or <paramref name="wait"/> is over (the loop's wake-up: no timer, nothing allocated).</summary>
    private void Sleep(ChannelReader<Work> reader, TimeSpan wait, CancellationToken ct)
    {
        _woken.Reset();
        Interlocked.Exchange(ref _sleeping, 1);
        // Checked after saying it sleeps: what was posted or stopped before is seen here, what comes after wakes it.
        // Whole milliseconds, rounded up: a wait under one would return at once and spin until the wake-up is due.
        if (!reader.TryPeek(out _) && !ct.IsCancellationRequested && !reader.Completion.IsCompleted) _woken.Wait((int)Math.Ceiling(wait.TotalMilliseconds));
        Volatile.Write(ref _sleeping, 0);
    }

    /// <summary>No more events will be posted; <see cref="RunAsync"/> returns once the inbox is drained.</summary>
    public void Complete()
    {
        _inbox.Writer.TryComplete();
        WakeLoop();
    }

    private void Apply(in Work w)
    {
        if (w.Query is { } q)
        {
            if (_status == EngineStatus.Faulted) q.Fail(Unavailable());
            else q.Run(_engine);
        }
        else Guard(w.Event);
    }

    /// <summary>One event (or, with null, a tick) on the engine; a throw is counted and may fault the host, never ends the loop.</summary>
    private void Guard(EngineEvent? e)
    {
        var started = _time.GetTimestamp();
        try
        {
            if (e is { } ev) _engine.Handle(ev, Now);
            else _engine.Tick(Now);
        }
        catch (Exception ex)
        {
            Failed(e is { } ev ? $"handling {ev.Kind}" : "pacing", ex);
        }
        // One reading serves the /metrics histogram and a load run's exact timings.
        var took = _time.GetElapsedTime(started);
        var micros = (long)took.TotalMicroseconds;
        StepMicros[e is null ? 0 : 1][Math.Min(StepBins - 1, micros <= 0 ? 0 : 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)micros))]++;
        Handled?.Invoke(e?.Kind, took);
    }

    private void Failed(string what, Exception ex)
    {
        Interlocked.Increment(ref _failures);
        var message = Redact.Numbers($"engine: {what} failed: {ex.GetType().Name}: {ex.Message}");
        LastFailure = message;
        Log?.Invoke(message);
        var now = Now;
        _recentFailures.Enqueue(now);
        while (_recentFailures.Peek() < now - FaultWindow) _recentFailures.Dequeue();
        if (_status != EngineStatus.Running || _recentFailures.Count < FaultAfter) return;
        Fault = $"{_recentFailures.Count} failures within {FaultWindow.TotalSeconds:0} s, the last: {message}";
        SetStatus(EngineStatus.Faulted, Fault);
        try { _engine.Halt(now); }
        catch (Exception halt) { Log?.Invoke(Redact.Numbers($"engine: halting failed too: {halt.Message}")); }
        Log?.Invoke($"engine: FAULTED: no new calls; waiting callees sent to safe harbor ({Fault})");
    }

    private void SetStatus(EngineStatus status, string? reason)
    {
        if (_status == status) return;
        _status = status;
        StatusChanged?.Invoke(status, reason);
    }

    private void ThrowIfUnavailable()
    {
        if (_status != EngineStatus.Running) throw Unavailable();
    }

    private EngineUnavailableException Unavailable() => _status == EngineStatus.Faulted
        ? new EngineUnavailableException(EngineStatus.Faulted, $"the campaign engine has faulted: {Fault}")
        : new EngineUnavailableException(EngineStatus.Stopped, "the campaign engine has stopped");

    private abstract class QueryBase
    {
        public abstract void Run(DialerEngine engine);
        public abstract void Fail(Exception e);
    }

    private sealed class Query<T>(Func<DialerEngine, T> read) : QueryBase
    {
        public TaskCompletionSource<T> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Run(DialerEngine engine)
        {
            try { Done.SetResult(read(engine)); }
            catch (Exception ex) { Done.SetException(ex); }
        }

        public override void Fail(Exception e) => Done.TrySetException(e);
    }

    private readonly record struct Work(EngineEvent Event, QueryBase? Query);
}
