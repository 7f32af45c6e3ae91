using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// The in-memory hopper: leads in dialing order (priority, then the policy expiring soonest), each held
/// back while outside its local calling window, in retry back-off, over its attempt caps, on DNC or the refusal list, or while
/// another lead of its customer is in a call.
/// The simulator and single-node runs use it; the database hopper follows the same rules.
/// Due leads wait in one queue per skill requirement (<see cref="CampaignConfig.QueueOf"/>), so a requirement no free agent
/// can take holds back only its own leads, however high they rank (<see cref="LeadOrder"/>, the rule every hopper follows).
/// </summary>
public sealed class MemoryHopper : ILeadSource
{
    private readonly CampaignConfig _config;
    private readonly IReadOnlySet<string> _dnc;
    private readonly IAnswerPredictor? _bestTime;
    private readonly ContactLedger _contacts;
    private readonly PriorityQueue<Lead, (DateTime Due, long Id)> _waiting = new();
    private readonly List<PriorityQueue<Lead, (int NegPriority, int ExpiryDay, long Id)>> _ready = [];
    private readonly LeadOrder _order;
    private int _readyCount;

    /// <param name="bestTime">When given, retries go to each lead's best hour (<see cref="Retry.Next"/>).</param>
    /// <param name="contacts">
    /// The attempts, refusals and calls in progress by number and customer that the gate judges (a profile's <c>attempt_caps</c>
    /// and refusal block, one call to a customer at a time); one ledger shared by the hoppers of several campaigns counts across
    /// them. The hopper keeps its own when none is given.
    /// </param>
    public MemoryHopper(CampaignConfig config, IEnumerable<Lead> leads, DateTime startUtc, IReadOnlySet<string>? dnc = null, IAnswerPredictor? bestTime = null,
        ContactLedger? contacts = null)
    {
        _config = config;
        _order = new LeadOrder(config);
        _dnc = dnc ?? new HashSet<string>();
        _bestTime = bestTime;
        _contacts = contacts ?? new ContactLedger();
        foreach (var lead in leads)
        {
            if (_dnc.Contains(lead.Phone)) { Skipped++; continue; }
            _contacts.Attach(lead);
            _waiting.Enqueue(lead, (startUtc, lead.Id));
        }
    }


    /// <summary>Leads whose dialing is over (reached, refused, out of attempts, bad number).</summary>
    public int Retired { get; private set; }
    /// <summary>Leads never dialed because their number is on DNC.</summary>
    public int Skipped { get; private set; }
    public int Pending => _waiting.Count + _readyCount;

    public Lead? Next(DateTime utcNow) => Next(utcNow, static _ => true);

    private LeadStock _stock = LeadStock.Unknown;
    private DateTime _stockAt = DateTime.MinValue;

    public LeadStock Stock(DateTime utcNow)
    {
        if (!LeadStock.Stale(_stockAt, utcNow)) return _stock;
        var tally = new LeadStockTally(_config, utcNow);
        foreach (var (lead, key) in _waiting.UnorderedItems) tally.Add(lead, key.Due);
        // A ready lead may still be held (the queues drop held heads lazily): its hold, not its place, says when it is due.
        foreach (var q in _ready)
            foreach (var (lead, _) in q.UnorderedItems) tally.Add(lead, utcNow);
        _stockAt = utcNow;
        return _stock = tally.Stock;
    }

    public Lead? Next(DateTime utcNow, Func<Lead, bool> accept, int lookahead = 64)
    {
        while (_waiting.TryPeek(out var lead, out var key) && key.Due <= utcNow)
        {
            _waiting.Dequeue();
            Enqueue(lead);
        }
        // Queue heads offered best first (LeadOrder): a refused head refuses its queue.
        _order.Begin(accept, lookahead);
        while (_order.Open)
        {
            PriorityQueue<Lead, (int, int, long)>? best = null;
            (int, int, long) bestRank = default;
            foreach (var q in _ready)
                if (DueHead(q, utcNow) is { } head && !_order.Refused(head) && q.TryPeek(out _, out var rank) && (best is null || rank.CompareTo(bestRank) < 0))
                {
                    best = q;
                    bestRank = rank;
                }
            if (best is null) return null;
            if (!_order.Offer(best.Peek())) continue;
            var lead = best.Dequeue();
            _readyCount--;
            lead.AttemptsToday++;
            _contacts.Placed(lead, utcNow);
            return lead;
        }
        return null;
    }

    public void Release(Lead lead, DateTime utcNow)
    {
        lead.AttemptsToday--;
        _contacts.Ended(lead, CallOutcome.None);
        Enqueue(lead);
    }

    /// <summary>Drops held heads (window closed, daily cap) back to waiting; the head that may be dialed now, if any.</summary>
    private Lead? DueHead(PriorityQueue<Lead, (int, int, long)> q, DateTime utcNow)
    {
        while (q.TryPeek(out var head, out _))
        {
            var heldUntil = CallingWindow.HeldUntil(_config, head, utcNow);
            if (heldUntil <= utcNow) return head;
            q.Dequeue();
            _readyCount--;
            _waiting.Enqueue(head, (heldUntil, head.Id));
        }
        return null;
    }

    private void Enqueue(Lead lead)
    {
        var r = _config.QueueOf(lead);
        while (_ready.Count <= r) _ready.Add(new());
        _ready[r].Enqueue(lead, Rank(lead));
        _readyCount++;
    }

    public void Reschedule(Lead lead, DateTime dueUtc, bool callback, DateTime utcNow)
    {
        lead.AttemptsToday--;
        _contacts.Ended(lead, CallOutcome.None);
        _waiting.Enqueue(lead, (dueUtc, lead.Id));
    }

    /// <summary>
    /// A refusal was recorded for the lead's last call (an agent's disposition, a survey's opt-out key), as the store's
    /// dispositions put the number on the refusal list: no lead with its number is called until <paramref name="untilUtc"/>,
    /// nor, under a profile's whole-customer refusal block, any lead of its customer.
    /// </summary>
    public void Refused(Lead lead, DateTime untilUtc) => _contacts.Refused(lead, untilUtc);

    public void Finished(Lead lead, CallOutcome outcome, DateTime utcNow)
    {
        _contacts.Ended(lead, outcome);
        if (Retry.Next(_config, lead, outcome, utcNow, _bestTime) is { } next) _waiting.Enqueue(lead, (next, lead.Id));
        else Retired++;
    }

    private static (int, int, long) Rank(Lead lead) =>
        (-lead.Priority, lead.PolicyExpiry?.DayNumber ?? int.MaxValue, lead.Id);
}
