using System.Text.Json;
using System.Threading.Channels;
using Dialer.Core.Domain;

namespace Dialer.Store;

/// <summary>
/// The one writer of agent_states, for every engine of a node (`dialer run` and `dialer serve` alike, through
/// <c>NodeHost</c>). The engine tells each change on its loop (<see cref="For"/>): that copies four fields into a bounded
/// queue and nothing else (no allocation, no I/O); this writer's own task stores the queue in order, up to 1,000 changes
/// per transaction. Failure model: a write the store refuses (down, restarting, stalled past its timeout) is retried whole
/// with back-off (50 ms doubling to 2 s) and the changes behind it wait in the queue, so an outage loses nothing while
/// fewer than <see cref="Capacity"/> changes wait (200 agents make a few a second: hours of outage); beyond that a new
/// change is dropped and counted (<see cref="Lost"/>), never holding up the engine. One line is logged when the store
/// first refuses and one when it takes them again. A retried batch whose commit went through before its reply was lost
/// is stored twice: a repeated change has the same time, so it adds nothing to any state's time in the agents report.
/// At stop (<see cref="StopAsync"/>) what is queued is written within the time given; what is left then is counted lost.
/// </summary>
public sealed class AgentStateLog
{
    /// <summary>How many changes may wait for the store before new ones are dropped.</summary>
    public const int Capacity = 65_536;
    private const int BatchSize = 1_000;

    /// <summary>The stored names of the states (the event stream's): logged_out, ready, talking, wrap_up, paused, previewing.</summary>
    public static readonly string[] StateNames = [.. Enum.GetValues<AgentState>().Select(s => JsonNamingPolicy.SnakeCaseLower.ConvertName(s.ToString()))];

    // Wait, not DropWrite: a dropping channel's TryWrite says true for a change it dropped, so none would be counted.
    // TryWrite never waits: a full queue answers false at once.
    private readonly Channel<Change> _queue = Channel.CreateBounded<Change>(new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Action<IReadOnlyCollection<AgentStateRow>> _write;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _giveUp = new();
    private readonly Task _writer;
    private long _lost, _stored;

    public AgentStateLog(AgentStates store, Action<string> log) : this(store.Write, log) { }

    /// <summary><paramref name="write"/> stores one batch in one transaction, all or none (<see cref="AgentStates.Write"/>).</summary>
    public AgentStateLog(Action<IReadOnlyCollection<AgentStateRow>> write, Action<string> log)
    {
        (_write, _log) = (write, log);
        _writer = Task.Run(WriteAllAsync);
    }

    /// <summary>Changes stored so far.</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Changes never stored: dropped with the queue full, or still queued when a stop's time ran out.</summary>
    public long Lost => Interlocked.Read(ref _lost);

    /// <summary>What the engine of campaign <paramref name="campaignId"/> calls on each agent state change (set it before its loop starts, or on the loop).</summary>
    public Action<Agent> For(long campaignId) => agent =>
    {
        if (!_queue.Writer.TryWrite(new Change(campaignId, agent.Id, agent.State, agent.PauseReason, agent.StateSince)))
            Interlocked.Increment(ref _lost);
    };

    private readonly record struct Change(long CampaignId, string Agent, AgentState State, string? Reason, DateTime Since);

    private async Task WriteAllAsync()
    {
        var batch = new List<AgentStateRow>(BatchSize);
        var backoff = TimeSpan.FromMilliseconds(50);
        var failures = 0;
        while (batch.Count > 0 || await _queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < BatchSize && _queue.Reader.TryRead(out var c))
                batch.Add(new AgentStateRow(c.CampaignId, c.Agent, StateNames[(int)c.State], c.Reason, new DateTimeOffset(c.Since, TimeSpan.Zero).ToUnixTimeMilliseconds()));
            try
            {
                _write(batch);
                Interlocked.Add(ref _stored, batch.Count);
                batch.Clear();
                if (failures > 0) _log($"agent states: the store takes them again after {failures} refused writes ({Lost} changes lost so far)");
                (failures, backoff) = (0, TimeSpan.FromMilliseconds(50));
            }
            catch (Exception e) when (e is not OutOfMemoryException) // the store's failures, and a bug: logged, never the engine's
            {
                if (failures++ == 0) _log($"agent states: the store refused a write ({e.Message}); changes wait (up to {Capacity}) and are retried");
                if (_giveUp.IsCancellationRequested) break;
                try { await Task.Delay(backoff, _giveUp.Token); }
                catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(2).Ticks));
            }
        }
        var left = batch.Count;
        while (_queue.Reader.TryRead(out _)) left++;
        if (left > 0)
        {
            Interlocked.Add(ref _lost, left);
            _log($"agent states: {left} changes not stored at stop (the store refused them); the agents report misses them");
        }
    }

    /// <summary>
    /// Takes no more changes and writes what is queued, waiting up to <paramref name="timeout"/> for the store; then gives up
    /// on the rest (counted in <see cref="Lost"/>). Call after the engines stopped, so their last changes (logged out) are in.
    /// </summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        _queue.Writer.TryComplete();
        try { await _writer.WaitAsync(timeout); }
        catch (TimeoutException)
        {
            await _giveUp.CancelAsync();
            // A write stalled inside the store returns by its own command time-out; not waited for past a second more.
            try { await _writer.WaitAsync(TimeSpan.FromSeconds(1)); }
            catch (TimeoutException) { _log("agent states: a write still stalled at stop; what it holds may be lost"); }
        }
    }
}
