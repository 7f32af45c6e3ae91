namespace Dialer.Core.Compliance;

/// <summary>
/// Live answers and abandons per campaign-local day over the last 30 days: the two windows the legal cap
/// is measured on (today, and rolling 30 days).
/// </summary>
public sealed class AbandonLedger(TimeZoneInfo campaignZone)
{
    private const int Days = 30;
    private readonly int[] _live = new int[Days];
    private readonly int[] _abandoned = new int[Days];
    private int _day = int.MinValue;

    public int LiveToday { get; private set; }
    public int AbandonedToday { get; private set; }
    public int Live30 { get; private set; }
    public int Abandoned30 { get; private set; }

    public double RateToday => LiveToday == 0 ? 0 : (double)AbandonedToday / LiveToday;
    public double Rate30 => Live30 == 0 ? 0 : (double)Abandoned30 / Live30;

    public void Live(DateTime utc)
    {
        Roll(utc);
        _live[Slot(_day)]++;
        LiveToday++;
        Live30++;
    }

    public void Abandoned(DateTime utc)
    {
        Roll(utc);
        _abandoned[Slot(_day)]++;
        AbandonedToday++;
        Abandoned30++;
    }

    /// <summary>
    /// Starts from the store's record of past days (campaign-local dates, any order; days outside the 30-day window
    /// ending today are ignored), so a restart or a takeover by another node continues the same budget.
    /// </summary>
    public void Seed(IEnumerable<(DateOnly Day, int Live, int Abandoned)> days, DateTime utcNow)
    {
        Array.Clear(_live);
        Array.Clear(_abandoned);
        Live30 = Abandoned30 = LiveToday = AbandonedToday = 0;
        _day = int.MinValue;
        Roll(utcNow);
        foreach (var (date, live, abandoned) in days)
        {
            var day = date.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber;
            if (day > _day || _day - day >= Days) continue;
            _live[Slot(day)] += live;
            _abandoned[Slot(day)] += abandoned;
            Live30 += live;
            Abandoned30 += abandoned;
            if (day != _day) continue;
            LiveToday += live;
            AbandonedToday += abandoned;
        }
    }

    /// <summary>Moves the window to the day of <paramref name="utc"/>; call it from timers too so a new day starts clean.</summary>
    public void Roll(DateTime utc)
    {
        var day = TimeZoneInfo.ConvertTimeFromUtc(utc, campaignZone).Date.Subtract(DateTime.UnixEpoch).Days;
        if (day <= _day) return;
        if (_day != int.MinValue)
            for (var d = _day + 1; d <= day && d - _day <= Days; d++)
            {
                Live30 -= _live[Slot(d)];
                Abandoned30 -= _abandoned[Slot(d)];
                _live[Slot(d)] = 0;
                _abandoned[Slot(d)] = 0;
            }
        _day = day;
        LiveToday = 0;
        AbandonedToday = 0;
    }

    private static int Slot(int day) => ((day % Days) + Days) % Days;
}
