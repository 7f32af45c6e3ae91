using Dialer.Sim;

namespace Dialer.Sim.Tests;

/// <summary>
/// With a Poisson stream of calls, callee patience 0, exponential talk and no wrap-up, the share of live
/// answers that find every agent busy must be Erlang B(c, p·λ/μ): the simulator's queueing is right.
/// </summary>
public class ErlangBTests
{
    private const string Yaml = """
        name: erlang-b
        timezone: UTC
        start_date: 2026-11-23
        days: 2
        campaign:
          window_start: "00:00"
          window_end: "24:00"
          safe_harbor_seconds: 2
          max_attempts: 1
        trunks:
          - {name: t, channels: 100000, calls_per_second: 1000, rates: {"+1": 0.01}}
        agents:
          - {count: 10, shift: {start: "00:00", end: "24:00"}, wrap_seconds: {dist: fixed, value: 0}}
        regions:
          - {name: r, timezone: UTC, prefix: "+1555", live_answer: 0.5}
        callees:
          machine: 0
          busy: 0
          bad_number: 0
          ring_seconds: {dist: fixed, value: 5}
          patience_seconds: {dist: fixed, value: 0}
          talk_seconds: {dist: exponential, mean: 60}
        leads:
          count: 60000
        """;

    public static double ErlangB(int c, double a)
    {
        var b = 1.0;
        for (var k = 1; k <= c; k++) b = a * b / (k + a * b);
        return b;
    }

    [Fact]
    public void Erlang_b_recurrence() => Assert.Equal(0.12166, ErlangB(10, 8), 4);

    [Fact]
    public void Drop_fraction_of_fixed_rate_dialing_matches_erlang_b()
    {
        var file = Path.Combine(Path.GetTempPath(), $"erlang-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, Yaml);
        try
        {
            var s = Scenario.Load(file);
            const double lambda = 8.0 / 30; // offered load a = p·λ/μ = 0.5 · λ · 60 = 8 Erlang
            var expected = ErlangB(10, 0.5 * lambda * 60);
            var rates = Enumerable.Range(1, 4).Select(seed => Simulation.Run(s, $"fixed-rate:{lambda.ToString(System.Globalization.CultureInfo.InvariantCulture)}", (ulong)seed))
                // Full days only: the few calls still ringing when the last shift ends land after midnight.
                .SelectMany(r => r.Days.Where(d => d.LiveAnswers > 1000).Select(d => d.AbandonRate)).ToList();
            Assert.Equal(8, rates.Count);
            var mean = rates.Average();
            var se = Math.Sqrt(rates.Sum(x => (x - mean) * (x - mean)) / (rates.Count - 1) / rates.Count);
            Assert.True(Math.Abs(mean - expected) <= 3 * se + 1e-3,
                $"simulated drop fraction {mean:F4} ± {se:F4} (8 seed-days) vs Erlang B {expected:F4}");
            Assert.InRange(se, 0.0005, 0.01); // enough traffic for the check to mean something
        }
        finally { File.Delete(file); }
    }
}
