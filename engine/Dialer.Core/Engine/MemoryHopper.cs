using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// The in-memory hopper: leads in dialing order (priority, then the policy expiring soonest), each held
/// back while outside its local calling window, in retry back-off, over its attempt caps, or on DNC.
/// The simulator and single-node runs use it; the database hopper follows the same rules.
/// </summary>
public sealed class MemoryHopper : ILeadSource
{
    private readonly CampaignConfig _config;
    private readonly IReadOnlySet<string> _dnc;
    private readonly PriorityQueue<Lead, (DateTime Due, long Id)> _waiting = new();
    private readonly PriorityQueue<Lead, (int NegPriority, int ExpiryDay, long Id)> _ready = new();

    public MemoryHopper(CampaignConfig config, IEnumerable<Lead> leads, DateTime startUtc, IReadOnlySet<string>? dnc = null)
    {
        _config = config;
        _dnc = dnc ?? new HashSet<string>();
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
    public int Pending => _waiting.Count + _ready.Count;

    public Lead? Next(DateTime utcNow)
    {
        while (_waiting.TryPeek(out var lead, out var key) && key.Due <= utcNow)
        {
            _waiting.Dequeue();
            _ready.Enqueue(lead, Rank(lead));
        }
        while (_ready.TryDequeue(out var lead, out _))
        {
            var heldUntil = HeldUntil(lead, utcNow);
            if (heldUntil > utcNow)
            {
                _waiting.Enqueue(lead, (heldUntil, lead.Id));
                continue;
            }
            lead.AttemptsToday++;
            return lead;
        }
        return null;
    }

    public void Release(Lead lead, DateTime utcNow)
    {
        lead.AttemptsToday--;
        _ready.Enqueue(lead, Rank(lead));
    }

    public void Finished(Lead lead, CallOutcome outcome, DateTime utcNow)
    {
        if (lead.Attempts >= _config.MaxAttempts || !_config.RetryDelaySeconds.TryGetValue(outcome, out var delay))
        {
            Retired++;
            return;
        }
        _waiting.Enqueue(lead, (utcNow.AddSeconds(delay), lead.Id));
    }

    /// <summary>When this lead may next be dialed, considering its window and its daily attempt cap.</summary>
    private DateTime HeldUntil(Lead lead, DateTime utcNow)
    {
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(utcNow, lead.TimeZone));
        if (lead.AttemptsDay != today)
        {
            lead.AttemptsDay = today;
            lead.AttemptsToday = 0;
        }
        if (lead.AttemptsToday >= _config.MaxAttemptsPerDay)
        {
            var tomorrow = TimeZoneInfo.ConvertTimeToUtc(today.AddDays(1).ToDateTime(TimeOnly.MinValue), lead.TimeZone);
            return CallingWindow.NextOpen(_config, lead, tomorrow);
        }
        return CallingWindow.NextOpen(_config, lead, utcNow);
    }

    private static (int, int, long) Rank(Lead lead) =>
        (-lead.Priority, lead.PolicyExpiry?.DayNumber ?? int.MaxValue, lead.Id);
}
