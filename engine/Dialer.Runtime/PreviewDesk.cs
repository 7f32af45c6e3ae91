using Dialer.Core.Engine;

namespace Dialer.Runtime;

/// <summary>
/// The preview desk of a campaign on Asterisk: the platform's agent desktops read the open offers from the engine over
/// the API (GET /campaigns/{name}/agents/{agent}/offer) and post the decision there, so this side only logs each offer
/// and why one was taken back, by offer, agent and lead id (never the number). Called on the engine loop: it must not block.
/// </summary>
internal sealed class PreviewDesk(Action<string> log) : IPreviewDesk
{
    public void Offer(PreviewOffer offer) =>
        log($"preview: offer {offer.Id} of lead {offer.Lead.Id} to agent {offer.Agent.Id}, to decide within {(offer.Deadline - offer.OfferedAt).TotalSeconds:0} s");

    public void Withdraw(PreviewOffer offer, string reason) => log($"preview: offer {offer.Id} to agent {offer.Agent.Id} withdrawn: {reason}");
}
