using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Engine;

/// <summary>
/// The commands the engine gives the telephony world. The simulator and the ARI driver implement it;
/// both answer later by posting <see cref="EngineEvent"/>s. Calls must return at once (queue the work).
/// </summary>
public interface ICallControl
{
    /// <summary>Originate <paramref name="call"/> through trunk <paramref name="trunk"/>, ringing at most <paramref name="ringTimeout"/>.</summary>
    void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout);
    /// <summary>Put the answered callee through to the agent (already reserved by the engine).</summary>
    void Connect(Call call, Agent agent);
    /// <summary>Play the safe-harbor message to a live callee nobody could take, then hang up.</summary>
    void SafeHarbor(Call call);
    /// <summary>Hang the call up (machines, shutdown).</summary>
    void Hangup(Call call);
    /// <summary>
    /// Agentless: walk the answered callee (or machine, for a message) through <paramref name="run"/>; post
    /// <see cref="EventKind.ScriptDone"/> when it is over, before the call's end. On a transfer the call stays up for
    /// the engine's Connect; otherwise hang up.
    /// </summary>
    void RunScript(Call call, Modes.ScriptRun run);
    /// <summary>
    /// How long before a deadline a command must leave to take effect by it (the telephony's own delay): the safe-harbor
    /// message is sent this long before the callee's 2 s are up, so that it starts within them. Zero in virtual time.
    /// </summary>
    TimeSpan CommandLead => TimeSpan.Zero;
}

/// <summary>A lead offered to an agent in preview: they decide before <see cref="Deadline"/>.</summary>
public sealed record PreviewOffer(long Id, Agent Agent, Lead Lead, DateTime OfferedAt, DateTime Deadline);

/// <summary>What became of a preview offer (<see cref="DialerEngine.OfferChanged"/>).</summary>
public enum OfferChange { Offered, Accepted, Skipped, Callback, Withdrawn }

/// <summary>Where preview offers go (the agent's desktop: the API and its event stream, or the simulator's agents).</summary>
public interface IPreviewDesk
{
    void Offer(PreviewOffer offer);
    /// <summary>The offer is void (timed out, the agent left, the engine stopped, no line to place it): take it off the screen.</summary>
    void Withdraw(PreviewOffer offer, string reason);
}

/// <summary>Where attempts are written: before the call is placed (crash safety) and when it is over.</summary>
public interface IAttemptLog
{
    void Placed(Call call);
    void Finished(Call call);
    /// <summary>
    /// True when <see cref="Placed"/> only queues the row (an outbox): the engine originates the call when
    /// <see cref="EventKind.AttemptStored"/> says the row is durable, never before. False: the row is written when Placed returns.
    /// </summary>
    bool Deferred => false;
    /// <summary>False while the writes are backed up (the database is slow or down): the engine places no new call until it clears.</summary>
    bool Accepting => true;
}

/// <summary>Hands out the next lead to dial (priority order, compliance already applied) and takes it back after the attempt.</summary>
public interface ILeadSource
{
    /// <summary>Next lead that may be dialed at <paramref name="utcNow"/>, or null if none is due.</summary>
    Lead? Next(DateTime utcNow);

    /// <summary>
    /// Next due lead that <paramref name="accept"/> takes, looking at most <paramref name="lookahead"/> leads
    /// down the dialing order; the ones passed over keep their place.
    /// </summary>
    Lead? Next(DateTime utcNow, Func<Lead, bool> accept, int lookahead = 64)
    {
        List<Lead>? passed = null;
        Lead? found = null;
        for (var i = 0; i < lookahead && found is null; i++)
        {
            var lead = Next(utcNow);
            if (lead is null) break;
            if (accept(lead)) found = lead;
            else (passed ??= []).Add(lead);
        }
        // Best-last: a source that stacks released leads keeps its order.
        if (passed is not null)
            for (var i = passed.Count - 1; i >= 0; i--) Release(passed[i], utcNow);
        return found;
    }
    /// <summary>A lead handed out by <see cref="Next"/> could not be dialed after all (no trunk free): give it back untouched.</summary>
    void Release(Lead lead, DateTime utcNow);
    /// <summary>
    /// The leads that may be dialed within <see cref="LeadStock.HorizonDays"/>, read before every pacing decision: answered from
    /// the count the source keeps, recounted at most every <see cref="LeadStock.RecountSeconds"/> (a source on a store recounts
    /// off the engine loop: <c>StoreOutbox</c>). A source that keeps none says <see cref="LeadStock.Unknown"/>.
    /// </summary>
    LeadStock Stock(DateTime utcNow) => LeadStock.Unknown;
    /// <summary>The attempt is over: schedule a retry or retire the lead.</summary>
    void Finished(Lead lead, CallOutcome outcome, DateTime utcNow);
    /// <summary>A lead handed out was not dialed (an agent skipped it in preview, or asked for a callback): due again at <paramref name="dueUtc"/>.</summary>
    void Reschedule(Lead lead, DateTime dueUtc, bool callback, DateTime utcNow);
}

/// <summary>Leads due now or within <see cref="HorizonDays"/> (their windows, holds and caps applied) and the attempts they may still get.</summary>
public readonly record struct LeadStock(int Leads, long Attempts)
{
    /// <summary>How far ahead a lead source counts the leads that come due: two days of shifts.</summary>
    public const double HorizonDays = 2;
    /// <summary>How often (virtual or wall seconds) a source recounts its stock: a walk over every pending lead, so not every decision.</summary>
    public const double RecountSeconds = 1800;
    public static readonly LeadStock Unknown = new(-1, -1);
    public bool Known => Leads >= 0;

    /// <summary>Whether a count made at <paramref name="countedAt"/> is to be made again at <paramref name="utcNow"/>.</summary>
    public static bool Stale(DateTime countedAt, DateTime utcNow) => (utcNow - countedAt).TotalSeconds >= RecountSeconds;

    /// <summary>Expected live answers the stock still holds at <paramref name="p"/> per attempt, each lead given its mean attempts left.</summary>
    public double Reachable(double p) => Leads <= 0 ? 0 : Leads * (1 - Math.Pow(1 - p, (double)Attempts / Leads));
}

/// <summary>
/// A stock count as every lead source makes it, lead by lead: a lead counts when the rules (<see cref="CallingWindow.HeldUntil"/>:
/// window, holds, caps, the profile) let it be dialed within <see cref="LeadStock.HorizonDays"/> of its due time, with its attempts left.
/// </summary>
public struct LeadStockTally(CampaignConfig config, DateTime utcNow)
{
    private readonly DateTime _until = utcNow.AddDays(LeadStock.HorizonDays);
    private int _leads;
    private long _attempts;

    /// <summary>Counts <paramref name="lead"/>, due at <paramref name="dueUtc"/> (the count's time if it is due already), if the horizon reaches it.</summary>
    public void Add(Lead lead, DateTime dueUtc)
    {
        if (CallingWindow.HeldUntil(config, lead, dueUtc > utcNow ? dueUtc : utcNow) > _until) return;
        _leads++;
        _attempts += Math.Max(1, config.MaxAttempts - lead.Attempts);
    }

    public readonly LeadStock Stock => new(_leads, _attempts);
}

/// <summary>Probability that a call to this lead placed now is answered by a live person.</summary>
public interface IAnswerPredictor
{
    float PredictLive(Lead lead, DateTime utcNow);
    /// <summary>Learn whether an attempt reached a live person, as soon as that is known (history-based predictors); models trained offline ignore it.</summary>
    void Observe(Lead lead, DateTime placedUtc, bool live);
}
