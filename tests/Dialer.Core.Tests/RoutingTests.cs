using Dialer.Core.Domain;
using Dialer.Core.Routing;

namespace Dialer.Core.Tests;

public class AgentRouterTests
{
    private readonly SkillCatalog _catalog = new();
    private readonly RequirementTable _reqs = new();

    private SkillSet Skills(params (string, int)[] s) => SkillSet.From(_catalog, s.Select(x => new KeyValuePair<string, int>(x.Item1, x.Item2)));
    private SkillRequirement Need(params (string, byte)[] s) => _reqs.Intern(s.Select(x => (_catalog.Intern(x.Item1), x.Item2)));

    [Fact]
    public void Picks_the_longest_idle_agent_that_has_every_skill_at_its_level()
    {
        var router = new AgentRouter(4);
        router.Register(0, Skills(("lang:yue", 3), ("seniority", 1)));
        router.Register(1, Skills(("lang:yue", 1), ("seniority", 3)));
        router.Register(2, Skills(("lang:yue", 3), ("seniority", 3)));
        router.Register(3, Skills());
        router.MarkReady(3, 10);
        router.MarkReady(0, 20);
        router.MarkReady(1, 30);
        router.MarkReady(2, 40);

        Assert.Equal(3, router.PickLongestIdle(SkillRequirement.None));
        Assert.Equal(0, router.PickLongestIdle(Need(("lang:yue", 2))));
        Assert.Equal(1, router.PickLongestIdle(Need(("seniority", 2))));
        Assert.Equal(2, router.PickLongestIdle(Need(("lang:yue", 2), ("seniority", 2))));
        router.Remove(2);
        Assert.Equal(-1, router.PickLongestIdle(Need(("lang:yue", 2), ("seniority", 2))));
        Assert.Equal(3, router.ReadyCount);
    }

    [Fact]
    public void Heap_order_survives_removals_from_the_middle()
    {
        var router = new AgentRouter(50);
        var same = Skills(("x", 1));
        for (var a = 0; a < 50; a++) router.Register(a, same);
        for (var a = 0; a < 50; a++) router.MarkReady(a, (a * 37) % 50); // agent a ready at a shuffled time
        foreach (var a in new[] { 0, 7, 13, 21, 49 }) router.Remove(a);
        var order = new List<double>();
        while (router.PickLongestIdle(SkillRequirement.None) is var a and >= 0)
        {
            order.Add((a * 37) % 50);
            router.Remove(a);
        }
        Assert.Equal(45, order.Count);
        Assert.Equal(order.Order(), order);
    }

    [Fact]
    public void A_profile_registered_later_is_seen_by_cached_requirements()
    {
        var router = new AgentRouter(2);
        router.Register(0, Skills(("lang:en", 1)));
        var needYue = Need(("lang:yue", 1));
        Assert.Equal(-1, router.PickLongestIdle(needYue)); // caches "nobody"
        router.Register(1, Skills(("lang:yue", 1)));
        router.MarkReady(1, 0);
        Assert.Equal(1, router.PickLongestIdle(needYue));
        Assert.True(router.CanTake(1, needYue));
        Assert.False(router.CanTake(0, needYue));
    }

    [Fact]
    public void Equal_requirements_intern_to_one_id_and_keep_the_strongest_level()
    {
        var a = Need(("lang:yue", 1), ("seniority", 2));
        var b = Need(("seniority", 2), ("lang:yue", 1));
        var c = Need(("seniority", 1), ("seniority", 2), ("lang:yue", 1));
        Assert.Same(a, b);
        Assert.Same(a, c);
        Assert.NotSame(a, Need(("seniority", 3)));
    }
}

public class TrunkRouterTests
{
    [Fact]
    public void Takes_the_cheapest_trunk_at_each_trunks_longest_matching_prefix()
    {
        var router = new TrunkRouter([
            Make.Trunk("a", rates: [("+86", 0.010), ("+8610", 0.020)]),
            Make.Trunk("b", rates: [("+86", 0.015)]),
            Make.Trunk("c", rates: [("+1", 0.001)]),
        ]);
        Assert.Equal(1, router.TryTake("+8610555", 0)); // a charges 0.020 for +8610, b 0.015
        Assert.Equal(0, router.TryTake("+8621555", 0)); // a's +86 rate, 0.010
        Assert.Equal(2, router.TryTake("+14155550100", 0));
        Assert.Equal(-1, router.TryTake("+44207", 0)); // nobody prices +44
        Assert.Equal(0.020, router.RateOf(0, "+8610123"));
        Assert.Equal(0.015, router.RateOf(1, "+8610123"));
    }

    [Fact]
    public void Full_trunks_and_spent_cps_budgets_move_calls_to_the_next_trunk()
    {
        var router = new TrunkRouter([Make.Trunk("cheap", channels: 2, cps: 100, rates: [("+86", 0.01)]), Make.Trunk("dear", channels: 10, cps: 1, rates: [("+86", 0.05)])]);
        Assert.Equal(0, router.TryTake("+861", 0));
        Assert.Equal(0, router.TryTake("+861", 0));
        Assert.Equal(1, router.TryTake("+861", 0)); // cheap is full
        Assert.Equal(-1, router.TryTake("+861", 0.5)); // dear has 1 call/s and used it
        Assert.Equal(1.0, router.NextTokenAt("+861", 0.5), 9);
        Assert.Equal(1, router.TryTake("+861", 1.0));
        router.Release(0);
        Assert.Equal(0, router.TryTake("+861", 1.0));
        Assert.Equal(12 - 4, router.FreeChannels);
    }

    [Fact]
    public void A_number_whose_trunks_are_all_out_is_out_of_service_and_one_whose_trunks_are_full_waits_for_a_channel()
    {
        var router = new TrunkRouter([Make.Trunk("cn", channels: 1, cps: 10, rates: [("+86", 0.01)]), Make.Trunk("us", channels: 5, cps: 10, rates: [("+1", 0.02)])]);
        router.SetAvailable(0, false);
        Assert.False(router.InService("+8613800000000"));
        Assert.True(router.InService("+12125550000"));
        Assert.False(router.InService("+4420000000")); // no trunk prices it
        Assert.Equal(double.PositiveInfinity, router.NextTokenAt("+8613800000000", 0)); // the free "us" trunk is no route of it
        router.SetAvailable(0, true);
        Assert.Equal(0, router.TryTake("+8613800000000", 0));
        Assert.True(router.InService("+8613800000000"));
        Assert.Equal(double.PositiveInfinity, router.NextTokenAt("+8613800000000", 0)); // full: a call's end frees it
        router.Release(0);
        Assert.Equal(0.1, router.NextTokenAt("+8613800000000", 0.1), 9); // a token left: now
    }

    [Fact]
    public void A_lowered_share_moves_calls_to_the_next_trunk_until_it_is_given_back()
    {
        var router = new TrunkRouter([Make.Trunk("cheap", channels: 10, cps: 100, rates: [("+86", 0.01)]), Make.Trunk("dear", channels: 10, cps: 100, rates: [("+86", 0.05)])]);
        Assert.Equal(0, router.TryTake("+861", 0));
        router.SetShare(0, 0.25); // 3 of 10 channels
        Assert.Equal(3, router.Limit(0));
        Assert.Equal([0, 0, 1], new[] { router.TryTake("+861", 0), router.TryTake("+861", 0), router.TryTake("+861", 0) });
        router.SetShare(0, 0.01);
        Assert.Equal(1, router.Limit(0)); // never below one channel
        router.SetShare(0, 1);
        Assert.Equal(0, router.TryTake("+861", 0));
    }

    [Fact]
    public void Bad_trunk_config_names_the_trunk_and_field()
    {
        var e = Assert.Throws<ArgumentException>(() => new TrunkRouter([Make.Trunk("x", rates: [("+8a6", 0.01)])]));
        Assert.Contains("trunk 'x'", e.Message);
        Assert.Contains("'a' is not a digit", e.Message);
        Assert.Contains("channels", Assert.Throws<ArgumentException>(() => new TrunkRouter([Make.Trunk("y", channels: 0)])).Message);
    }
}
