using Dialer.Core.Domain;

namespace Dialer.Core.Routing;

/// <summary>
/// Least-cost trunk for a number among trunks with a free channel and calls-per-second budget.
/// Prefixes live in a digit trie; every trie node holds the trunks that can carry numbers under it,
/// each at its own longest-matching rate, pre-sorted by cost. A pick walks ≤ 15 digits and scans that list.
/// </summary>
public sealed class TrunkRouter
{
    private const int NoNode = -1;
    private readonly TrunkConfig[] _trunks;
    private readonly int[] _inUse;
    private readonly double[] _tokens;
    private readonly double[] _refilledAt;
    private readonly bool[] _unavailable; // set by a driver's circuit breaker while the carrier fails calls
    private readonly int[] _limit; // channels the picks may use: all, or fewer while the trunk's share is lowered
    private readonly int[] _children; // node * 10 + digit → child node
    private readonly (int Trunk, double Rate)[]?[] _routes; // per node, sorted by rate

    public TrunkRouter(IReadOnlyList<TrunkConfig> trunks)
    {
        if (trunks.Count == 0) throw new ArgumentException("at least one trunk is needed", nameof(trunks));
        _trunks = [.. trunks];
        _inUse = new int[trunks.Count];
        _tokens = new double[trunks.Count];
        _refilledAt = new double[trunks.Count];
        _unavailable = new bool[trunks.Count];
        _limit = [.. trunks.Select(t => t.Channels)];
        for (var t = 0; t < _trunks.Length; t++) _tokens[t] = Burst(t);

        // Build the trie of every prefix any trunk prices.
        var children = new List<int>(Enumerable.Repeat(NoNode, 10));
        var rateAt = new List<Dictionary<int, double>> { new() };
        for (var t = 0; t < _trunks.Length; t++)
        {
            var tr = _trunks[t];
            if (tr.Channels < 1) throw new ArgumentException($"trunk '{tr.Name}': channels must be ≥ 1");
            if (!(tr.CallsPerSecond > 0)) throw new ArgumentException($"trunk '{tr.Name}': calls_per_second must be > 0");
            foreach (var (prefix, rate) in tr.RatePerMinute)
            {
                if (!(rate >= 0)) throw new ArgumentException($"trunk '{tr.Name}': rate for prefix '{prefix}' must be ≥ 0");
                var node = 0;
                foreach (var ch in Digits(prefix, $"trunk '{tr.Name}': prefix '{prefix}'"))
                {
                    var slot = node * 10 + ch;
                    if (children[slot] == NoNode)
                    {
                        children[slot] = rateAt.Count;
                        rateAt.Add([]);
                        children.AddRange(Enumerable.Repeat(NoNode, 10));
                    }
                    node = children[slot];
                }
                rateAt[node][t] = rate;
            }
        }
        _children = [.. children];
        _routes = new (int, double)[]?[rateAt.Count];
        Fill(0, new Dictionary<int, double>(), rateAt);
    }

    public int Count => _trunks.Length;
    public TrunkConfig this[int trunk] => _trunks[trunk];
    public int InUse(int trunk) => _inUse[trunk];
    public bool IsAvailable(int trunk) => !_unavailable[trunk];

    /// <summary>Takes a trunk out of (or back into) the picks, e.g. while its carrier fails every call; calls up on it are untouched.</summary>
    public void SetAvailable(int trunk, bool available) => _unavailable[trunk] = !available;

    /// <summary>Channels of <paramref name="trunk"/> the picks may use now (its channels, unless its share is lowered).</summary>
    public int Limit(int trunk) => _limit[trunk];

    /// <summary>
    /// Lets the picks use only <paramref name="share"/> (0, 1] of the trunk's channels (at least one), so traffic moves to
    /// the next-cheapest trunks; 1 gives it all back. Calls up on it are untouched.
    /// </summary>
    public void SetShare(int trunk, double share) =>
        _limit[trunk] = Math.Clamp((int)Math.Ceiling(_trunks[trunk].Channels * Math.Clamp(share, 0, 1)), 1, _trunks[trunk].Channels);

    public int FreeChannels
    {
        get
        {
            var free = 0;
            for (var t = 0; t < _trunks.Length; t++) free += _trunks[t].Channels - _inUse[t];
            return free;
        }
    }

    /// <summary>
    /// Takes a channel and a CPS token on the cheapest trunk that can carry <paramref name="phone"/> now.
    /// Returns the trunk index, or -1 when no trunk prices the number or all that do are full.
    /// </summary>
    public int TryTake(string phone, double now)
    {
        var routes = RoutesFor(phone);
        if (routes is null) return -1;
        foreach (var (t, _) in routes)
        {
            if (_inUse[t] >= _limit[t] || _unavailable[t]) continue;
            Refill(t, now);
            if (_tokens[t] < 1) continue;
            _tokens[t] -= 1;
            _inUse[t]++;
            return t;
        }
        return -1;
    }

    public void Release(int trunk) => _inUse[trunk]--;

    /// <summary>A call already up on <paramref name="trunk"/> (adopted after a restart) holds a channel; no CPS token, it was placed long ago.</summary>
    public void Occupy(int trunk) => _inUse[trunk]++;

    /// <summary>Per-minute rate of <paramref name="phone"/> on <paramref name="trunk"/> (0 if unpriced).</summary>
    public double RateOf(int trunk, string phone)
    {
        var routes = RoutesFor(phone);
        if (routes is null) return 0;
        foreach (var (t, rate) in routes)
            if (t == trunk) return rate;
        return 0;
    }

    /// <summary>Whether any trunk is in service (not taken out), full or not.</summary>
    public bool AnyInService => Array.IndexOf(_unavailable, false) >= 0;

    /// <summary>Whether a trunk that prices <paramref name="phone"/> is in service (not taken out: breaker open, server down), full or not.</summary>
    public bool InService(string phone)
    {
        var routes = RoutesFor(phone);
        if (routes is null) return false;
        foreach (var (t, _) in routes)
            if (!_unavailable[t]) return true;
        return false;
    }

    /// <summary>
    /// Earliest time a trunk in service for <paramref name="phone"/> with a free channel has a CPS token again (for the
    /// engine's wake-up); +∞ while all of them are full: only a channel freed (a call's end) or a trunk back changes that.
    /// </summary>
    public double NextTokenAt(string phone, double now)
    {
        var best = double.PositiveInfinity;
        if (RoutesFor(phone) is not { } routes) return best;
        foreach (var (t, _) in routes)
        {
            if (_unavailable[t] || _inUse[t] >= _limit[t]) continue;
            Refill(t, now);
            best = Math.Min(best, _tokens[t] >= 1 ? now : now + (1 - _tokens[t]) / _trunks[t].CallsPerSecond);
        }
        return best;
    }

    private (int Trunk, double Rate)[]? RoutesFor(string phone)
    {
        (int, double)[]? found = _routes[0];
        var node = 0;
        foreach (var c in phone)
        {
            if (c == '+') continue;
            var d = c - '0';
            if ((uint)d > 9) break;
            node = _children[node * 10 + d];
            if (node == NoNode) break;
            if (_routes[node] is { } r) found = r;
        }
        return found;
    }

    private void Refill(int t, double now)
    {
        var elapsed = now - _refilledAt[t];
        if (elapsed <= 0) return;
        _tokens[t] = Math.Min(Burst(t), _tokens[t] + elapsed * _trunks[t].CallsPerSecond);
        _refilledAt[t] = now;
    }

    // Allow a one-second burst, never less than one call.
    private double Burst(int t) => Math.Max(1, _trunks[t].CallsPerSecond);

    private void Fill(int node, Dictionary<int, double> inherited, List<Dictionary<int, double>> rateAt)
    {
        var here = new Dictionary<int, double>(inherited);
        foreach (var (t, rate) in rateAt[node]) here[t] = rate;
        if (rateAt[node].Count > 0 || node == 0)
            _routes[node] = here.Count == 0 ? null : [.. here.Select(kv => (kv.Key, kv.Value)).OrderBy(r => r.Value).ThenBy(r => r.Key)];
        for (var d = 0; d < 10; d++)
            if (_children[node * 10 + d] is var child and not NoNode) Fill(child, here, rateAt);
    }

    private static IEnumerable<int> Digits(string prefix, string where)
    {
        foreach (var c in prefix)
        {
            if (c == '+') continue;
            if (c is < '0' or > '9') throw new ArgumentException($"{where}: '{c}' is not a digit");
            yield return c - '0';
        }
    }
}
