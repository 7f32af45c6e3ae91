using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Store;

/// <summary>What start-up reconciliation found among the attempts a node left open.</summary>
public sealed record ReconcileReport(int Closed, IReadOnlyList<string> StillLive, int LeasesReleased);

/// <summary>
/// Attempts on the database. <see cref="Placed"/> commits the attempt row (with its channel id) and marks
/// the lead as dialing before the driver is asked to originate, so after a crash every call that may
/// exist in the network has a row; <see cref="Reconcile"/> settles those rows against the driver's live channels.
/// </summary>
public sealed class DbAttemptLog(StoreDb db, long campaignId, string node) : IAttemptLog
{
    /// <summary>Raised after an attempt row is written (the API's event stream listens).</summary>
    public event Action<Call, bool>? Written;

    /// <summary>
    /// The first call id for an engine starting now: a fresh block of a billion ids from the shared
    /// sequence, so channel ids never repeat across nodes or restarts.
    /// </summary>
    public long ReserveCallIds() => db.Write((c, tx) => StoreDb.Reserve(c, tx, "call", 1_000_000_000));

    public void Placed(Call call)
    {
        var lead = call.Lead;
        db.Write((c, tx) =>
        {
            c.Execute("""
                INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at)
                VALUES (@Id, @campaignId, @lead, @Attempt, @ChannelId, @node, @Trunk, @at)
                ON CONFLICT (id) DO NOTHING
                """, new { call.Id, campaignId, lead = lead.Id, call.Attempt, call.ChannelId, node, call.Trunk, at = Time.Ms(call.PlacedAt) }, tx);
            return c.Execute("""
                UPDATE leads SET state = 1, attempts = @Attempts, attempts_today = @AttemptsToday, attempts_day = @day,
                                 last_attempt_at = @at, lease_owner = NULL, lease_until = NULL
                WHERE id = @Id
                """, new { lead.Attempts, lead.AttemptsToday, day = Time.Day(lead.AttemptsDay), at = Time.Ms(call.PlacedAt), lead.Id }, tx);
        });
        Written?.Invoke(call, false);
    }

    public void Finished(Call call)
    {
        db.Write((c, tx) =>
        {
            c.Execute("""
                UPDATE attempts SET answered_at = @answered, connected_at = @connected, ended_at = @ended, agent = @agent,
                                    outcome = @outcome, cause = @Cause, cost = @Cost
                WHERE id = @Id
                """, new
            {
                answered = Ms(call.AnsweredAt), connected = Ms(call.ConnectedAt), ended = Ms(call.EndedAt), agent = call.Agent?.Id,
                outcome = call.Outcome.ToCsv(), call.Cause, call.Cost, call.Id,
            }, tx);
            // The customer's latest result feeds the churn-risk rule of later imports.
            return c.Execute("UPDATE customers SET last_outcome = @outcome WHERE id = (SELECT customer_id FROM leads WHERE id = @lead)",
                new { outcome = call.Outcome.ToCsv(), lead = call.Lead.Id }, tx);
        });
        Written?.Invoke(call, true);
    }

    /// <summary>
    /// Run once at start, before dialing, with the channel ids the driver reports live. <paramref name="owners"/> are the nodes
    /// whose attempts are settled: this node (the default) and, after a takeover, the dead owner named by the lease row
    /// (<see cref="CampaignLease.TakenFrom"/>), whatever its name. An open attempt whose
    /// channel is gone is closed (outcome unknown, marked reconciled) and counted as an attempt that met network
    /// trouble: its lead is retired at its attempt cap, else returns after the campaign's congestion retry delay
    /// (never at once: the callee may have just been talking to us). One still live is left open and returned,
    /// for the caller to hang up or adopt; leases those nodes held on leads never dialed are released.
    /// No lead is lost and none is dialed while its call may be up.
    /// </summary>
    public ReconcileReport Reconcile(IReadOnlySet<string> liveChannels, CampaignConfig config, DateTime utcNow, IReadOnlyCollection<string>? owners = null)
    {
        var now = Time.Ms(utcNow);
        var nodes = (owners ?? [node]).ToArray();
        return db.Write((c, tx) =>
        {
            var open = c.Query<(long Id, long LeadId, string ChannelId, long Attempts)>($"""
                SELECT a.id, a.lead_id, a.channel_id, l.attempts FROM attempts a JOIN leads l ON l.id = a.lead_id
                WHERE {db.Dialect.In("a.node", "@nodes")} AND a.campaign_id = @campaignId AND a.ended_at IS NULL
                """, new { nodes, campaignId }, tx).ToList();
            var gone = open.Where(a => !liveChannels.Contains(a.ChannelId)).ToList();
            c.Execute("UPDATE attempts SET ended_at = @now, reconciled = 1 WHERE id = @Id", gone.Select(a => new { now, a.Id }), tx);
            c.Execute("UPDATE leads SET state = @state, due_at = @due WHERE id = @LeadId AND state = 1", gone.Select(a =>
            {
                var delay = Retry.Delay(config, (int)a.Attempts, CallOutcome.Congestion);
                return new { state = delay is null ? LeadState.Done : LeadState.Pending, due = now + (long)((delay ?? 0) * 1000), a.LeadId };
            }), tx);
            var released = c.Execute($"UPDATE leads SET lease_owner = NULL, lease_until = NULL WHERE campaign_id = @campaignId AND {db.Dialect.In("lease_owner", "@nodes")} AND state = 0",
                new { campaignId, nodes }, tx);
            var live = open.Where(a => liveChannels.Contains(a.ChannelId)).Select(a => a.ChannelId).ToList();
            return new ReconcileReport(gone.Count, live, released);
        });
    }

    private static long? Ms(DateTime? t) => t is { } v ? Time.Ms(v) : null;
}
