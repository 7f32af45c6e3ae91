using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;
using System.Data.Common;

namespace Dialer.Store;

/// <summary>
/// What start-up reconciliation found among the attempts a node left open: closed (their call is gone, or was hung up now;
/// <see cref="Abandoned"/> of them live callees nobody had reached), still live (kept open: their calls are adopted), leases freed.
/// </summary>
public sealed record ReconcileReport(int Closed, IReadOnlyList<string> StillLive, int LeasesReleased, int Abandoned = 0);

/// <summary>An attempt whose call had not ended when its node stopped (a crash): what recovery needs to adopt its call.</summary>
public sealed record OpenAttempt(long Id, string Node, long LeadId, int AttemptNo, string ChannelId, int Trunk, DateTime PlacedAt);

/// <summary>
/// Attempts on the database. <see cref="Placed"/> commits the attempt row (with its channel id) and marks
/// the lead as dialing before the driver is asked to originate, so after a crash every call that may
/// exist in the network has a row; <see cref="Reconcile"/> settles those rows against the driver's live channels.
/// </summary>
public sealed class DbAttemptLog(StoreDb db, long campaignId, string node) : IAttemptLog
{
    /// <summary>Days a survey's opt-out key keeps the number on the refusal list (the campaign's refusal block; the rules want ≥ 6 months).</summary>
    public int RefusalBlockDays { get; init; } = 183;

    /// <summary>The owner's fencing token, checked inside every write of an attempt (none: a node without ownership leases).</summary>
    public CampaignFence? Fence { get; init; }

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
        db.Send(Fence, new Statement("""
                INSERT INTO attempts (id, campaign_id, lead_id, attempt_no, channel_id, node, trunk, placed_at)
                VALUES (@Id, @campaignId, @lead, @Attempt, @ChannelId, @node, @Trunk, @at)
                ON CONFLICT (id) DO NOTHING
                """, new { call.Id, campaignId, lead = lead.Id, call.Attempt, call.ChannelId, node, call.Trunk, at = Time.Ms(call.PlacedAt) }),
            new Statement("""
                UPDATE leads SET state = 1, attempts = @Attempts, attempts_today = @AttemptsToday, attempts_day = @day,
                                 last_attempt_at = @at, lease_owner = NULL, lease_until = NULL
                WHERE id = @Id
                """, new { lead.Attempts, lead.AttemptsToday, day = Time.Day(lead.AttemptsDay), at = Time.Ms(call.PlacedAt), lead.Id }));
        Written?.Invoke(call, false);
    }

    /// <summary>
    /// The answers, one row per question (a question asked again keeps its last answer; a rewrite after a failed batch
    /// changes nothing); an opt-out puts the number on the refusal list through the one DNC upsert, as an agent's refusal does.
    /// </summary>
    private void Survey(DbConnection c, DbTransaction tx, Call call, ScriptResult script)
    {
        c.Execute("""
            INSERT INTO survey_answers (attempt_id, campaign_id, question, answer, tries) VALUES (@Id, @campaignId, @Question, @answer, @Tries)
            ON CONFLICT (attempt_id, question) DO UPDATE SET answer = excluded.answer, tries = excluded.tries
            """, script.Answers.Select(a => new { call.Id, campaignId, a.Question, answer = a.Key?.ToString(), a.Tries }), tx);
        if (script.End != ScriptEnd.OptOut) return;
        var hash = c.QuerySingleOrDefault<byte[]>("SELECT phone_hash FROM leads WHERE id = @lead", new { lead = call.Lead.Id }, tx);
        if (hash is null) return; // the lead was deleted meanwhile: nothing left to block by
        var at = call.EndedAt ?? DateTime.UtcNow;
        Dnc.Refused(c, tx, "survey", call.Lead.Id, call.Id, hash, "survey opt-out key", at.AddDays(RefusalBlockDays), at);
        c.Execute("UPDATE leads SET state = 2 WHERE id = @lead", new { lead = call.Lead.Id }, tx);
    }

    /// <summary>
    /// Closes the attempt with its outcome. A call that never reached the network (<see cref="Call.NeverPlaced"/>: its
    /// originate refused, or called off before it left) gave its attempt back to the lead, so its row goes: a lead's
    /// attempt count and its rows agree, and the reports count only calls that existed.
    /// </summary>
    public void Finished(Call call)
    {
        if (call.NeverPlaced) db.Send(Fence, new Statement("DELETE FROM attempts WHERE id = @Id", new { call.Id }));
        else
        {
            Statement[] close =
            [
                new("""
                    UPDATE attempts SET answered_at = @answered, connected_at = @connected, ended_at = @ended, agent = @agent,
                                        outcome = @outcome, cause = @Cause, cost = @Cost, script_end = @scriptEnd
                    WHERE id = @Id
                    """, new
                {
                    answered = Ms(call.AnsweredAt), connected = Ms(call.ConnectedAt), ended = Ms(call.EndedAt), agent = call.Agent?.Id,
                    outcome = call.Outcome.ToCsv(), call.Cause, call.Cost, call.Id, scriptEnd = call.Script?.End.ToName(),
                }),
                // The customer's latest result feeds the churn-risk rule of later imports.
                new("UPDATE customers SET last_outcome = @outcome WHERE id = (SELECT customer_id FROM leads WHERE id = @lead)",
                    new { outcome = call.Outcome.ToCsv(), lead = call.Lead.Id }),
            ];
            // A survey's answers go with the close, in its transaction (an opt-out reads the lead's number hash).
            if (call.Script is { } script)
                db.Write(Fence, (c, tx) =>
                {
                    foreach (var s in close) s.Run(c, tx);
                    Survey(c, tx, call, script);
                    return 0;
                });
            else db.Send(Fence, close);
        }
        Written?.Invoke(call, true);
    }

    /// <summary>
    /// Recovery adopted these calls (still bridged to an agent): their rows show them answered and connected, with their agent,
    /// from now on (a report or a takeover before their end sees a live answer); the outcome follows when they end.
    /// </summary>
    public void Adopted(IReadOnlyCollection<Call> calls)
    {
        if (calls.Count == 0) return;
        db.Write((c, tx) => c.Execute("UPDATE attempts SET answered_at = @answered, connected_at = @connected, agent = @agent WHERE id = @Id",
            calls.Select(call => new { answered = Ms(call.AnsweredAt), connected = Ms(call.ConnectedAt), agent = call.Agent?.Id, call.Id }), tx));
    }

    /// <summary>The attempts of this campaign that <paramref name="nodes"/> (default: this node) left open, oldest first.</summary>
    public IReadOnlyList<OpenAttempt> Open(IReadOnlyCollection<string>? nodes = null)
    {
        using var c = db.Connect();
        return c.Query<(long Id, string Node, long LeadId, long AttemptNo, string ChannelId, long Trunk, long PlacedAt)>($"""
            SELECT id, node, lead_id, attempt_no, channel_id, trunk, placed_at FROM attempts
            WHERE campaign_id = @campaignId AND ended_at IS NULL AND {db.Dialect.In("node", "@nodes")} ORDER BY id
            """, new { campaignId, nodes = (nodes ?? [node]).ToArray() })
            .Select(a => new OpenAttempt(a.Id, a.Node, a.LeadId, (int)a.AttemptNo, a.ChannelId, (int)a.Trunk, Time.FromMs(a.PlacedAt))).ToList();
    }

    /// <summary>
    /// Run once at start, before dialing, with the channel ids still live that the caller adopts. Every other open
    /// attempt of <paramref name="nodes"/> (default: this node) is closed, marked reconciled. One in
    /// <paramref name="abandoned"/> was a live callee nobody had reached, hung up now: it closes as abandoned, answered now,
    /// so the abandon ledger (seeded from the store) counts it, and its lead follows the abandoned retry rule. Any other
    /// met network trouble (outcome unknown): its lead is retired at its attempt cap, else returns after the campaign's
    /// congestion retry delay (never at once: the callee may have just been talking to us). Leases these nodes held on
    /// leads they never dialed are released. No lead is lost and none is dialed while its call may be up.
    /// </summary>
    public ReconcileReport Reconcile(IReadOnlySet<string> liveChannels, CampaignConfig config, DateTime utcNow,
        IReadOnlyCollection<string>? nodes = null, IReadOnlySet<string>? abandoned = null)
    {
        var now = Time.Ms(utcNow);
        var owners = (nodes ?? [node]).ToArray();
        return db.Write(Fence, (c, tx) =>
        {
            var open = c.Query<(long Id, long LeadId, string ChannelId, long Attempts)>($"""
                SELECT a.id, a.lead_id, a.channel_id, l.attempts FROM attempts a JOIN leads l ON l.id = a.lead_id
                WHERE {db.Dialect.In("a.node", "@owners")} AND a.campaign_id = @campaignId AND a.ended_at IS NULL
                """, new { owners, campaignId }, tx).ToList();
            var gone = open.Where(a => !liveChannels.Contains(a.ChannelId)).ToList();
            bool Abandoned(string channel) => abandoned?.Contains(channel) == true;
            c.Execute("UPDATE attempts SET ended_at = @now, reconciled = 1, answered_at = @answered, outcome = @outcome WHERE id = @Id", gone.Select(a =>
            {
                var lost = Abandoned(a.ChannelId);
                return new { now, answered = lost ? now : (long?)null, outcome = lost ? CallOutcome.Abandoned.ToCsv() : null, a.Id };
            }), tx);
            c.Execute("UPDATE leads SET state = @state, due_at = @due WHERE id = @LeadId AND state = 1", gone.Select(a =>
            {
                var delay = Retry.Delay(config, (int)a.Attempts, Abandoned(a.ChannelId) ? CallOutcome.Abandoned : CallOutcome.Congestion);
                return new { state = delay is null ? LeadState.Done : LeadState.Pending, due = now + (long)((delay ?? 0) * 1000), a.LeadId };
            }), tx);
            var released = c.Execute($"UPDATE leads SET lease_owner = NULL, lease_until = NULL WHERE campaign_id = @campaignId AND {db.Dialect.In("lease_owner", "@owners")} AND state = 0",
                new { campaignId, owners }, tx);
            var live = open.Where(a => liveChannels.Contains(a.ChannelId)).Select(a => a.ChannelId).ToList();
            return new ReconcileReport(gone.Count, live, released, gone.Count(a => Abandoned(a.ChannelId)));
        });
    }

    private static long? Ms(DateTime? t) => t is { } v ? Time.Ms(v) : null;
}
