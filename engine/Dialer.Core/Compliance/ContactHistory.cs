using Dialer.Core.Domain;

namespace Dialer.Core.Compliance;

/// <summary>
/// One attempt on a number or a customer, in any campaign: when it was placed, how it ended (<see cref="CallOutcome.None"/>
/// while it rings) and whether the callee refused further calls on it (a refusal disposition, a survey's opt-out key).
/// </summary>
public readonly record struct Contact(long LeadId, DateTime PlacedUtc, CallOutcome Outcome, bool Refused = false);

/// <summary>The attempts on one number or one customer across every campaign, oldest first, and its refusal block.</summary>
public sealed class ContactHistory
{
    public List<Contact> Attempts { get; } = [];
    /// <summary>
    /// Until when a refusal holds (<see cref="DateTime.MaxValue"/>: for good); null: none. A customer's: a refusal on any of
    /// their numbers (the store reads it off the refusal list); a number's: the in-memory hopper's refusal list (the store
    /// keeps it in its <c>dnc</c> table, which the claim reads itself).
    /// </summary>
    public DateTime? RefusedUntil { get; set; }
    /// <summary>A customer's leads handed out and not yet ended (the in-memory hopper's count; the store asks its leads table).</summary>
    public int InCall { get; set; }
}

/// <summary>What the attempt caps count for a lead: its number's attempts and its customer's (null when the lead names no customer).</summary>
public sealed record LeadContacts(ContactHistory Number, ContactHistory? Customer);

/// <summary>
/// The attempt history of the in-memory hopper, by number and by customer id: one ledger shared by the hoppers of several
/// campaigns makes the caps count across them, as the store's attempts table does for the database hopper. A lead handed
/// out counts at once (it is being dialed); one given back unplaced is taken off again.
/// </summary>
public sealed class ContactLedger
{
    private readonly Dictionary<string, ContactHistory> _numbers = new(StringComparer.Ordinal), _customers = new(StringComparer.Ordinal);
    /// <summary>Attempts older than this are dropped as new ones come: no cap looks further back.</summary>
    private static readonly TimeSpan Kept = TimeSpan.FromDays(367);

    /// <summary>Gives <paramref name="lead"/> the histories of its number and customer.</summary>
    public void Attach(Lead lead) =>
        lead.Contacts = new(Of(_numbers, lead.Phone), lead.CustomerId is { } customer ? Of(_customers, customer) : null);

    public void Placed(Lead lead, DateTime utcNow)
    {
        foreach (var h in Histories(lead))
        {
            while (h.Attempts.Count > 0 && h.Attempts[0].PlacedUtc < utcNow - Kept) h.Attempts.RemoveAt(0);
            h.Attempts.Add(new(lead.Id, utcNow, CallOutcome.None));
        }
        if (lead.Contacts?.Customer is { } customer) customer.InCall++;
    }

    /// <summary>
    /// A refusal recorded for <paramref name="lead"/>'s call (the agent's disposition, a survey's opt-out key): its number is
    /// on the refusal list until <paramref name="untilUtc"/>, and so is the customer (a profile's whole-customer block reads it);
    /// the lead's last attempt counts as refused (a cap of <see cref="CapSpan.Refused"/> attempts counts it).
    /// </summary>
    public void Refused(Lead lead, DateTime untilUtc)
    {
        foreach (var h in Histories(lead))
        {
            if (h.RefusedUntil is not { } known || untilUtc > known) h.RefusedUntil = untilUtc;
            var i = h.Attempts.FindLastIndex(a => a.LeadId == lead.Id);
            if (i >= 0) h.Attempts[i] = h.Attempts[i] with { Refused = true };
        }
    }

    /// <summary>The lead's attempt still ringing ends with <paramref name="outcome"/>; <see cref="CallOutcome.None"/> takes it off (never placed).</summary>
    public void Ended(Lead lead, CallOutcome outcome)
    {
        foreach (var h in Histories(lead))
            for (var i = h.Attempts.Count - 1; i >= 0; i--)
                if (h.Attempts[i] is { Outcome: CallOutcome.None } a && a.LeadId == lead.Id)
                {
                    if (outcome == CallOutcome.None) h.Attempts.RemoveAt(i);
                    else h.Attempts[i] = a with { Outcome = outcome };
                    if (h == lead.Contacts!.Customer) h.InCall--;
                    break;
                }
    }

    private static IEnumerable<ContactHistory> Histories(Lead lead)
    {
        if (lead.Contacts is not { } c) yield break;
        yield return c.Number;
        if (c.Customer is { } customer) yield return customer;
    }

    private static ContactHistory Of(Dictionary<string, ContactHistory> by, string key)
    {
        if (!by.TryGetValue(key, out var h)) by[key] = h = new ContactHistory();
        return h;
    }
}
