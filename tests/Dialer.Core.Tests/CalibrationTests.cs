using Dialer.Core.Pacing;

namespace Dialer.Core.Tests;

/// <summary>The live-answer calibration and the ring-time prior the pacer starts from.</summary>
public class CalibrationTests
{
    [Fact]
    public void A_second_of_calls_counts_only_once_every_call_of_it_has_had_its_answer()
    {
        var c = new LiveCalibration(resolvedWithinSeconds: 30);
        for (var i = 0; i < 10; i++) c.Placed(0.5, 0.2); // 2 live answers promised
        for (var i = 0; i < 6; i++) c.Live(0.5);          // 6 came
        c.Placed(10, 0.2);                                // other seconds do not settle second 0
        Assert.Equal(1, c.Factor, 12);
        c.Placed(31.2, 0.2);                              // second 0's slot is reused: it settles
        var factor = (LiveCalibration.PriorLives * Math.Exp(-10 / LiveCalibration.MemoryCalls) + 6)
                   / (LiveCalibration.PriorLives * Math.Exp(-10 / LiveCalibration.MemoryCalls) + 2);
        Assert.Equal(factor, c.Factor, 9);
    }

    [Fact]
    public void Evidence_shrinks_the_uncertainty_and_old_evidence_fades()
    {
        var c = new LiveCalibration(30);
        var cold = c.Variance;
        for (var s = 0; s < 600; s++)
        {
            for (var i = 0; i < 4; i++) c.Placed(s, 0.25);
            c.Live(s); // one live answer per promised one
        }
        Assert.Equal(1 / LiveCalibration.PriorLives, cold, 12);
        Assert.InRange(c.Factor, 0.95, 1.05);
        Assert.True(c.Variance < cold / 50, $"variance {c.Variance} after 2,400 calls (cold {cold})");
        for (var s = 600; s < 1800; s++) // the predictor now promises twice what comes: the factor follows
        {
            for (var i = 0; i < 4; i++) c.Placed(s, 0.5);
            c.Live(s);
        }
        Assert.InRange(c.Factor, 0.5, 0.6);
    }

    [Fact]
    public void After_a_night_without_calls_the_factor_is_kept_but_believed_as_little_as_the_prior()
    {
        var c = new LiveCalibration(30);
        for (var s = 0; s < 600; s++)
        {
            for (var i = 0; i < 4; i++) c.Placed(s, 0.5);
            c.Live(s); // half of what was promised
        }
        c.Placed(640, 0.5); // 40 s later: no gap
        var (factor, sure) = (c.Factor, c.Variance);
        c.Placed(640 + 12 * 3600, 0.5); // the next morning
        Assert.Equal(factor, c.Factor, 2); // the evening's last seconds settle too, at the same rate
        Assert.Equal(c.Factor / LiveCalibration.PriorLives, c.Variance, 9);
        Assert.True(c.Variance > 20 * sure, $"variance {c.Variance}, {sure} the evening before");
    }

    [Fact]
    public void A_live_answer_later_than_the_window_still_counts()
    {
        var c = new LiveCalibration(30);
        c.Placed(0, 0.5);
        c.Placed(31, 0.5); // reuses second 0's slot, so settles it: nothing live, the factor drops
        var before = c.Factor;
        c.Live(0);         // second 0 has already settled
        Assert.True(c.Factor > before);
    }

    [Fact]
    public void An_Erlang_prior_puts_little_mass_near_zero_and_keeps_its_mean()
    {
        var memoryless = new DurationHistogram(0.25, 30, priorMean: 8, priorWeight: 20);
        var rings = new DurationHistogram(0.25, 30, priorMean: 8, priorWeight: 20, priorShape: 4);
        Assert.Equal(Math.Exp(-5.0 / 8), memoryless.Survival(5), 3);
        // Erlang(4, rate 0.5) at 5 s: e^-2.5 (1 + 2.5 + 2.5²/2 + 2.5³/6).
        Assert.Equal(Math.Exp(-2.5) * (1 + 2.5 + 3.125 + 2.604166667), rings.Survival(5), 3);
        Assert.Equal(8, rings.Mean, 9);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DurationHistogram(1, 10, 5, 1, priorShape: 0));
    }
}
