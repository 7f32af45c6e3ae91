using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// The in-memory hopper: leads in dialing order (priority, then the policy expiring soonest), each held
/// back while outside its local calling window, in retry back-off, over its attempt caps, or on DNC.
/// The simulator and single-node runs use it; the database hopper follows the same rules.
/// Due leads wait in one queue per skill requirement, so a requirement no free agent can take holds back
/// only its own leads, however high they rank.
/// </summary>
public sealed class MemoryHopper : ILeadSource
{
    private readonly CampaignConfig _config;
    public const int UrgentDays = 7;
    private readonly IReadOnlySet<string> _dnc;
    private readonly IAnswerPredictor? _bestTime;
    private readonly PriorityQueue<Lead, (DateTime Due, long Id)> _waiting = new();
    private readonly List<PriorityQueue<Lead, (int NegPriority, int ExpiryDay, long Id)>> _ready = [];
    private int _readyCount;

    /// <param name="bestTime">When given, each retry is scheduled at the open hour (within a day of when it
    /// could first be made) with the highest predicted live-answer rate; renewals expiring within
    /// <see cref="UrgentDays"/> days are never held back. First attempts are not: fresh leads keep the
    /// agents fed at every hour, and a lead with no history is where a model knows least.</param>
    public MemoryHopper(CampaignConfig config, IEnumerable<Lead> leads, DateTime startUtc, IReadOnlySet<string>? dnc = null, IAnswerPredictor? bestTime = null)
    {
        _config = config;
        _dnc = dnc ?? new HashSet<string>();
        _bestTime = bestTime;
        foreach (var lead in leads)
        {
            if (_dnc.Contains(lead.Phone)) { Skipped++; continue; }
            _waiting.Enqueue(lead, (startUtc, lead.Id));
        }
    }


    /// <summary>Leads whose dialing is over (reached, refused, out of attempts, bad number).</summary>
    public int Retired { get; private set; }
    /// <summary>Leads never dialed because their number is on DNC.</summary>
    public int Skipped { get; private set; }
    public int Pending => _waiting.Count + _readyCount;

    public Lead? Next(DateTime utcNow) => Next(utcNow, static _ => true);

    public Lead? Next(DateTime utcNow, Func<Lead, bool> accept, int lookahead = 64)
    {
        while (_waiting.TryPeek(out var lead, out var key) && key.Due <= utcNow)
        {
            _waiting.Dequeue();
            Enqueue(lead);
        }
        // Best-ranked due lead among the requirements that are accepted: a refused head refuses its queue.
        while (true)
        {
            PriorityQueue<Lead, (int, int, long)>? best = null;
            (int, int, long) bestRank = default;
            foreach (var q in _ready)
                if (q.TryPeek(out _, out var rank) && (best is null || rank.CompareTo(bestRank) < 0) && Admits(q, utcNow, accept))
                {
                    best = q;
                    bestRank = rank;
                }
            if (best is null) return null;
            var lead = best.Dequeue();
            _readyCount--;
            lead.AttemptsToday++;
            return lead;
        }
    }

    public void Release(Lead lead, DateTime utcNow)
    {
        lead.AttemptsToday--;
        Enqueue(lead);
    }

    /// <summary>Drops held heads (window closed, daily cap) back to waiting, then asks whether the head may be dialed.</summary>
    private bool Admits(PriorityQueue<Lead, (int, int, long)> q, DateTime utcNow, Func<Lead, bool> accept)
    {
        while (q.TryPeek(out var head, out _))
        {
            var heldUntil = CallingWindow.HeldUntil(_config, head, utcNow);
            if (heldUntil <= utcNow) return accept(head);
            q.Dequeue();
            _readyCount--;
            _waiting.Enqueue(head, (heldUntil, head.Id));
        }
        return false;
    }

    private void Enqueue(Lead lead)
    {
        var r = lead.Requirement.Id;
        while (_ready.Count <= r) _ready.Add(new());
        _ready[r].Enqueue(lead, Rank(lead));
        _readyCount++;
    }

    public void Finished(Lead lead, CallOutcome outcome, DateTime utcNow)
    {
        if (lead.Attempts >= _config.MaxAttempts || !_config.RetryDelaySeconds.TryGetValue(outcome, out var delay))
        {
            Retired++;
            return;
        }
        _waiting.Enqueue(lead, (BestTime(lead, utcNow.AddSeconds(delay)), lead.Id));
    }

    /// <summary>Best-time-to-call: the hour, from <paramref name="earliest"/> on, this lead is likeliest to answer.</summary>
    private DateTime BestTime(Lead lead, DateTime earliest)
    {
        if (_bestTime is null) return earliest;
        var from = CallingWindow.NextOpen(_config, lead, earliest);
        if (lead.PolicyExpiry is { } expiry && expiry.DayNumber - DateOnly.FromDateTime(from).DayNumber <= UrgentDays) return from;
        var best = from;
        var bestP = _bestTime.PredictLive(lead, from);
        for (var h = 1; h < 24; h++)
        {
            var t = from.AddHours(h);
            if (!CallingWindow.IsOpen(_config, lead, t)) continue;
            // Later only when materially better: waiting has a cost of its own.
            if (_bestTime.PredictLive(lead, t) is var p && p > bestP * 1.05f) (best, bestP) = (t, p);
        }
        return best;
    }

    private static (int, int, long) Rank(Lead lead) =>
        (-lead.Priority, lead.PolicyExpiry?.DayNumber ?? int.MaxValue, lead.Id);
}
