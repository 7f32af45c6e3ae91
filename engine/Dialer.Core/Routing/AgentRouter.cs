using Dialer.Core.Domain;

namespace Dialer.Core.Routing;

/// <summary>
/// Longest-idle agent having every skill a call needs. Agents with equal skills share a profile; each
/// profile keeps its ready agents in a heap by ready-since time. A pick compares the heap tops of the
/// profiles that satisfy the requirement (cached per requirement), so it costs O(profiles), not O(agents),
/// and a removal O(log n). Nothing allocates once every requirement has been seen once.
/// </summary>
public sealed class AgentRouter
{
    private readonly List<SkillSet> _profiles = [];
    private readonly List<IndexedMinHeap> _ready = [];
    private readonly double[] _readySince;
    private readonly int[] _positions;
    private readonly int[] _profileOf;
    private readonly int _capacity;
    private int[]?[] _satisfying = new int[]?[16];

    public AgentRouter(int capacity)
    {
        _capacity = capacity;
        _readySince = new double[capacity];
        _positions = new int[capacity];
        _profileOf = new int[capacity];
        Array.Fill(_positions, -1);
        Array.Fill(_profileOf, -1);
    }

    public int ReadyCount { get; private set; }
    public int ProfileCount => _profiles.Count;

    /// <summary>Gives the agent a profile; call once per agent before it becomes ready.</summary>
    public void Register(int agent, SkillSet skills)
    {
        var p = _profiles.IndexOf(skills);
        if (p < 0)
        {
            p = _profiles.Count;
            _profiles.Add(skills);
            _ready.Add(new IndexedMinHeap(_readySince, _positions, _capacity));
            Array.Clear(_satisfying); // a new profile may satisfy requirements already cached
        }
        _profileOf[agent] = p;
    }

    public bool IsReady(int agent) => _positions[agent] >= 0;

    public void MarkReady(int agent, double readySince)
    {
        if (_positions[agent] >= 0) return;
        _readySince[agent] = readySince;
        _ready[_profileOf[agent]].Push(agent);
        ReadyCount++;
    }

    public void Remove(int agent)
    {
        if (_positions[agent] < 0) return;
        _ready[_profileOf[agent]].Remove(agent);
        ReadyCount--;
    }

    /// <summary>The longest-idle ready agent able to take a call needing <paramref name="req"/>, or -1. Does not remove it.</summary>
    public int PickLongestIdle(SkillRequirement req)
    {
        var best = -1;
        foreach (var p in Satisfying(req))
        {
            var heap = _ready[p];
            if (heap.Count == 0) continue;
            var a = heap.Peek();
            if (best < 0 || _readySince[a] < _readySince[best] || (_readySince[a] == _readySince[best] && a < best)) best = a;
        }
        return best;
    }

    /// <summary>Can agent <paramref name="agent"/> take a call needing <paramref name="req"/>?</summary>
    public bool CanTake(int agent, SkillRequirement req) => Array.IndexOf(Satisfying(req), _profileOf[agent]) >= 0;

    private int[] Satisfying(SkillRequirement req)
    {
        if (req.Id >= _satisfying.Length) Array.Resize(ref _satisfying, Math.Max(req.Id + 1, _satisfying.Length * 2));
        if (_satisfying[req.Id] is { } cached) return cached;
        var list = new List<int>();
        for (var p = 0; p < _profiles.Count; p++)
            if (_profiles[p].Satisfies(req)) list.Add(p);
        return _satisfying[req.Id] = list.ToArray();
    }
}
