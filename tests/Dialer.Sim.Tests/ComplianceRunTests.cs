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

    /// <summary>
    /// Calls that broke a rule of cn-auto-renewal v4, each rule restated from the profile's text, counted from the call history,
    /// the refusals the simulated agents recorded and the generated customers alone.
    /// </summary>
    private sealed record Breaks(int Outside, int Holiday, int Early, int OverLeadDailyCap, int OverNumberDailyCap, int OverNumberWeekCap, int OnDnc,
        int OverCustomerDailyCap, int OverCustomerMonthCap, int AfterRefusal, int AtOnce, int Shenzhen, int CustomersOnTwoNumbers)
    {
        public (int, int, int, int, int, int, int, int, int, int, int) All =>
            (Outside, Holiday, Early, OverLeadDailyCap, OverNumberDailyCap, OverNumberWeekCap, OnDnc, OverCustomerDailyCap, OverCustomerMonthCap, AfterRefusal, AtOnce);

        public override string ToString() =>
            $"outside hours {Outside}, holiday {Holiday}, before 40 days {Early}, lead over 3 a day {OverLeadDailyCap}, number over 3 unanswered a day {OverNumberDailyCap}, " +
            $"number over 8 in 7 days {OverNumberWeekCap}, DNC {OnDnc}, customer over 4 a day {OverCustomerDailyCap}, customer over 15 in 30 days {OverCustomerMonthCap}, " +
            $"number or customer inside a refusal's year {AfterRefusal}, two calls to one customer at once {AtOnce}";
    }

    private static readonly TimeSpan RefusalYear = TimeSpan.FromDays(365);

    /// <param name="customerOf">Each lead's customer, as generated (not as the hopper was told).</param>
    /// <param name="refusals">The refusals recorded (the call refused, when).</param>
    private static Breaks Check(IReadOnlyList<Call> calls, IReadOnlySet<string> dnc, IReadOnlyDictionary<long, string> customerOf, IReadOnlyList<(Call Call, DateTime At)> refusals)
    {
        var newYear = new DateOnly(2027, 1, 1);
        int outside = 0, holiday = 0, early = 0, shenzhen = 0, onDnc = 0, numberDay = 0, numberWeek = 0, customerDay = 0, customerMonth = 0, afterRefusal = 0, atOnce = 0;
        var perDay = new Dictionary<(long, DateOnly), int>();
        var byNumber = new Dictionary<string, List<(DateOnly Day, CallOutcome Outcome)>>(StringComparer.Ordinal);
        var byCustomer = new Dictionary<string, List<(DateOnly Day, DateTime Ended)>>(StringComparer.Ordinal);
        var refusedNumber = refusals.GroupBy(r => r.Call.Lead.Phone, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(r => r.At).ToList(), StringComparer.Ordinal);
        var refusedCustomer = refusals.GroupBy(r => customerOf[r.Call.Lead.Id], StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(r => r.At).ToList(), StringComparer.Ordinal);
        static bool Inside(List<DateTime>? refused, DateTime at) => refused is not null && refused.Any(r => r < at && at < r + RefusalYear);
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
            // Customer caps over all their numbers: 4 attempts a day, 15 in 30 days; no call while another to them is up.
            var customer = customerOf[call.Lead.Id];
            if (!byCustomer.TryGetValue(customer, out var theirs)) byCustomer[customer] = theirs = [];
            if (theirs.Count(x => x.Day == day) >= 4) customerDay++;
            if (theirs.Count(x => x.Day > day.AddDays(-30)) >= 15) customerMonth++;
            if (theirs.Any(x => x.Ended > call.PlacedAt)) atOnce++;
            theirs.Add((day, call.EndedAt ?? DateTime.MaxValue));
            // A refusal blocks the number, and (whole_customer) every number of the customer, for 365 days.
            if (Inside(refusedNumber.GetValueOrDefault(call.Lead.Phone), call.PlacedAt) || Inside(refusedCustomer.GetValueOrDefault(customer), call.PlacedAt)) afterRefusal++;
        }
        var twoNumbers = calls.GroupBy(c => customerOf[c.Lead.Id], StringComparer.Ordinal).Count(g => g.Select(c => c.Lead.Phone).Distinct().Count() > 1);
        return new(outside, holiday, early, perDay.Values.Count(n => n > 3), numberDay, numberWeek, onDnc, customerDay, customerMonth, afterRefusal, atOnce, shenzhen, twoNumbers);
    }

    /// <summary>The scenario's generated leads (its people), with their customers, and the hopper's copy of them as imported, or with no customer named.</summary>
    private static (Dictionary<long, string> CustomerOf, List<Lead> Leads) Leads(Scenario s, ulong seed, bool nameCustomers)
    {
        var people = LeadFactory.Create(s, seed);
        var routing = new RoutingRules(s.Campaign, s.Skills, new RequirementTable());
        var leads = people.Select(p => new Lead
        {
            Id = p.Id, Phone = p.Phone, Region = p.Region, TimeZone = p.TimeZone, CustomerId = nameCustomers ? p.CustomerId : null, Tags = p.Tags,
            Priority = p.Priority, PolicyExpiry = p.PolicyExpiry, CreatedAt = p.CreatedAt,
        }).ToList();
        foreach (var lead in leads) routing.Apply(lead);
        return (people.ToDictionary(p => p.Id, p => p.CustomerId!), leads);
    }

    /// <summary>One run of <paramref name="s"/> on the in-memory hopper over <paramref name="leads"/>: its calls and the refusals recorded.</summary>
    private static (List<Call> Calls, List<(Call, DateTime)> Refusals, SimReport Report) Run(Scenario s, ulong seed, List<Lead> leads, IReadOnlySet<string> dnc)
    {
        var log = new Placements();
        var refusals = new List<(Call, DateTime)>();
        var report = Simulation.Run(s, "predictive", seed, new Simulation.Options
        {
            History = _ => log,
            LeadSource = (start, bestTime) => new MemoryHopper(s.Campaign, leads, start, dnc, bestTime),
            Refused = (call, at) => refusals.Add((call, at)),
        });
        return (log.Calls, refusals, report);
    }

    /// <summary>
    /// A week of the shipped scenario (a fifth of its customers on two numbers, a few on three; 6% of talks end in a
    /// refusal), checked call by call. The same week with the hopper told no customers breaks the customer rules the check
    /// counts: the check can fail.
    /// </summary>
    [Fact]
    public void A_week_under_cn_auto_renewal_breaks_no_rule_of_hours_caps_holidays_expiry_refusals_or_one_call_per_customer()
    {
        const ulong seed = 1;
        var s = Scenario.Load(ScenarioTests.Shipped("cn-auto-renewal"));
        Assert.Equal("cn-auto-renewal", s.Campaign.Profile?.Id);
        var (customerOf, leads) = Leads(s, seed, nameCustomers: true);
        var (calls, refusals, _) = Run(s, seed, leads, new HashSet<string>());
        Assert.True(calls.Count > 5_000, $"{calls.Count} calls");
        var breaks = Check(calls, new HashSet<string>(), customerOf, refusals);
        output.WriteLine($"{calls.Count:N0} calls, {refusals.Count:N0} refusals, {breaks.CustomersOnTwoNumbers:N0} customers called on two numbers or more; broken: {breaks}");
        Assert.True(breaks.Shenzhen > 100, $"{breaks.Shenzhen} Shenzhen calls");
        Assert.True(breaks.CustomersOnTwoNumbers > 100 && refusals.Count > 50, $"{breaks.CustomersOnTwoNumbers} customers on two numbers, {refusals.Count} refusals");
        Assert.Equal((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), breaks.All);

        var (_, anonymous) = Leads(s, seed, nameCustomers: false);
        var (blindCalls, blindRefusals, _) = Run(s, seed, anonymous, new HashSet<string>());
        var blind = Check(blindCalls, new HashSet<string>(), customerOf, blindRefusals);
        output.WriteLine($"told no customers: {blind}");
        Assert.True(blind.AfterRefusal > 0 && blind.AtOnce > 0, blind.ToString());
    }

    /// <summary>
    /// Thirty days under cn-auto-renewal with 5% of the numbers on a do-not-call list, checked call by call from the
    /// history, the refusals and the customers; then the same month without the profile, for what the rules cost in occupancy and live answers.
    /// </summary>
    [LoadFact]
    public void A_month_under_cn_auto_renewal_with_a_dnc_list_breaks_no_rule_and_says_what_the_rules_cost()
    {
        const ulong seed = 1;
        var s = Scenario.Load(ScenarioTests.Shipped("cn-auto-renewal")).WithDays(30);
        var (customerOf, leads) = Leads(s, seed, nameCustomers: true);
        var dnc = leads.Where((_, i) => i % 20 == 7).Select(l => l.Phone).ToHashSet(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var (calls, refusals, ruled) = Run(s, seed, leads, dnc);
        var ruledSeconds = clock.Elapsed.TotalSeconds;
        var breaks = Check(calls, dnc, customerOf, refusals);

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
        output.WriteLine($"30 days cn-auto-renewal v4 with {dnc.Count:N0} of {leads.Count:N0} numbers on DNC ({customerOf.Values.Distinct().Count():N0} customers): " +
                         $"{calls.Count:N0} calls ({breaks.Shenzhen:N0} to Shenzhen), {refusals.Count:N0} refusals, {breaks.CustomersOnTwoNumbers:N0} customers called on two numbers or more, " +
                         $"simulated in {ruledSeconds:0} s at load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        output.WriteLine($"  broken: {breaks}");
        output.WriteLine($"  with the profile: occupancy {ruled.Occupancy:0.000}, live answers {ruled.LiveAnswers:N0}, abandon {ruled.AbandonRate:P2} (worst day {ruled.WorstDayAbandonRate:P2})");
        output.WriteLine($"  without it:       occupancy {free.Occupancy:0.000}, live answers {free.LiveAnswers:N0}, abandon {free.AbandonRate:P2} (worst day {free.WorstDayAbandonRate:P2})");
        Assert.True(calls.Count > 50_000, $"{calls.Count} calls");
        Assert.Equal((0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), breaks.All);
    }
}
