using System.Data.Common;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dialer.Api;

/// <summary>
/// Preview for call-center platforms: an agent's open offer (the lead, the number masked to its last 4 digits, and the
/// customer view: every number, policy, lead in any campaign, attempt, disposition, consent and block of that customer)
/// and the agent's decision on it (accept, skip with a reason, callback at a time). Both go to the campaign's engine on
/// this node, which owns the offers: a decision on an offer already gone (timed out, decided) is ignored there.
/// </summary>
public static class PreviewApi
{
    // Reason and callback_at belong to one choice each: left out, they are absent, not a body error.
    public sealed record DecisionBody(string? Choice, string? Reason = null, DateTimeOffset? CallbackAt = null);

    internal static void Map(WebApplication app, EngineRegistry engines, CustomerViews customers)
    {
        app.MapGet("/campaigns/{name}/agents/{agent}/offer", async (string name, string agent) =>
        {
            if (engines.Find(name) is not { } host) return NotHere(name);
            PreviewOffer? offer;
            try { offer = await host.QueryAsync(e => e.Offers.FirstOrDefault(o => o.Agent.Id == agent)); }
            catch (EngineUnavailableException e) { return Results.Problem(statusCode: 409, title: "campaign engine unavailable", detail: e.Message); }
            if (offer is null) return Results.NoContent();
            // Read here, off the engine loop. A store that does not answer costs the customer view, not the offer: the
            // agent still sees the lead and may decide within the deadline.
            try { return Results.Ok(View(offer, Customer(customers, name, offer.Lead.Id), customerError: null)); }
            catch (DbException) { return Results.Ok(View(offer, customer: null, customerError: "the store did not answer: the customer view is missing")); }
        });
        app.MapPost("/campaigns/{name}/agents/{agent}/offer/{offer:long}", async (string name, string agent, long offer, HttpRequest req) =>
        {
            if (engines.Find(name) is not { } host) return NotHere(name);
            var (body, error) = await DialerApi.ReadJson<DecisionBody>(req);
            if (error is not null) return error;
            PreviewChoice choice;
            switch (body!.Choice)
            {
                case "accept": choice = PreviewChoice.Accept; break;
                case "skip" when !string.IsNullOrWhiteSpace(body.Reason): choice = PreviewChoice.Skip; break;
                case "skip": return DialerApi.Invalid("reason", "a skip needs a reason");
                case "callback" when body.CallbackAt?.UtcDateTime > DateTime.UtcNow: choice = PreviewChoice.Callback; break;
                case "callback": return DialerApi.Invalid("callback_at", "a callback needs a time in the future");
                default: return DialerApi.Invalid("choice", "expected accept, skip or callback");
            }
            int index;
            try { index = await host.QueryAsync(e => e.State.Agents.FirstOrDefault(a => a.Id == agent)?.Index ?? -1); }
            catch (EngineUnavailableException e) { return Results.Problem(statusCode: 409, title: "campaign engine unavailable", detail: e.Message); }
            if (index < 0) return DialerApi.NotFound($"agent '{agent}' in campaign '{name}'");
            await host.PostAsync(EngineEvent.Preview(index, offer, choice, body.Reason, body.CallbackAt?.UtcDateTime ?? default));
            return Results.Accepted();
        });
    }

    private static IResult NotHere(string name) =>
        Results.Problem(statusCode: 409, title: "campaign not running here", detail: $"campaign '{name}' has no engine on this node");

    /// <summary>The customer behind the campaign's lead <paramref name="leadId"/>, or null when the store has no such lead in that campaign.</summary>
    private static CustomerRecord? Customer(CustomerViews customers, string campaign, long leadId) =>
        customers.ForLead(leadId, DateTime.UtcNow) is { } c && c.Leads.Any(l => l.LeadId == leadId && l.Campaign == campaign) ? c : null;

    /// <summary>What the agent sees before deciding (the event stream carries it without the customer view): numbers only by their last 4 digits, never whole.</summary>
    internal static object View(PreviewOffer o) => View(o, customer: null, customerError: null);

    private static object View(PreviewOffer o, CustomerRecord? customer, string? customerError) => new
    {
        offer_id = o.Id,
        agent = o.Agent.Id,
        lead_id = o.Lead.Id,
        phone = Mask(o.Lead.Phone),
        region = o.Lead.Region,
        tags = o.Lead.Tags,
        priority = o.Lead.Priority,
        policy_expiry = o.Lead.PolicyExpiry?.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture),
        attempts = o.Lead.Attempts,
        last_outcome = o.Lead.Attempts == 0 ? null : o.Lead.LastOutcome.ToString().ToLowerInvariant(),
        offered_at = o.OfferedAt,
        deadline = o.Deadline,
        customer,
        customer_error = customerError,
    };

    private static string Mask(string phone) => phone.Length <= 4 ? new string('*', phone.Length) : new string('*', phone.Length - 4) + phone[^4..];
}
