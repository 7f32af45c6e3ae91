namespace Dialer.Core.Text;

/// <summary>
/// Masks phone and ID numbers in text bound for a log, an error or a report: every run of 7 or more digits (spaces, dots
/// and dashes inside a number count as part of it) keeps its last 4 digits, the rest become '*'. Ids the engine makes
/// (call 1000000123) are long digit runs too and are masked the same way: a log line never has to tell the two apart to
/// be safe, and the last 4 digits still tell one call of a run from another.
/// </summary>
public static class Redact
{
    public const int MinDigits = 7;
    private const int Kept = 4;

    /// <summary>
    /// A value quoted for an error message only when it cannot be a phone or ID number and is short: at most 32
    /// characters and 4 digits (a date, a number or a long text is described instead; the message says the format).
    /// </summary>
    public static string Echo(string value)
    {
        var digits = 0;
        foreach (var ch in value) if (char.IsDigit(ch)) digits++;
        return value.Length <= 32 && digits <= 4 ? $"'{value}'" : $"the value ({value.Length} characters, not shown)";
    }

    public static string Numbers(string text)
    {
        var digits = 0;
        foreach (var ch in text)
            if (char.IsAsciiDigit(ch) && ++digits >= MinDigits) break;
            else if (ch is not (' ' or '.' or '-') && !char.IsAsciiDigit(ch)) digits = 0;
        if (digits < MinDigits) return text; // the common case: nothing to mask, nothing allocated
        var chars = text.ToCharArray();
        var i = 0;
        while (i < chars.Length)
        {
            if (!char.IsAsciiDigit(chars[i])) { i++; continue; }
            var end = i;
            var count = 0;
            for (var j = i; j < chars.Length && (char.IsAsciiDigit(chars[j]) || (chars[j] is ' ' or '.' or '-' && j + 1 < chars.Length && char.IsAsciiDigit(chars[j + 1]))); j++)
                if (char.IsAsciiDigit(chars[j])) { count++; end = j; }
            if (count >= MinDigits)
            {
                var keep = Kept;
                for (var j = end; j >= i; j--)
                    if (char.IsAsciiDigit(chars[j]) && keep-- <= 0) chars[j] = '*';
            }
            i = end + 1;
        }
        return new string(chars);
    }

    /// <summary>A log sink that masks what goes through it.</summary>
    public static Action<string> Masking(Action<string> log) => m => log(Numbers(m));
}
