namespace Dialer.Core.Domain;

/// <summary>Interns skill names ("lang:cantonese", "product:auto", "seniority") to small indexes.</summary>
public sealed class SkillCatalog
{
    public const int MaxSkills = 32;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<string> _names = [];

    public int Count => _names.Count;
    public string NameOf(int index) => _names[index];

    public int Intern(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("skill name is empty", nameof(name));
        if (_index.TryGetValue(name, out var i)) return i;
        if (_names.Count == MaxSkills) throw new InvalidOperationException($"more than {MaxSkills} distinct skills (adding '{name}')");
        _index[name] = _names.Count;
        _names.Add(name);
        return _names.Count - 1;
    }

    public bool TryGet(string name, out int index) => _index.TryGetValue(name, out index);
}

/// <summary>An agent's skill levels, indexed by <see cref="SkillCatalog"/>; level 0 = lacks the skill.</summary>
public sealed class SkillSet : IEquatable<SkillSet>
{
    private readonly byte[] _levels = new byte[SkillCatalog.MaxSkills];

    public byte this[int skill] => _levels[skill];

    public static SkillSet From(SkillCatalog catalog, IEnumerable<KeyValuePair<string, int>> levels)
    {
        var s = new SkillSet();
        foreach (var (name, level) in levels)
        {
            if (level is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(levels), $"skill '{name}': level {level} is outside 1..255");
            s._levels[catalog.Intern(name)] = (byte)level;
        }
        return s;
    }

    public bool Satisfies(SkillRequirement req)
    {
        foreach (var (skill, min) in req.Terms)
            if (_levels[skill] < min) return false;
        return true;
    }

    public bool Equals(SkillSet? other) => other is not null && _levels.AsSpan().SequenceEqual(other._levels);
    public override bool Equals(object? obj) => Equals(obj as SkillSet);
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.AddBytes(_levels);
        return h.ToHashCode();
    }
}

/// <summary>What a call needs: every listed skill at or above its level. Interned per campaign, so an id is enough on the hot path.</summary>
public sealed class SkillRequirement
{
    public static readonly SkillRequirement None = new(0, []);

    public int Id { get; }
    public IReadOnlyList<(int Skill, byte MinLevel)> Terms { get; }

    internal SkillRequirement(int id, (int, byte)[] terms)
    {
        Id = id;
        Terms = terms;
    }
}

/// <summary>Interns requirements so equal ones share an id (the agent router caches per id).</summary>
public sealed class RequirementTable
{
    private readonly Dictionary<string, SkillRequirement> _byKey = new(StringComparer.Ordinal) { [""] = SkillRequirement.None };
    private readonly List<SkillRequirement> _all = [SkillRequirement.None];

    public int Count => _all.Count;
    public SkillRequirement this[int id] => _all[id];

    public SkillRequirement Intern(IEnumerable<(int Skill, byte MinLevel)> terms)
    {
        // Keep the strongest level per skill; order by skill so equal sets get one key.
        var merged = new SortedDictionary<int, byte>();
        foreach (var (skill, min) in terms)
            merged[skill] = merged.TryGetValue(skill, out var m) ? Math.Max(m, min) : min;
        var key = string.Join(",", merged.Select(kv => $"{kv.Key}:{kv.Value}"));
        if (_byKey.TryGetValue(key, out var found)) return found;
        var req = new SkillRequirement(_all.Count, merged.Select(kv => (kv.Key, kv.Value)).ToArray());
        _byKey[key] = req;
        _all.Add(req);
        return req;
    }
}
