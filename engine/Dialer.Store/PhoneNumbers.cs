namespace Dialer.Store;

/// <summary>
/// E.164 normalisation without a full numbering-plan database, for the formats CRMs export (Chinese ones included):
/// full-width digits and signs are read as ASCII; spaces, dashes, dots and brackets are dropped; <c>+CC</c> (also
/// inside brackets, <c>(+86) 138-0013-8000</c>) or <c>00CC</c> is international; a national number gets the calling
/// code of the lead's region, dropping a leading trunk 0 (<c>0755 1234 5678</c>). For China a national number that
/// already starts with 86 and then a mobile number (<c>8613800138000</c>) is taken as international, a trunk 0 after
/// +86 is dropped (<c>+86 0755...</c>), and the result must be a mobile (1 and 10 digits) or a landline (area code and
/// number, 10–11 digits). Regions are ISO 3166 codes, <c>CN</c> or with a subdivision <c>CN-GD</c>. Errors name
/// the rule broken, never the number.
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

    /// <summary>Upper-cased region if it is <c>CC</c>, <c>CC-SUB</c> or <c>CC-SUB-CITY</c> with a known country, else null.</summary>
    public static string? NormaliseRegion(string region)
    {
        var r = region.Trim().ToUpperInvariant();
        var dash = r.IndexOf('-');
        var country = dash < 0 ? r : r[..dash];
        if (!CallingCodes.ContainsKey(country)) return null;
        if (dash >= 0)
        {
            // A subdivision (ISO 3166-2: CN-GD), optionally a city below it (CN-GD-SZ) for rules set by a city.
            var parts = r[(dash + 1)..].Split('-');
            if (parts.Length > 2 || parts[0].Length is < 1 or > 3 || (parts.Length == 2 && parts[1].Length is < 1 or > 4)) return null;
            foreach (var part in parts) foreach (var ch in part) if (!char.IsAsciiLetterOrDigit(ch)) return null;
        }
        return r;
    }

    /// <summary>E.164 form of <paramref name="raw"/>, or the rule it breaks (the number itself is never in the error).</summary>
    public static bool TryNormalise(string raw, string region, out string e164, out string error)
    {
        e164 = "";
        Span<char> digits = stackalloc char[32];
        var n = 0;
        var international = false;
        foreach (var c in raw)
        {
            // Full-width forms (U+FF01..FF5E) are their ASCII twins shifted by 0xFEE0; the ideographic space is a space.
            var ch = c is >= '\uFF01' and <= '\uFF5E' ? (char)(c - 0xFEE0) : c;
            if (char.IsAsciiDigit(ch))
            {
                if (n == digits.Length) { error = "has more than 32 digits"; return false; }
                digits[n++] = ch;
            }
            else if (ch == '+' && n == 0 && !international) international = true;
            else if (ch is ' ' or '-' or '.' or '(' or ')' or '[' or ']' or '/' or '\u3000' or '\u00A0' or (>= '\u2010' and <= '\u2015')) continue;
            else { error = "has a character other than digits, a leading +, spaces, dashes, dots or brackets"; return false; }
        }
        var d = digits[..n];
        var dash = region.IndexOf('-');
        var cc = CountryCodes[dash < 0 ? region : region.AsSpan(0, dash)];
        if (!international && d.StartsWith("00")) { international = true; d = d[2..]; }
        // A Chinese national number that already carries 86 before a mobile number: the + was lost in the export.
        if (!international && cc == "86" && d.Length == 13 && d.StartsWith("861")) international = true;
        // Built once, on the stack, with its +: an import normalises millions of numbers.
        Span<char> plus = stackalloc char[1 + 3 + 32];
        plus[0] = '+';
        var to = plus[1..];
        int length;
        if (international)
        {
            // A trunk 0 kept after the country code (+86 0755..., +44 020...) is dropped; Italy's leading 0 is part of the number.
            var code = CodeOf(d);
            if (code is not null && code != "39" && d.Length > code.Length && d[code.Length] == '0')
            {
                d[..code.Length].CopyTo(to);
                d[(code.Length + 1)..].CopyTo(to[code.Length..]);
                length = d.Length - 1;
            }
            else
            {
                d.CopyTo(to);
                length = d.Length;
            }
        }
        else
        {
            // Trunk prefix: 0 in most plans; NANP numbers may carry the leading 1.
            if (cc == "1" && d.Length == 11 && d[0] == '1') d = d[1..];
            else if (d.StartsWith("0")) d = d[1..];
            cc.CopyTo(to);
            d.CopyTo(to[cc.Length..]);
            length = cc.Length + d.Length;
        }
        var full = to[..length];
        if (full.Length is < 8 or > 15) { error = "is not a valid E.164 number (needs 8–15 digits with the country code)"; return false; }
        if (full[0] == '0') { error = "has a country code starting with 0"; return false; }
        if (full.StartsWith("86"))
        {
            var national = full.Length - 2;
            // Mobiles are 1[3-9] and 11 digits; every area code starts 2..9 except Beijing's 10.
            var mobile = full[2] == '1' && full[3] != '0';
            var ok = mobile ? national == 11 && full[3] is >= '3' and <= '9' : national is 10 or 11;
            if (!ok) { error = "is not a Chinese mobile (1, then 3–9, 11 digits) or landline (area code and number, 10–11 digits) number"; return false; }
        }
        e164 = new string(plus[..(1 + length)]);
        error = "";
        return true;
    }

    /// <summary>The calling code a full international number starts with, when it is one the dialer knows (codes are prefix-free).</summary>
    private static string? CodeOf(ReadOnlySpan<char> digits)
    {
        for (var len = 1; len <= 3 && len <= digits.Length; len++)
            if (KnownCodes.TryGetValue(digits[..len], out var code)) return code;
        return null;
    }

    // Looked up by span: no string is made per number to find its country's code.
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> KnownCodes =
        new HashSet<string>(CallingCodes.Values, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> CountryCodes = CallingCodes.GetAlternateLookup<ReadOnlySpan<char>>();
}
