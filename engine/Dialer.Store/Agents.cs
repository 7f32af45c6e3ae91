using Dapper;

namespace Dialer.Store;

/// <param name="StartedOn">The agent's first day on the floor (seniority in the conversion report); null: not given.</param>
public sealed record AgentRecord(string Id, string? Name, IReadOnlyDictionary<string, int> Skills, DateOnly? StartedOn = null);

/// <summary>Agents and their skill levels (1..255), the input the engine's agent router is built from.</summary>
public sealed class Agents(StoreDb db)
{
    /// <summary>Creates the agent or replaces its name, skills and start date.</summary>
    public void Upsert(string id, string? name, IReadOnlyDictionary<string, int> skills, DateTime utcNow, DateOnly? startedOn = null) => db.Write((c, tx) =>
    {
        c.Execute("""
            INSERT INTO agents (id, name, started_on, created_at) VALUES (@id, @name, @started, @at)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name, started_on = excluded.started_on
            """, new { id, name, started = startedOn is { } d ? Time.Day(d) : (int?)null, at = Time.Ms(utcNow) }, tx);
        c.Execute("DELETE FROM agent_skills WHERE agent_id = @id", new { id }, tx);
        c.Execute("INSERT INTO agent_skills (agent_id, skill, level) VALUES (@id, @Key, @level)",
            skills.Select(kv => new { id, kv.Key, level = (short)kv.Value }), tx);
        Audit.Write(c, tx, "api", "agent", $"agent:{id}", string.Join(',', skills.Select(kv => $"{kv.Key}={kv.Value}")), utcNow);
        return 0;
    });

    public IReadOnlyList<AgentRecord> List()
    {
        using var c = db.Connect();
        var skills = c.Query<(string AgentId, string Skill, long Level)>("SELECT agent_id, skill, level FROM agent_skills")
            .GroupBy(s => s.AgentId).ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, int>)g.ToDictionary(s => s.Skill, s => (int)s.Level));
        return c.Query<(string Id, string? Name, long? StartedOn)>("SELECT id, name, CAST(started_on AS BIGINT) FROM agents ORDER BY id")
            .Select(a => new AgentRecord(a.Id, a.Name, skills.GetValueOrDefault(a.Id) ?? new Dictionary<string, int>(),
                a.StartedOn is { } d ? Time.FromDay((int)d) : null)).ToList();
    }
}
