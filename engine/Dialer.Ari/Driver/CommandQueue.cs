namespace Dialer.Ari.Driver;

/// <summary>
/// One call's commands, run in the order they were queued, one after another, on the thread pool; calls run in parallel.
/// Queuing is a lock, an array slot and, when the call has nothing running, this queue handed to the pool as its own work
/// item: no task, closure or continuation is made on the caller's thread (the engine loop). A task chained per command
/// cost the loop 16.7 µs of a CallAnswered at p50 (issue 9's load run). The pool thread that drains it runs each command
/// until it completes; what a command allocates is its own.
/// </summary>
internal abstract class CommandQueue<TCommand> : IThreadPoolWorkItem where TCommand : struct
{
    private readonly Lock _gate = new();
    private TCommand[] _items = new TCommand[2];
    private int _head, _count;
    private bool _running;

    /// <summary>Carries out one command. Must not throw: a failure is the command's outcome, reported by it.</summary>
    protected abstract Task RunAsync(TCommand command);

    public void Enqueue(in TCommand command)
    {
        lock (_gate)
        {
            if (_count == _items.Length) Grow();
            _items[(_head + _count) % _items.Length] = command;
            _count++;
            if (_running) return; // the pool thread draining it takes this one next
            _running = true;
        }
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute() => _ = DrainAsync();

    private async Task DrainAsync()
    {
        while (TryTake(out var command)) await RunAsync(command);
    }

    private bool TryTake(out TCommand command)
    {
        lock (_gate)
        {
            if (_count == 0)
            {
                _running = false;
                command = default;
                return false;
            }
            command = _items[_head];
            _items[_head] = default; // the command's references go with it
            _head = (_head + 1) % _items.Length;
            _count--;
            return true;
        }
    }

    private void Grow()
    {
        var bigger = new TCommand[_items.Length * 2];
        for (var i = 0; i < _count; i++) bigger[i] = _items[(_head + i) % _items.Length];
        _items = bigger;
        _head = 0;
    }
}
