using Dapper;

namespace Dialer.Store;

/// <summary>One agent state change: the agent entered <see cref="State"/> (the event stream's name) at <see cref="At"/> (ms since the epoch).</summary>
public sealed record AgentStateRow(long CampaignId, string Agent, string State, string? Reason, long At);

/// <summary>The stored agent state changes (agent_states): written in batches off the engine loop, read by the agents report.</summary>
public sealed class AgentStates(StoreDb db)
{
    private static readonly string[] Columns = ["campaign_id", "agent", "state", "reason", "at"];

    /// <summary>Stores <paramref name="rows"/> in one transaction (all or none: a failure throws and writes nothing).</summary>
    public void Write(IReadOnlyCollection<AgentStateRow> rows)
    {
        if (rows.Count == 0) return;
        db.Write((c, tx) =>
        {
            db.Dialect.BulkInsert(c, tx, "agent_states", Columns, rows, (w, r) =>
            {
                w.Write(r.CampaignId); w.Write(r.Agent); w.Write(r.State); w.Write(r.Reason); w.Write(r.At);
            });
            return 0;
        });
    }

    /// <summary>
    /// Every change of the campaign in [<paramref name="fromMs"/>, <paramref name="toMs"/>), and each agent's last change
    /// before it (the state it was in when the period began), ordered by agent and time.
    /// </summary>
    public List<AgentStateRow> Read(long campaignId, long fromMs, long toMs)
    {
        using var c = db.Connect();
        return c.Query<(string Agent, string State, string? Reason, long At)>("""
            SELECT agent, state, reason, at FROM agent_states WHERE campaign_id = @id AND at >= @from AND at < @to
            UNION ALL
            SELECT s.agent, s.state, s.reason, s.at FROM agent_states s
            JOIN (SELECT agent, MAX(at) AS at FROM agent_states WHERE campaign_id = @id AND at < @from GROUP BY agent) p ON p.agent = s.agent AND p.at = s.at
            WHERE s.campaign_id = @id
            ORDER BY 1, 4
            """, new { id = campaignId, from = fromMs, to = toMs })
            .Select(r => new AgentStateRow(campaignId, r.Agent, r.State, r.Reason, r.At)).ToList();
    }
}
