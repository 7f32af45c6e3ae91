using System.Threading.Channels;
using Dialer.Core.Engine;

namespace Dialer.Core.Hosting;

/// <summary>
/// Runs a <see cref="DialerEngine"/> in real time: the one loop that owns it. Drivers and the API post
/// events into a bounded channel (writers wait when it is full: events are never dropped) and read the
/// engine through <see cref="QueryAsync{T}"/>, which runs on the loop. Time comes from a
/// <see cref="TimeProvider"/>, so tests can drive it with a fake clock.
/// </summary>
public sealed class EngineHost(DialerEngine engine, TimeProvider time, int capacity = 65_536)
{
    private readonly Channel<Work> _inbox = Channel.CreateBounded<Work>(
        new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    public TimeProvider Time => time;

    public ValueTask PostAsync(EngineEvent e, CancellationToken ct = default) => _inbox.Writer.WriteAsync(new Work(e, null), ct);

    /// <summary>Runs <paramref name="read"/> on the engine loop (engine state is not thread-safe) and returns its result.</summary>
    public async Task<T> QueryAsync<T>(Func<DialerEngine, T> read, CancellationToken ct = default)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        await _inbox.Writer.WriteAsync(new Work(default, e =>
        {
            try { done.SetResult(read(e)); }
            catch (Exception ex) { done.SetException(ex); }
        }), ct);
        return await done.Task.WaitAsync(ct);
    }

    /// <summary>The loop: handle events as they come, and tick the engine whenever it asked to be woken.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var reader = _inbox.Reader;
        while (!ct.IsCancellationRequested)
        {
            var now = time.GetUtcNow().UtcDateTime;
            engine.Tick(now);
            while (reader.TryRead(out var w)) Apply(w);
            var wait = engine.NextWakeAt - time.GetUtcNow().UtcDateTime;
            if (wait <= TimeSpan.Zero) continue;
            // Wake at least once a second so a clock step never strands the engine.
            using var delay = new CancellationTokenSource(wait < TimeSpan.FromSeconds(1) ? wait : TimeSpan.FromSeconds(1), time);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct, delay.Token);
            try
            {
                if (await reader.WaitToReadAsync(timeout.Token)) continue;
                return; // writer completed
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
        }
    }

    /// <summary>No more events will be posted; <see cref="RunAsync"/> returns once the inbox is drained.</summary>
    public void Complete() => _inbox.Writer.TryComplete();

    private void Apply(in Work w)
    {
        if (w.Query is { } q) q(engine);
        else engine.Handle(w.Event, time.GetUtcNow().UtcDateTime);
    }

    private readonly record struct Work(EngineEvent Event, Action<DialerEngine>? Query);
}
