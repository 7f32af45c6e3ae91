using System.Globalization;
using System.Text.Json;

namespace Dialer.Core.Compliance;

/// <summary>
/// Public-holiday calendars as data (<c>Compliance/calendars/*.json</c>, built into this assembly): each year's dates
/// with where they come from. A profile's <c>holidays.calendar</c> names one (<c>cn</c>), so the profiles of one
/// country share one table.
/// </summary>
public static class HolidayCalendars
{
    public sealed record Year(string Source, List<string> Dates);
    public sealed record Calendar(string Id, string Description, SortedDictionary<string, Year> Years);

    private static readonly Lazy<IReadOnlyDictionary<string, (Calendar Data, HashSet<DateOnly> Days)>> Shipped = new(Load);

    public static IReadOnlyList<string> Names => [.. Shipped.Value.Keys];

    public static Calendar? Get(string id) => Shipped.Value.TryGetValue(id, out var c) ? c.Data : null;

    /// <summary>Whether <paramref name="day"/> is a holiday in the calendar <paramref name="id"/> (false for an unknown id or a year it has no dates for).</summary>
    public static bool Contains(string id, DateOnly day) => Shipped.Value.TryGetValue(id, out var c) && c.Days.Contains(day);

    private static IReadOnlyDictionary<string, (Calendar, HashSet<DateOnly>)> Load()
    {
        var asm = typeof(HolidayCalendars).Assembly;
        var calendars = new SortedDictionary<string, (Calendar, HashSet<DateOnly>)>(StringComparer.Ordinal);
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith("holiday-calendars/", StringComparison.Ordinal)))
        {
            using var s = asm.GetManifestResourceStream(name)!;
            // A shipped file that does not read is a bug of this build: say which file and date.
            var c = JsonSerializer.Deserialize<Calendar>(s, ComplianceProfiles.Json) ?? throw new InvalidOperationException($"{name}: empty");
            var days = new HashSet<DateOnly>();
            foreach (var (year, y) in c.Years)
                foreach (var d in y.Dates)
                    days.Add(DateOnly.TryParseExact(d, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) && day.Year.ToString(CultureInfo.InvariantCulture) == year
                        ? day : throw new InvalidOperationException($"{name}: years.{year}: '{d}' is not a yyyy-MM-dd date of {year}"));
            calendars[c.Id] = (c, days);
        }
        return calendars;
    }
}
