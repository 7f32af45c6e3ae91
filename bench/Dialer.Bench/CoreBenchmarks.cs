using BenchmarkDotNet.Attributes;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;

namespace Dialer.Bench;

/// <summary>
/// Hot paths of the engine loop (issue #2): the pacing decision on a large floor, the longest-idle agent pick,
/// and the trunk pick. Targets: Decide ≤ 20 µs, agent pick ≤ 2 µs, trunk pick ≤ 1 µs, all 0 B per op.
/// Fixtures are built through Dialer.Core's internal state API (InternalsVisibleTo) from fixed seeds.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*Core*' --job short
/// </summary>
// Min and Median beside Mean: the bench machine is shared, and Min is the least disturbed by other jobs.
[MemoryDiagnoser, MinColumn, MedianColumn]
public class CoreBenchmarks
{
    private const int Seed = 20261121;
    private const int AgentCount = 2000, RingingCount = 5000, WaitingCount = 20, FreeChannels = 1000;
    private static readonly DateTime Epoch = new(2026, 11, 23, 14, 0, 0, DateTimeKind.Utc); // a Monday, 09:00 in New York
    private const double Now = 3 * 3600; // three hours into the shift: 12:00 New York

    // Pacing fixture.
    private DialerState _state = null!;
    private PredictivePacer _predictive = null!;
    private DialerState _smallState = null!;
    private PredictivePacer _smallPredictive = null!;
    private VicidialPacer _vicidial = null!;
    private double _vicidialNow;

    // Agent router fixture.
    private AgentRouter _router = null!;
    private SkillRequirement _requirement = null!;
    private double _readyClock;

    // Trunk router fixture.
    private TrunkRouter _trunks = null!;
    private string[] _phones = null!;
    private int _phoneIndex;
    private double _trunkNow;

    [GlobalSetup]
    public void Setup()
    {
        SetupPacing();
        SetupAgentRouter();
        SetupTrunkRouter();
    }

    // ---- 1. pacing decision -----------------------------------------------------------------------

    private void SetupPacing()
    {
        _state = PacingState(AgentCount, RingingCount, WaitingCount, FreeChannels);
        // A 25-agent team with 30 calls ringing: under ExactOverflow.MaxTerms, so the exact (Poisson-binomial) path.
        _smallState = PacingState(25, 30, 1, 120);
        _predictive = new PredictivePacer(new PredictiveOptions());
        _smallPredictive = new PredictivePacer(new PredictiveOptions());
        _vicidial = new VicidialPacer(VicidialDropClamp.Tapered, new VicidialOptions { DroppedPercentage = 2 });
        _vicidialNow = Now;
        _predictive.Decide(_state); // warm the histograms' survival tables
        _smallPredictive.Decide(_smallState);
    }

    private static DialerState PacingState(int agentCount, int ringingCount, int waitingCount, int freeChannels)
    {
        var rng = new Random(Seed);
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        var config = new CampaignConfig { TimeZone = zone, WindowStart = new(9, 0), WindowEnd = new(21, 0) };
        var catalog = new SkillCatalog();
        var skills = SkillSet.From(catalog, [new("lang:en", 1)]);
        var agents = new Agent[agentCount];
        for (var i = 0; i < agentCount; i++) agents[i] = new Agent { Index = i, Id = $"agent-{i}", Skills = skills };

        var s = new DialerState(config, agents, Epoch, ringingCount + freeChannels) { Now = Now };

        // Histograms trained with a few thousand observations each (log-normal-ish answers, exponential talk/wrap).
        for (var i = 0; i < 4000; i++)
        {
            s.LiveAnswerDelay.Observe(Math.Exp(2.0 + 0.45 * Normal(rng)));
            s.OtherRingTime.Observe(rng.NextDouble() < 0.6 ? config.RingTimeoutSeconds : 3 + 20 * rng.NextDouble());
            s.TalkTime.Observe(-180 * Math.Log(1 - rng.NextDouble()));
            s.WrapTime.Observe(5 - 20 * Math.Log(1 - rng.NextDouble()));
        }

        // 2,000 agents: 10% ready, 55% talking, 25% wrap-up, 10% paused, each since a varied time.
        for (var a = 0; a < agentCount; a++)
        {
            var u = rng.NextDouble();
            var (st, back) = u switch
            {
                < 0.10 => (AgentState.Ready, 30 * rng.NextDouble()),
                < 0.65 => (AgentState.Talking, -200 * Math.Log(1 - rng.NextDouble())),
                < 0.90 => (AgentState.WrapUp, 60 * rng.NextDouble()),
                _ => (AgentState.Paused, 900 * rng.NextDouble()),
            };
            s.SetAgentState(a, st, Now - back);
        }

        // 5,000 calls ringing with varied live probabilities and ages (0..25 s), plus a few live callees waiting.
        var callId = 0L;
        for (var i = 0; i < ringingCount; i++)
        {
            var age = config.RingTimeoutSeconds * rng.NextDouble();
            var call = NewCall(++callId, (float)(0.05 + 0.5 * rng.NextDouble()), Now - age, zone);
            s.AddRinging(call, Now - age);
        }
        for (var i = 0; i < waitingCount; i++)
            s.WaitingCalls.Add(NewCall(++callId, 0.3f, Now - 10, zone));
        s.FreeChannels = freeChannels;
        s.RecentLiveP = 0.27;
        s.CallsToday = 4200;

        // Today's ledger: 1,100 live answers, 25 abandoned (2.3%, under the 3% cap).
        var utc = s.UtcNow;
        for (var i = 0; i < 1100; i++) s.Ledger.Live(utc);
        for (var i = 0; i < 25; i++) s.Ledger.Abandoned(utc);

        return s;
    }

    private static Call NewCall(long id, float pLive, double placedAt, TimeZoneInfo zone) => new()
    {
        Id = id,
        Lead = new Lead { Id = id, Phone = $"+1212555{id % 10000:D4}", Region = "NY", TimeZone = zone },
        Attempt = 1,
        Trunk = 0,
        PlacedAt = Epoch.AddSeconds(placedAt),
        PLive = pLive,
    };

    /// <summary>Our pacer on 2,000 agents and 5,000 ringing calls (supply + demand forecast, bisection).</summary>
    [Benchmark]
    public int PredictiveDecide() => _predictive.Decide(_state).CallsToPlace;

    /// <summary>Our pacer on a 25-agent team with 30 calls ringing: the exact overflow, scanned call by call.</summary>
    [Benchmark]
    public int PredictiveDecideSmallTeam() => _smallPredictive.Decide(_smallState).CallsToPlace;

    /// <summary>
    /// Same, right after a finished call taught the talk-time histogram one more duration, as after every
    /// CallEnded event: includes the lazy survival-table rebuild (1,801 bins).
    /// </summary>
    [Benchmark]
    public int PredictiveDecideAfterObserve()
    {
        _state.TalkTime.Observe(183);
        return _predictive.Decide(_state).CallsToPlace;
    }

    /// <summary>
    /// VICIdial's adaptive pacer, ticked once a simulated second (as the engine's 1 s timer does): sample every
    /// call, dial every 2.5 s, adapt (with the tapered drop clamp active: 2.3% today over a 2% limit) every 15 s.
    /// </summary>
    [Benchmark]
    public int VicidialDecide()
    {
        _state.Now = _vicidialNow += 1;
        var calls = _vicidial.Decide(_state).CallsToPlace;
        _state.Now = Now;
        return calls;
    }

    // ---- 2. agent pick ----------------------------------------------------------------------------

    private void SetupAgentRouter()
    {
        var rng = new Random(Seed + 1);
        var catalog = new SkillCatalog();
        // Ten profiles; the requirement (English ≥ 2 and auto insurance) is met by profiles 0, 2, 5 and 8.
        KeyValuePair<string, int>[][] profiles =
        [
            [new("lang:en", 3), new("product:auto", 1)],
            [new("lang:en", 1), new("product:auto", 1)],
            [new("lang:en", 2), new("product:auto", 2), new("product:home", 1)],
            [new("lang:es", 3), new("product:auto", 1)],
            [new("lang:en", 3), new("product:home", 2)],
            [new("lang:en", 2), new("lang:es", 2), new("product:auto", 1), new("seniority", 2)],
            [new("lang:zh", 3), new("product:auto", 1)],
            [new("lang:zh", 2), new("lang:en", 1), new("product:home", 1)],
            [new("lang:en", 3), new("product:auto", 3), new("product:life", 2), new("seniority", 3)],
            [new("lang:es", 2), new("product:life", 1)],
        ];
        var sets = profiles.Select(p => SkillSet.From(catalog, p)).ToArray();
        var requirements = new RequirementTable();
        catalog.TryGet("lang:en", out var en);
        catalog.TryGet("product:auto", out var auto);
        _requirement = requirements.Intern([(en, 2), (auto, 1)]);

        _router = new AgentRouter(AgentCount);
        for (var a = 0; a < AgentCount; a++) _router.Register(a, sets[rng.Next(sets.Length)]);
        // 90% ready, idle since varied times over the last 10 minutes; the rest busy.
        for (var a = 0; a < AgentCount; a++)
            if (rng.NextDouble() < 0.9) _router.MarkReady(a, Now - 600 * rng.NextDouble());
        _readyClock = Now;
        if (_router.PickLongestIdle(_requirement) < 0) throw new InvalidOperationException("fixture: no agent satisfies the requirement");
    }

    /// <summary>Longest-idle ready agent among the 4 of 10 profiles that satisfy the requirement.</summary>
    [Benchmark]
    public int AgentPick() => _router.PickLongestIdle(_requirement);

    /// <summary>Pick, remove (agent takes the call), mark ready again as the newest idle agent: the heaps change every op.</summary>
    [Benchmark]
    public int AgentPickRemoveReady()
    {
        var a = _router.PickLongestIdle(_requirement);
        _router.Remove(a);
        _router.MarkReady(a, _readyClock += 0.001);
        return a;
    }

    // ---- 3. trunk pick ----------------------------------------------------------------------------

    private void SetupTrunkRouter()
    {
        var rng = new Random(Seed + 2);
        // 50 prefixes: country codes, area codes and mobile ranges, nested so longest-match matters.
        string[] prefixes =
        [
            "+1", "+1212", "+1213", "+1305", "+1312", "+1415", "+1617", "+1646", "+1702", "+1718",
            "+1917", "+44", "+4420", "+447", "+4479", "+49", "+4930", "+4915", "+33", "+336",
            "+86", "+8610", "+8621", "+86130", "+86131", "+86135", "+86136", "+86137", "+86138", "+86139",
            "+86150", "+86186", "+86188", "+852", "+8529", "+81", "+813", "+8190", "+61", "+614",
            "+91", "+9198", "+55", "+5511", "+52", "+5255", "+34", "+346", "+39", "+393",
        ];
        var trunks = new TrunkConfig[8];
        for (var t = 0; t < trunks.Length; t++)
        {
            var rates = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in prefixes)
                if (rng.NextDouble() < 0.6) rates[p] = Math.Round(0.002 + 0.05 * rng.NextDouble(), 4);
            rates.TryAdd("+1", 0.01);
            rates.TryAdd("+86", 0.02);
            trunks[t] = new TrunkConfig { Name = $"carrier-{t}", Channels = 240, CallsPerSecond = 50, RatePerMinute = rates };
        }
        _trunks = new TrunkRouter(trunks);

        // 1,024 E.164 numbers under random prefixes, padded to a plausible length.
        _phones = new string[1024];
        for (var i = 0; i < _phones.Length; i++)
        {
            var p = prefixes[rng.Next(prefixes.Length)];
            var digits = new char[Math.Max(0, 12 - (p.Length - 1))];
            for (var d = 0; d < digits.Length; d++) digits[d] = (char)('0' + rng.Next(10));
            _phones[i] = p + new string(digits);
        }
        _trunkNow = 0;
        if (_trunks.TryTake(_phones[0], 0) is var t0 and >= 0) _trunks.Release(t0); else throw new InvalidOperationException("fixture: unroutable number");
    }

    /// <summary>Cheapest trunk with a channel and a CPS token for the next number (time moves 1 s an op), then release it.</summary>
    [Benchmark]
    public int TrunkTakeRelease()
    {
        var phone = _phones[_phoneIndex++ & 1023];
        var t = _trunks.TryTake(phone, _trunkNow += 1);
        if (t >= 0) _trunks.Release(t);
        return t;
    }

    private static double Normal(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
}
