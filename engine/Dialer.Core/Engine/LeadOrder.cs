using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// The one rule of lead order every hopper follows (<see cref="MemoryHopper"/>, the database hopper, and
/// <see cref="Hosting.StoreOutbox"/>'s prefetch): leads are offered to the engine best first; a queue
/// (<see cref="CampaignConfig.QueueOf"/>: the skill requirement, preview apart) whose best lead the engine refuses (no free
/// agent able to take it) is refused whole for that call, and its other leads are passed over unasked and uncounted, however
/// high they rank; at most <c>lookahead</c> queues are asked. Without it a head of the order bound to a few senior agents
/// held every other lead back (skill-pools on the database hopper: 328 calls all day).
/// One instance per hopper, used by one thread at a time; allocates nothing once its set has grown.
/// </summary>
public sealed class LeadOrder(CampaignConfig campaign)
{
    private static readonly Func<Lead, bool> Any = static _ => true;
    private readonly HashSet<int> _refused = [];
    private Func<Lead, bool> _accept = Any;
    private int _asked, _lookahead;

    /// <summary>Starts one look down the order for the engine's <paramref name="accept"/>.</summary>
    public void Begin(Func<Lead, bool> accept, int lookahead)
    {
        _refused.Clear();
        _asked = 0;
        _accept = accept;
        _lookahead = lookahead;
    }

    /// <summary>Whether another lead may be offered: fewer than <c>lookahead</c> queues refused so far.</summary>
    public bool Open => _asked < _lookahead;

    /// <summary>Offers the next lead in order: true when the engine takes it; false when it is passed over (its queue refused, now or before).</summary>
    public bool Offer(Lead lead)
    {
        var queue = campaign.QueueOf(lead);
        if (_refused.Contains(queue)) return false;
        if (_accept(lead)) return true;
        _asked++;
        _refused.Add(queue);
        return false;
    }

    /// <summary>Whether this look refused the lead's queue.</summary>
    public bool Refused(Lead lead) => _refused.Contains(campaign.QueueOf(lead));

    /// <summary>The queues this look refused.</summary>
    public IReadOnlySet<int> RefusedQueues => _refused;
}
