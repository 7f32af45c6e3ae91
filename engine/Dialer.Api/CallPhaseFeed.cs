using System.Threading.Channels;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>
/// The phases of a call between placed and ended, as `call` events: ringing (originated), answered (with the AMD
/// verdict, human or machine), bridged (to agent X) and safe_harbor. The engine tells each change on its loop
/// (<see cref="DialerEngine.PhaseChanged"/>); this only copies a few fields into a bounded queue there (nothing is
/// serialised on the loop) and publishes from its own thread. Placed and ended come from the attempt log, after the
/// store has the row. A full queue (65,536: the stream's thread far behind) drops the change and counts it, never
/// holding up the engine. Agent state changes (<see cref="DialerEngine.AgentStateChanged"/>), whatever made them, go
/// the same way as `agent` events (state, pause reason, since when); the node's <see cref="AgentStateLog"/>, hooked beside
/// this when the engine was made, stores them (agent_states, for the agents report). Preview offers
/// (<see cref="DialerEngine.OfferChanged"/>) as `offer` events: made (with the lead as the agent sees it, the number masked),
/// accepted, skipped, callback, withdrawn (with why).
/// </summary>
public sealed class CallPhaseFeed : IAsyncDisposable
{
    // Wait, not DropWrite: a dropping channel's TryWrite says true for an item it dropped, and Dropped would count none.
    // TryWrite never waits: a full queue answers false at once.
    private readonly Channel<Change> _queue = Channel.CreateBounded<Change>(new BoundedChannelOptions(65_536) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly EventHub _hub;
    private readonly Channel<AgentChange> _agents = Channel.CreateBounded<AgentChange>(new BoundedChannelOptions(65_536) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Channel<OfferItem> _offers = Channel.CreateBounded<OfferItem>(new BoundedChannelOptions(65_536) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Task _publisher, _agentPublisher, _offerPublisher;
    private long _dropped;

    public CallPhaseFeed(EventHub hub)
    {
        _hub = hub;
        _publisher = Task.Run(PublishAll);
        _agentPublisher = Task.Run(PublishAgents);
        _offerPublisher = Task.Run(PublishOffers);
    }

    /// <summary>
    /// Sets every hook of a campaign's engine (call here on its loop): phases, agent states and preview offers. The agent
    /// hook is added to the one already set (the store's writer), not put in its place.
    /// </summary>
    public void Hook(DialerEngine engine, string campaign)
    {
        (engine.PhaseChanged, engine.OfferChanged) = (For(campaign), ForOffers(campaign));
        engine.AgentStateChanged += ForAgents(campaign);
    }

    /// <summary>Phase, agent and offer changes lost because their queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private readonly record struct Change(string Campaign, long CallId, string ChannelId, long LeadId, int Attempt, string Trunk, CallPhase Phase, string? Agent, DateTime? At);

    private readonly record struct OfferItem(string Campaign, long Offer, string Agent, long Lead, OfferChange Change, string? Reason, DateTime At, object? View);

    private static readonly string[] OfferChanges = [.. Enum.GetValues<OfferChange>().Select(c => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(c.ToString()))];

    /// <summary>
    /// What the engine of <paramref name="campaign"/> calls on each offer change (set it on the loop). A new offer's view is
    /// made here, on the loop, while its lead is the engine's: offers come at an agent's pace, not the dialing's.
    /// </summary>
    public Action<PreviewOffer, OfferChange, string?, DateTime> ForOffers(string campaign) => (offer, change, reason, at) =>
    {
        var view = change == OfferChange.Offered ? PreviewApi.View(offer) : null;
        if (!_offers.Writer.TryWrite(new OfferItem(campaign, offer.Id, offer.Agent.Id, offer.Lead.Id, change, reason, at, view)))
            Interlocked.Increment(ref _dropped);
    };

    private async Task PublishOffers()
    {
        await foreach (var o in _offers.Reader.ReadAllAsync())
            _hub.Publish("offer", new { campaign = o.Campaign, offer_id = o.Offer, agent = o.Agent, lead_id = o.Lead, change = OfferChanges[(int)o.Change], reason = o.Reason, at = o.At, offer = o.View },
                OfferChanges[(int)o.Change]);
    }

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
        {
            var state = EventHub.AgentStates[(int)a.State];
            _hub.Publish("agent", new { campaign = a.Campaign, agent = a.Agent, state, reason = a.Reason, at = a.Since }, state);
        }
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
        _offers.Writer.TryComplete();
        await Task.WhenAll(_publisher, _agentPublisher, _offerPublisher);
    }
}
