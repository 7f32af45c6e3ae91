using System.Threading.Channels;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Api;

/// <summary>
/// The phases of a call between placed and ended, as `call` events: ringing (originated), answered (with the AMD
/// verdict, human or machine), bridged (to agent X) and safe_harbor. The engine tells each change on its loop
/// (<see cref="DialerEngine.PhaseChanged"/>); this only copies a few fields into a bounded queue there (nothing is
/// serialised on the loop) and publishes from its own thread. Placed and ended come from the attempt log, after the
/// store has the row. A full queue (65,536: the stream's thread far behind) drops the change and counts it, never
/// holding up the engine. Agent state changes (<see cref="DialerEngine.AgentStateChanged"/>), whatever made them, go
/// the same way as `agent` events (state, pause reason, since when).
/// </summary>
public sealed class CallPhaseFeed : IAsyncDisposable
{
    private readonly Channel<Change> _queue = Channel.CreateBounded<Change>(new BoundedChannelOptions(65_536) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly EventHub _hub;
    private readonly Channel<AgentChange> _agents = Channel.CreateBounded<AgentChange>(new BoundedChannelOptions(65_536) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Task _publisher, _agentPublisher;
    private long _dropped;

    public CallPhaseFeed(EventHub hub)
    {
        _hub = hub;
        _publisher = Task.Run(PublishAll);
        _agentPublisher = Task.Run(PublishAgents);
    }

    /// <summary>Phase and agent changes lost because their queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private readonly record struct Change(string Campaign, long CallId, string ChannelId, long LeadId, int Attempt, string Trunk, CallPhase Phase, string? Agent, DateTime? At);

    private readonly record struct AgentChange(string Campaign, string Agent, AgentState State, string? Reason, DateTime Since);

    /// <summary>What the engine of <paramref name="campaign"/> calls on each agent state change (set it on the loop).</summary>
    public Action<Agent> ForAgents(string campaign) => agent =>
    {
        if (!_agents.Writer.TryWrite(new AgentChange(campaign, agent.Id, agent.State, agent.PauseReason, agent.StateSince)))
            Interlocked.Increment(ref _dropped);
    };

    private async Task PublishAgents()
    {
        await foreach (var a in _agents.Reader.ReadAllAsync())
            _hub.Publish("agent", new { campaign = a.Campaign, agent = a.Agent, state = EventHub.AgentStates[(int)a.State], reason = a.Reason, at = a.Since }, EventHub.AgentStates[(int)a.State]);
    }

    /// <summary>What the engine of <paramref name="campaign"/> calls on each phase change (set it on the loop).</summary>
    public Action<Call> For(string campaign) => call =>
    {
        if (call.Phase == CallPhase.Ended) return; // the attempt log tells the end, with the stored outcome
        var at = call.Phase switch { CallPhase.Ringing => call.PlacedAt, CallPhase.Connected => call.ConnectedAt, _ => call.AnsweredAt };
        if (!_queue.Writer.TryWrite(new Change(campaign, call.Id, call.ChannelId, call.Lead.Id, call.Attempt, call.TrunkName, call.Phase, call.Agent?.Id, at)))
            Interlocked.Increment(ref _dropped);
    };

    private async Task PublishAll()
    {
        await foreach (var c in _queue.Reader.ReadAllAsync())
        {
            var phase = c.Phase switch { CallPhase.Ringing => "ringing", CallPhase.Connected => "bridged", CallPhase.SafeHarbor => "safe_harbor", _ => "answered" };
            _hub.Publish("call", new
            {
                campaign = c.Campaign, call_id = c.CallId, channel_id = c.ChannelId, lead_id = c.LeadId, attempt = c.Attempt, trunk = c.Trunk, phase,
                verdict = c.Phase switch { CallPhase.Waiting => "human", CallPhase.Machine => "machine", _ => null },
                agent = c.Agent, at = c.At,
            }, phase);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _agents.Writer.TryComplete();
        await Task.WhenAll(_publisher, _agentPublisher);
    }
}
