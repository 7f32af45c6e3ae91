using Dialer.Core.Domain;
using Dialer.Core.Routing;

namespace Dialer.Sim;

/// <summary>
/// The oracle bound on occupancy for one seed's leads: perfect foresight, unlimited lines and no abandon, so each agent who may
/// take some lead of the list talks, wraps up and at once gets the next live callee (E[talk] / (E[talk] + E[wrap])), and an
/// agent no lead's skill requirement admits talks never (senior-pool: 9 of 45 agents, 16.7%, not 86.5%).
/// It does not bound by the list's supply: a supply run (the same leads with every team and trunk 4 times larger) reached
/// fewer live answers on cn-auto-renewal than the 25 agents did (dialing sooner spends the leads' attempts sooner), so it
/// is not an upper bound there.
/// </summary>
public static class Oracle
{
    public static double Bound(Scenario scenario, ulong seed)
    {
        var rules = new RoutingRules(scenario.Campaign, scenario.Skills, new RequirementTable());
        var requirements = LeadFactory.Create(scenario, seed).Select(l =>
        {
            rules.Apply(l);
            return l.Requirement;
        }).Distinct().ToList();
        var talk = scenario.Callees.TalkSeconds.Mean;
        double served = 0, loggedIn = 0;
        foreach (var g in scenario.Agents)
        {
            var seconds = g.Count * (g.ShiftEnd - g.ShiftStart).TotalSeconds;
            loggedIn += seconds;
            if (requirements.Any(g.Skills.Satisfies)) served += seconds * talk / (talk + g.WrapSeconds.Mean);
        }
        return loggedIn > 0 ? served / loggedIn : 0;
    }
}
