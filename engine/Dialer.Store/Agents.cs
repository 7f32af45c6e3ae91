using Dapper;

namespace Dialer.Store;

public sealed record AgentRecord(string Id, string? Name, IReadOnlyDictionary<string, int> Skills);

/// <summary>Agents and their skill levels (1..255), the input the engine's agent router is built from.</summary>
public sealed class Agents(StoreDb db)
{
    /// <summary>Creates the agent or replaces its name and skills.</summary>
    public void Upsert(string id, string? name, IReadOnlyDictionary<string, int> skills, DateTime utcNow) => db.Write((c, tx) =>
    {
        c.Execute("""
            INSERT INTO agents (id, name, created_at) VALUES (@id, @name, @at)
            ON CONFLICT (id) DO UPDATE SET name = excluded.name
            """, new { id, name, at = Time.Ms(utcNow) }, tx);
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
        return c.Query<(string Id, string? Name)>("SELECT id, name FROM agents ORDER BY id")
            .Select(a => new AgentRecord(a.Id, a.Name, skills.GetValueOrDefault(a.Id) ?? new Dictionary<string, int>())).ToList();
    }
}
