using System.Runtime.CompilerServices;

namespace Dialer.Core.Quality;

/// <summary>
/// The one normal form every transcript, phrase and negation cue is compared in, so a rule written once matches what
/// any recogniser wrote: full-width forms become half-width (ＡＢＣ１２３ → abc123), letters are lower-cased, the
/// traditional characters of the rule set's <c>fold</c> table become simplified (強制續保 → 强制续保), punctuation and
/// whitespace go (强 制，续 保 → 强制续保) except one space between two Latin words or numbers ("renewal is compulsory"),
/// and an apostrophe inside a word joins it (don't → dont). Punctuation that ends a clause (, . ; : ! ? and their
/// full-width forms, 、 …) is remembered as a clause boundary: a negation does not reach across it.
/// </summary>
public sealed class TextFolding
{
    // Folding covers the CJK blocks from U+2E80 to U+9FFF and the compatibility ideographs; 0 = the character itself.
    private const char FirstCjk = '\u2E80', LastCjk = '\u9FFF';
    private readonly char[] _fold = new char[LastCjk - FirstCjk + 1];

    /// <summary>Pairs (from, to): each <c>from</c> is read as <c>to</c>; both must be CJK characters.</summary>
    public TextFolding(IEnumerable<(char From, char To)> pairs)
    {
        foreach (var (from, to) in pairs)
        {
            if (!IsCjk(from) || !IsCjk(to) || from > LastCjk || to > LastCjk)
                throw new ArgumentException($"fold pair {from}{to}: both characters must be CJK ideographs (U+2E80..U+9FFF)");
            _fold[from - FirstCjk] = to;
        }
    }

    public static readonly TextFolding None = new([]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsCjk(char c) => c is >= FirstCjk and <= LastCjk and not (>= '\u3000' and <= '\u303F') or >= '\uF900' and <= '\uFAFF';

    /// <summary>A letter or digit of an alphabetic script: words of these are kept apart by one space.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsWordChar(char c) => !IsCjk(c) && char.IsLetterOrDigit(c);

    /// <summary>The folded form of one character, or '\0' when it is a separator (whitespace, punctuation, symbol).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private char FoldChar(char c)
    {
        if (c is >= '\uFF01' and <= '\uFF5E') c = (char)(c - 0xFEE0); // full-width ASCII block
        if (c < 128)
        {
            if (c is >= 'A' and <= 'Z') return (char)(c | 0x20);
            return c is >= 'a' and <= 'z' or >= '0' and <= '9' ? c : '\0';
        }
        if (c is >= '\u3000' and <= '\u303F') return '\0'; // CJK punctuation: 、。「」【】《》 and the ideographic space
        if (c is >= FirstCjk and <= LastCjk) { var f = _fold[c - FirstCjk]; return f != 0 ? f : c; }
        return char.IsLetterOrDigit(c) ? char.ToLowerInvariant(c) : '\0';
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool EndsClause(char c) => c is ',' or '.' or ';' or ':' or '!' or '?' or '，' or '。' or '；' or '：' or '！' or '？'
        or '、' or '…' or '｡' or '､' or '\n';

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsApostrophe(char c) => c is '\'' or '’' or 'ʼ' or '＇';

    /// <summary>
    /// Appends the normal form of <paramref name="text"/> to <paramref name="into"/> (from <paramref name="length"/>, which
    /// advances), growing the buffers as needed. <paramref name="clauseStart"/>[i] is set where a clause starts at i (the
    /// first character is always one). Allocates only when a buffer grows.
    /// </summary>
    public void Append(ReadOnlySpan<char> text, ref char[] into, ref bool[] clauseStart, ref int length)
    {
        var need = length + text.Length + 1;
        if (into.Length < need) { Array.Resize(ref into, Math.Max(need, into.Length * 2)); Array.Resize(ref clauseStart, into.Length); }
        var begin = length;
        bool gap = false, boundary = true;
        for (var i = 0; i < text.Length; i++)
        {
            var c = FoldChar(text[i]);
            if (c == '\0')
            {
                var raw = text[i];
                // don't → dont: an apostrophe between letters joins the word instead of splitting it.
                if (IsApostrophe(raw) && length > begin && IsWordChar(into[length - 1]) && i + 1 < text.Length && char.IsLetter(text[i + 1])) continue;
                gap = true;
                if (EndsClause(raw)) boundary = true;
                continue;
            }
            if (gap && length > begin && IsWordChar(c) && IsWordChar(into[length - 1])) { into[length] = ' '; clauseStart[length] = false; length++; }
            into[length] = c;
            clauseStart[length] = boundary;
            length++;
            gap = boundary = false;
        }
    }

    /// <summary>The normal form of a whole string (for rule phrases and cues, folded once when a rule set is built).</summary>
    public string Normalise(string text)
    {
        var buffer = new char[text.Length + 1];
        var starts = new bool[buffer.Length];
        var length = 0;
        Append(text, ref buffer, ref starts, ref length);
        return new string(buffer, 0, length);
    }

    /// <summary>The first character the fold table would change, or '\0': rule patterns must be written in folded form.</summary>
    public char FirstFoldable(string pattern)
    {
        foreach (var c in pattern)
            if (c is >= FirstCjk and <= LastCjk && _fold[c - FirstCjk] != 0 || c is >= '\uFF01' and <= '\uFF5E') return c;
        return '\0';
    }
}
