namespace Dialer.Core.Pacing;

/// <summary>
/// How the live answers coming back compare with what the answer-rate predictions promised: a factor on every
/// prediction, and how sure it is (a Gamma posterior on a Poisson rate). It starts unsure, so a cold start dials
/// cautiously instead of betting on a prior (measured: the first minute of a shift drew 42 live answers where
/// 22 were expected, and 17 were abandoned), and it forgets slowly, so a predictor that learns is believed again.
/// Calls are counted by the second they were placed, once every call of that second has had its answer:
/// busy tones come back in a second and live answers in ten, so counting calls as they resolve would first
/// see only failures.
/// </summary>
public sealed class LiveCalibration
{
    /// <summary>The prior is worth this many live answers at factor 1: little, since a prior rate is a guess.</summary>
    public const double PriorLives = 3;
    /// <summary>Calls the factor remembers (older calls weigh e^(−calls since / memory)).</summary>
    public const double MemoryCalls = 1000;
    /// <summary>
    /// After this long with no call placed (a night, hours outside the calling window) the factor is kept but believed
    /// only as much as the prior: the leads due next are another mix (a day's first attempts, retries whose daily limit
    /// reset). Measured: cn-auto-renewal's 12-31 opened on a factor of 0.69 held as sure (cv 9%) from the evening before,
    /// where the first 20 s of calls brought 0.17 live answers per predicted 0.13.
    /// </summary>
    public const double StaleAfterSeconds = 600;

    private readonly long[] _second;
    private readonly int[] _calls;
    private readonly double[] _promised, _lives;
    private double _live = PriorLives, _promisedTotal = PriorLives;
    private double _lastPlaced = double.NaN;

    /// <param name="resolvedWithinSeconds">Every call has brought a live person or not by then (ring time-out plus slack).</param>
    public LiveCalibration(double resolvedWithinSeconds)
    {
        var slots = (int)Math.Ceiling(resolvedWithinSeconds) + 1;
        _second = new long[slots];
        Array.Fill(_second, -1);
        _calls = new int[slots];
        _promised = new double[slots];
        _lives = new double[slots];
    }

    /// <summary>Live answers per predicted live answer.</summary>
    public double Factor => _live / _promisedTotal;

    /// <summary>Variance of <see cref="Factor"/>: large while little has come back, about Factor / (live answers remembered) later.</summary>
    public double Variance => _live / (_promisedTotal * _promisedTotal);

    /// <summary>
    /// Calls that came back before this engine started (the campaign's recent attempts in the store, at a start or a takeover):
    /// <paramref name="calls"/> of them promised <paramref name="promised"/> live answers and brought <paramref name="lives"/>,
    /// remembered as if this engine had placed them, so a new owner starts as sure as the last one was. The last of them ended
    /// at <paramref name="lastEndedAt"/> (seconds, before now): the calibration's age runs from that evidence, not from this
    /// engine's start, so one that starts in the morning on yesterday's calls holds their factor only at the prior's weight.
    /// </summary>
    public void Learn(int calls, double promised, double lives, double lastEndedAt)
    {
        var keep = Math.Exp(-calls / MemoryCalls);
        _live = _live * keep + lives;
        _promisedTotal = _promisedTotal * keep + promised;
        if (calls > 0 && !(lastEndedAt <= _lastPlaced)) _lastPlaced = lastEndedAt;
    }

    /// <summary>A call placed at <paramref name="now"/> (seconds) with live-answer probability <paramref name="p"/>.</summary>
    public void Placed(double now, double p)
    {
        if (now - _lastPlaced > StaleAfterSeconds) Unsure();
        _lastPlaced = now;
        var slot = Slot(now, out var second);
        if (_second[slot] != second)
        {
            Settle(slot);
            _second[slot] = second;
        }
        _calls[slot]++;
        _promised[slot] += p;
    }

    /// <summary>A call counted by <see cref="Placed"/> never reached the network (its originate failed): it promised nothing.</summary>
    public void Unplaced(double placedAt, double p)
    {
        var slot = Slot(placedAt, out var second);
        if (_second[slot] != second) return; // already settled: one call's weight, not worth undoing
        _calls[slot]--;
        _promised[slot] -= p;
    }

    /// <summary>The call placed at <paramref name="placedAt"/> brought a live person.</summary>
    public void Live(double placedAt)
    {
        var slot = Slot(placedAt, out var second);
        if (_second[slot] == second) _lives[slot]++;
        else _live += 1; // answered later than the window allows for: count it at once rather than lose it
    }

    private int Slot(double at, out long second)
    {
        second = (long)Math.Floor(at);
        return (int)(((second % _second.Length) + _second.Length) % _second.Length);
    }

    /// <summary>Every call has come back: count them all, then keep the factor with the prior's weight.</summary>
    private void Unsure()
    {
        for (var slot = 0; slot < _second.Length; slot++) Settle(slot);
        if (_promisedTotal <= PriorLives) return;
        var keep = PriorLives / _promisedTotal;
        _live *= keep;
        _promisedTotal = PriorLives;
    }

    private void Settle(int slot)
    {
        if (_calls[slot] == 0) return;
        var keep = Math.Exp(-_calls[slot] / MemoryCalls);
        _live = _live * keep + _lives[slot];
        _promisedTotal = _promisedTotal * keep + _promised[slot];
        (_calls[slot], _promised[slot], _lives[slot]) = (0, 0, 0);
    }
}
