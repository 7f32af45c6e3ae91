using System.Diagnostics;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Routing;
using Dialer.Tests;
using Xunit.Abstractions;

namespace Dialer.Sim.Tests;

/// <summary>A simulated campaign under the cn-auto-renewal profile, checked call by call against the rules restated here (not through the engine's gate).</summary>
public class ComplianceRunTests(ITestOutputHelper output)
{
    private sealed class Placements : IAttemptLog
    {
        public List<Call> Calls { get; } = [];
        public void Placed(Call call) => Calls.Add(call);
        public void Finished(Call call) { }
    }

    /// <summary>Calls that broke a rule of cn-auto-renewal v3, each rule restated from the profile's text, counted from the call history alone.</summary>
    private sealed record Breaks(int Outside, int Holiday, int Early, int OverLeadDailyCap, int OverNumberDailyCap, int OverNumberWeekCap, int OnDnc, int Shenzhen)
    {
        public (int, int, int, int, int, int, int) All => (Outside, Holiday, Early, OverLeadDailyCap, OverNumberDailyCap, OverNumberWeekCap, OnDnc);
    }

    private static Breaks Check(IReadOnlyList<Call> calls, IReadOnlySet<string> dnc)
    {
        var newYear = new DateOnly(2027, 1, 1);
        int outside = 0, holiday = 0, early = 0, shenzhen = 0, onDnc = 0, numberDay = 0, numberWeek = 0;
        var perDay = new Dictionary<(long, DateOnly), int>();
        var byNumber = new Dictionary<string, List<(DateOnly Day, CallOutcome Outcome)>>(StringComparer.Ordinal);
        foreach (var call in calls.OrderBy(c => c.PlacedAt))
        {
            var local = TimeZoneInfo.ConvertTimeFromUtc(call.PlacedAt, call.Lead.TimeZone);
            var day = DateOnly.FromDateTime(local);
            var sz = call.Lead.Region == "CN-GD-SZ";
            if (sz) shenzhen++;
            var (open, close) = sz ? (8, 20) : (9, 21);
            if (local.Hour < open || local.Hour >= close) outside++;
            if (day == newYear) holiday++;
            if (call.Lead.PolicyExpiry is { } e && day < e.AddDays(-40)) early++;
            if (dnc.Contains(call.Lead.Phone)) onDnc++;
            perDay[(call.Lead.Id, day)] = perDay.GetValueOrDefault((call.Lead.Id, day)) + 1;
            // Number caps: 3 unanswered (no answer, busy, rejected, machine) a day, 8 attempts in 7 days, before this call.
            if (!byNumber.TryGetValue(call.Lead.Phone, out var earlier)) byNumber[call.Lead.Phone] = earlier = [];
            if (earlier.Count(x => x.Day == day && x.Outcome is CallOutcome.NoAnswer or CallOutcome.Busy or CallOutcome.Rejected or CallOutcome.Machine) >= 3) numberDay++;
            if (earlier.Count(x => x.Day > day.AddDays(-7)) >= 8) numberWeek++;
            earlier.Add((day, call.Outcome));
        }
        return new(outside, holiday, early, perDay.Values.Count(n => n > 3), numberDay, numberWeek, onDnc, shenzhen);
    }

    [Fact]
    public void A_week_under_cn_auto_renewal_places_no_call_outside_hours_over_the_daily_cap_on_a_holiday_or_too_early_before_expiry()
    {
        var s = Scenario.Load(ScenarioTests.Shipped("cn-auto-renewal"));
        Assert.Equal("cn-auto-renewal", s.Campaign.Profile?.Id);
        var log = new Placements();
        Simulation.Run(s, "predictive", 1, new Simulation.Options { History = _ => log });
        Assert.True(log.Calls.Count > 5_000, $"{log.Calls.Count} calls");
        var breaks = Check(log.Calls, new HashSet<string>());
        Assert.True(breaks.Shenzhen > 100, $"{breaks.Shenzhen} Shenzhen calls");
        Assert.Equal((0, 0, 0, 0, 0, 0, 0), breaks.All);
    }

    /// <summary>
    /// Thirty days under cn-auto-renewal with 5% of the numbers on a do-not-call list, checked call by call from the
    /// history; then the same month without the profile, for what the rules cost in occupancy and live answers.
    /// </summary>
    [LoadFact]
    public void A_month_under_cn_auto_renewal_with_a_dnc_list_breaks_no_rule_and_says_what_the_rules_cost()
    {
        const ulong seed = 1;
        var s = Scenario.Load(ScenarioTests.Shipped("cn-auto-renewal")).WithDays(30);
        var leads = LeadFactory.Create(s, seed);
        var routing = new RoutingRules(s.Campaign, s.Skills, new RequirementTable());
        foreach (var lead in leads) routing.Apply(lead);
        var dnc = leads.Where((_, i) => i % 20 == 7).Select(l => l.Phone).ToHashSet(StringComparer.Ordinal);
        var log = new Placements();
        var clock = Stopwatch.StartNew();
        var ruled = Simulation.Run(s, "predictive", seed, new Simulation.Options
        {
            History = _ => log,
            LeadSource = (start, bestTime) => new MemoryHopper(s.Campaign, leads, start, dnc, bestTime),
        });
        var ruledSeconds = clock.Elapsed.TotalSeconds;
        var breaks = Check(log.Calls, dnc);

        var file = Path.Combine(Path.GetTempPath(), $"no-profile-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, File.ReadAllText(ScenarioTests.Shipped("cn-auto-renewal")).Replace("  compliance_profile: cn-auto-renewal\n", ""));
        SimReport free;
        try
        {
            var plain = Scenario.Load(file).WithDays(30);
            Assert.Null(plain.Campaign.Profile);
            free = Simulation.Run(plain, "predictive", seed);
        }
        finally { File.Delete(file); }
        output.WriteLine($"30 days cn-auto-renewal v3 with {dnc.Count:N0} of {leads.Count:N0} numbers on DNC: {log.Calls.Count:N0} calls ({breaks.Shenzhen:N0} to Shenzhen), " +
                         $"simulated in {ruledSeconds:0} s at load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        output.WriteLine($"  broken: outside hours {breaks.Outside}, holiday {breaks.Holiday}, before 40 days {breaks.Early}, lead over 3 a day {breaks.OverLeadDailyCap}, " +
                         $"number over 3 unanswered a day {breaks.OverNumberDailyCap}, number over 8 in 7 days {breaks.OverNumberWeekCap}, DNC {breaks.OnDnc}");
        output.WriteLine($"  with the profile: occupancy {ruled.Occupancy:0.000}, live answers {ruled.LiveAnswers:N0}, abandon {ruled.AbandonRate:P2} (worst day {ruled.WorstDayAbandonRate:P2})");
        output.WriteLine($"  without it:       occupancy {free.Occupancy:0.000}, live answers {free.LiveAnswers:N0}, abandon {free.AbandonRate:P2} (worst day {free.WorstDayAbandonRate:P2})");
        Assert.True(log.Calls.Count > 50_000, $"{log.Calls.Count} calls");
        Assert.Equal((0, 0, 0, 0, 0, 0, 0), breaks.All);
    }
}
