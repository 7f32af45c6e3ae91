namespace Dialer.Store;

/// <summary>
/// E.164 normalisation without a full numbering-plan database: strips punctuation, accepts +CC or 00CC,
/// and turns a national number into E.164 with the calling code of the lead's region (dropping a
/// leading trunk 0). Regions are ISO 3166 codes, <c>CN</c> or with a subdivision <c>CN-GD</c>.
/// </summary>
public static class PhoneNumbers
{
    // Countries the dialer knows how to place calls to; a region outside this list is rejected, not guessed.
    private static readonly Dictionary<string, string> CallingCodes = new(StringComparer.Ordinal)
    {
        ["US"] = "1", ["CA"] = "1", ["MX"] = "52", ["BR"] = "55", ["AR"] = "54", ["CL"] = "56", ["CO"] = "57",
        ["GB"] = "44", ["IE"] = "353", ["FR"] = "33", ["DE"] = "49", ["ES"] = "34", ["IT"] = "39", ["NL"] = "31",
        ["BE"] = "32", ["CH"] = "41", ["AT"] = "43", ["SE"] = "46", ["NO"] = "47", ["DK"] = "45", ["FI"] = "358",
        ["PL"] = "48", ["PT"] = "351", ["GR"] = "30", ["TR"] = "90", ["RU"] = "7", ["UA"] = "380", ["IL"] = "972",
        ["AE"] = "971", ["SA"] = "966", ["EG"] = "20", ["ZA"] = "27", ["NG"] = "234", ["KE"] = "254", ["IN"] = "91",
        ["PK"] = "92", ["BD"] = "880", ["CN"] = "86", ["HK"] = "852", ["MO"] = "853", ["TW"] = "886", ["JP"] = "81",
        ["KR"] = "82", ["SG"] = "65", ["MY"] = "60", ["TH"] = "66", ["VN"] = "84", ["PH"] = "63", ["ID"] = "62",
        ["AU"] = "61", ["NZ"] = "64",
    };

    /// <summary>Upper-cased region if it is <c>CC</c> or <c>CC-SUB</c> with a known country, else null.</summary>
    public static string? NormaliseRegion(string region)
    {
        var r = region.Trim().ToUpperInvariant();
        var dash = r.IndexOf('-');
        var country = dash < 0 ? r : r[..dash];
        if (!CallingCodes.ContainsKey(country)) return null;
        if (dash >= 0)
        {
            var sub = r.AsSpan(dash + 1);
            if (sub.Length is < 1 or > 3) return null;
            foreach (var ch in sub) if (!char.IsAsciiLetterOrDigit(ch)) return null;
        }
        return r;
    }

    /// <summary>E.164 form of <paramref name="raw"/>, or an error saying what is wrong with it.</summary>
    public static bool TryNormalise(string raw, string region, out string e164, out string error)
    {
        e164 = "";
        Span<char> digits = stackalloc char[32];
        var n = 0;
        var international = false;
        var s = raw.Trim();
        for (var i = 0; i < s.Length; i++)
        {
            var ch = s[i];
            if (char.IsAsciiDigit(ch))
            {
                if (n == digits.Length) { error = $"'{raw}' has too many digits"; return false; }
                digits[n++] = ch;
            }
            else if (ch == '+' && i == 0) international = true;
            else if (ch is ' ' or '-' or '.' or '(' or ')') continue;
            else { error = $"'{raw}' contains '{ch}'"; return false; }
        }
        var d = new string(digits[..n]);
        if (!international && d.StartsWith("00", StringComparison.Ordinal)) { international = true; d = d[2..]; }
        if (!international)
        {
            var country = region.Split('-')[0];
            var cc = CallingCodes[country];
            // Trunk prefix: 0 in most plans; NANP numbers may carry the leading 1.
            if (cc == "1" && d.Length == 11 && d[0] == '1') d = d[1..];
            else if (d.StartsWith('0')) d = d[1..];
            d = cc + d;
        }
        if (d.Length is < 8 or > 15) { error = $"'{raw}' is not a valid E.164 number (needs 8–15 digits with the country code)"; return false; }
        if (d[0] == '0') { error = $"'{raw}': country code cannot start with 0"; return false; }
        e164 = "+" + d;
        error = "";
        return true;
    }
}
