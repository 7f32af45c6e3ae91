using Dialer.Core.Domain;
using Dialer.Core.Engine;

namespace Dialer.Core.Pacing;

public enum VicidialDropClamp { HardLimit, Tapered, Average }

/// <summary>VICIdial's knobs, with its defaults (pacing-baselines.md).</summary>
public sealed record VicidialOptions
{
    public double InitialLevel { get; init; } = 1.0;
    public double MaximumLevel { get; init; } = 3.0;
    /// <summary>adaptive_dropped_percentage.</summary>
    public double DroppedPercentage { get; init; } = 3;
    /// <summary>adaptive_intensity, −40..40.</summary>
    public double Intensity { get; init; }
    public double DlDiffTarget { get; init; }
}

/// <summary>
/// VICIdial's adaptive dial level (AST_VDadapt / AST_VDauto_dial), reimplemented from pacing-baselines.md:
/// 1 s samples of ready agents and waiting calls, a level update every 15 s, dialing every 2.5 s, drop
/// statistics refreshed every 60 s, and one of three clamps when today's drop rate passes the limit.
/// Calls to place = round(L × N) − lines in use, where lines in use include calls already with an agent,
/// as AST_VDauto_dial.pl counts them (pacing-baselines.md's "in flight" reads narrower; taken literally it
/// dials L lines per talking agent on top of their calls and drops about half of all live answers).
/// </summary>
public sealed class VicidialPacer(VicidialDropClamp clamp, VicidialOptions options) : IPacer
{
    private const int Samples = 15;
    private readonly double[] _ready = new double[Samples], _waiting = new double[Samples], _loggedIn = new double[Samples];
    private int _sampleCount;
    private double _nextSample = double.NaN, _nextAdapt, _nextDial, _nextDropRefresh;
    private double _dropPctToday;

    public double Level { get; private set; } = Math.Max(1.0, options.InitialLevel);

    public string Name => clamp switch
    {
        VicidialDropClamp.HardLimit => "vicidial-hard",
        VicidialDropClamp.Tapered => "vicidial-tapered",
        _ => "vicidial-average",
    };

    public bool ReactsToEvents => false;

    public PacingDecision Decide(DialerState s)
    {
        var now = s.Now;
        if (double.IsNaN(_nextSample)) _nextSample = _nextAdapt = _nextDial = _nextDropRefresh = now;
        if (now >= _nextDropRefresh)
        {
            _dropPctToday = s.Ledger.LiveToday == 0 ? 0 : 100.0 * s.Ledger.AbandonedToday / s.Ledger.LiveToday;
            _nextDropRefresh = now + 60;
        }
        if (now >= _nextSample)
        {
            var i = _sampleCount++ % Samples;
            _ready[i] = s.Count(AgentState.Ready);
            _waiting[i] = s.Waiting;
            _loggedIn[i] = s.LoggedIn;
            _nextSample = now + 1;
        }
        if (now >= _nextAdapt)
        {
            Adapt(s);
            _nextAdapt = now + 15;
        }
        var calls = 0;
        if (now >= _nextDial)
        {
            var n = s.Count(AgentState.Ready) + s.Count(AgentState.Talking);
            var goal = (int)Math.Round(Level * n, MidpointRounding.AwayFromZero);
            calls = Math.Max(0, goal - s.LinesInUse);
            _nextDial = now + 2.5;
        }
        return new(calls, Math.Min(_nextSample, _nextDial));
    }

    private void Adapt(DialerState s)
    {
        var k = Math.Min(_sampleCount, Samples);
        if (k == 0) return;
        double r = 0, w = 0, t = 0;
        for (var i = 0; i < k; i++) { r += _ready[i]; w += _waiting[i]; t += _loggedIn[i]; }
        var d = r / k - w / k;
        var tBar = t / k;
        if (tBar <= 0) return;
        var num = d + options.DlDiffTarget;
        var x = num == 0 ? 0 : num / tBar;
        var intensity = options.Intensity / 100;
        var level = x >= 0 ? Level * (1 + x * (1 + intensity)) : Level * (1 + x * Math.Abs(intensity - 1));
        level = Math.Min(level, options.MaximumLevel);
        if (level < 1) level = 1.0;

        var now = (long)s.Now;
        var placedLastMinute = s.PlacedLastMinute.Sum(now);
        if (placedLastMinute > 20 && s.DroppedLastMinute.Sum(now) > 0.5 * placedLastMinute) level /= 2;

        if (s.CallsToday > 50 && _dropPctToday > options.DroppedPercentage)
        {
            level = clamp switch
            {
                VicidialDropClamp.HardLimit => 1.0,
                VicidialDropClamp.Average => level / 2,
                _ => Taper(s, level),
            };
        }
        Level = Math.Max(level, 1.0);
    }

    /// <summary>ADAPT_TAPERED: h = latest HHMM − now HHMM as plain integers (2100 − 1630 = 470).</summary>
    private static double Taper(DialerState s, double level)
    {
        var local = TimeZoneInfo.ConvertTimeFromUtc(s.UtcNow, s.Config.TimeZone);
        var h = (s.Config.WindowEnd.Hour * 100 + s.Config.WindowEnd.Minute) - (local.Hour * 100 + local.Minute);
        if (h < 0) return 1.0;
        if (h > 1000) return level;
        return level * h / 1000;
    }
}
