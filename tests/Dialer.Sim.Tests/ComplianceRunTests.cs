using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Sim.Tests;

/// <summary>A simulated campaign under the cn-auto-renewal profile, checked call by call against the rules restated here (not through the engine's gate).</summary>
public class ComplianceRunTests
{
    private sealed class Placements : IAttemptLog
    {
        public List<Call> Calls { get; } = [];
        public void Placed(Call call) => Calls.Add(call);
        public void Finished(Call call) { }
    }

    [Fact]
    public void A_week_under_cn_auto_renewal_places_no_call_outside_hours_over_the_daily_cap_on_a_holiday_or_too_early_before_expiry()
    {
        var s = Scenario.Load(ScenarioTests.Shipped("cn-auto-renewal"));
        Assert.Equal("cn-auto-renewal", s.Campaign.Profile?.Id);
        var log = new Placements();
        Simulation.Run(s, "predictive", 1, new Simulation.Options { History = _ => log });
        Assert.True(log.Calls.Count > 5_000, $"{log.Calls.Count} calls");
        var newYear = new DateOnly(2027, 1, 1);
        int outside = 0, holiday = 0, early = 0, shenzhen = 0;
        var perDay = new Dictionary<(long, DateOnly), int>();
        foreach (var call in log.Calls)
        {
            var local = TimeZoneInfo.ConvertTimeFromUtc(call.PlacedAt, call.Lead.TimeZone);
            var day = DateOnly.FromDateTime(local);
            var sz = call.Lead.Region == "CN-GD-SZ";
            if (sz) shenzhen++;
            var (open, close) = sz ? (8, 20) : (9, 21);
            if (local.Hour < open || local.Hour >= close) outside++;
            if (day == newYear) holiday++;
            if (call.Lead.PolicyExpiry is { } e && day < e.AddDays(-40)) early++;
            perDay[(call.Lead.Id, day)] = perDay.GetValueOrDefault((call.Lead.Id, day)) + 1;
        }
        var overCap = perDay.Values.Count(n => n > 3);
        Assert.True(shenzhen > 100, $"{shenzhen} Shenzhen calls");
        Assert.Equal((0, 0, 0, 0), (outside, holiday, early, overCap));
    }
}
