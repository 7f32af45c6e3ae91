using Dialer.Core.Domain;

namespace Dialer.Core.Routing;

/// <summary>
/// Of the agents having every skill a call needs, those whose skills the fewest other requirements need, then the
/// longest idle. "Fewest first" keeps scarce agents for the callees only they can take: picking the longest idle
/// alone sent calls anyone could take to the one free Cantonese speaker, and the next Cantonese callee was abandoned
/// (2.2% of live answers on skill-pools under progressive dialing, which never over-dials). Agents with equal skills
/// share a profile; each profile keeps its ready agents in a heap by ready-since time. A pick compares the heap tops
/// of the profiles that satisfy the requirement (cached per requirement), so it costs O(profiles), not O(agents),
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
    // Per profile: how many of the requirements seen so far it satisfies (its breadth; lower is kept for fewer callers).
    private readonly List<int> _breadth = [];

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
            _breadth.Add(0);
            Array.Clear(_satisfying); // a new profile may satisfy requirements already cached
            for (var i = 0; i < _breadth.Count; i++) _breadth[i] = 0;
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

    /// <summary>
    /// The ready agent to take a call needing <paramref name="req"/>: of the able profiles, the one the fewest requirements
    /// need, then the longest idle; -1 if none is ready. Does not remove it.
    /// </summary>
    public int PickAgent(SkillRequirement req)
    {
        int best = -1, bestBreadth = int.MaxValue;
        foreach (var p in Satisfying(req))
        {
            var heap = _ready[p];
            if (heap.Count == 0) continue;
            var a = heap.Peek();
            var breadth = _breadth[p];
            if (best < 0 || breadth < bestBreadth
                || (breadth == bestBreadth && (_readySince[a] < _readySince[best] || (_readySince[a] == _readySince[best] && a < best))))
                (best, bestBreadth) = (a, breadth);
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
            if (_profiles[p].Satisfies(req))
            {
                list.Add(p);
                _breadth[p]++;
            }
        return _satisfying[req.Id] = list.ToArray();
    }
}
