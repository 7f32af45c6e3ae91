using Dialer.Core.Pacing;

namespace Dialer.Sim;

/// <summary>
/// The oracle bound on occupancy for one seed's traffic: perfect foresight and no abandon, but only the conversations the list
/// can give and only agents who may take them. Each hour an able agent can talk at most E[talk] / (E[talk] + E[wrap]) of the
/// time; the live answers come from a supply run — the same leads, rules and callees with every team and trunk
/// <see cref="SupplyTeamFactor"/> times larger, dialed one call per ready agent, so the list and the compliance rules, not the
/// team, bound what it reaches. An hour's live answers nobody could take wait for a later hour (the oracle would have called
/// them then). Bound = talk the team could serve ÷ logged-in time. Where leads never run short it is the team's bound alone.
/// </summary>
public static class Oracle
{
    public const int SupplyTeamFactor = 4;

    public static double Bound(Scenario scenario, ulong seed)
    {
        var supply = new SimWorld(scenario.WithTeamsTimes(SupplyTeamFactor), seed, new ProgressivePacer(), new RateTable(perRegionHour: true), null);
        supply.Finish();
        var requirements = supply.Leads.Select(l => l.Requirement).Distinct().ToList();
        var talk = scenario.Callees.TalkSeconds.Mean;
        // Talk seconds the team can serve, and logged-in seconds, per campaign-local hour of the shifts.
        var capacity = new SortedDictionary<DateTime, double>();
        double loggedIn = 0;
        foreach (var g in scenario.Agents)
        {
            var able = requirements.Any(g.Skills.Satisfies);
            var share = able ? talk / (talk + g.WrapSeconds.Mean) : 0;
            for (var day = 0; day < scenario.Days; day++)
            {
                var date = scenario.StartDate.AddDays(day).ToDateTime(TimeOnly.MinValue);
                for (var t = date + g.ShiftStart.ToTimeSpan(); t < date + g.ShiftEnd.ToTimeSpan();)
                {
                    var hour = new DateTime(t.Year, t.Month, t.Day, t.Hour, 0, 0);
                    var end = new[] { hour.AddHours(1), date + g.ShiftEnd.ToTimeSpan() }.Min();
                    var seconds = (end - t).TotalSeconds * g.Count;
                    capacity[hour] = capacity.GetValueOrDefault(hour) + seconds * share;
                    loggedIn += seconds;
                    t = end;
                }
            }
        }
        var live = supply.Engine.Stats.ByHour;
        double waiting = 0, served = 0;
        foreach (var hour in capacity.Keys.Union(live.Keys).Order())
        {
            waiting += live.TryGetValue(hour, out var h) ? h.Live * talk : 0;
            var take = Math.Min(waiting, capacity.GetValueOrDefault(hour));
            served += take;
            waiting -= take;
        }
        return loggedIn > 0 ? served / loggedIn : 0;
    }
}
