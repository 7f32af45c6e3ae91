using System.Text;

namespace Dialer.Core.Text;

/// <summary>
/// A streaming CSV reader: commas, double-quoted fields with "" escapes; unquoted fields are trimmed, blank lines
/// skipped. The one CSV reader of the project (leads, call history).
/// <para>
/// <b>One record is one line.</b> A quoted field may not hold a line break (RFC 4180 allows it; the CRM exports
/// read here never put one in a phone, name or policy column, and allowing it lets one stray quote swallow the
/// rest of a file). A line whose quote is not closed by its end is returned as <see cref="Malformed"/> and the next
/// line reads normally, so a broken row costs that row only. A field over <see cref="MaxFieldLength"/> characters
/// or a record over <see cref="MaxFields"/> fields is malformed too; the rest of its line is skipped, not kept, so
/// memory stays bounded whatever the input.
/// </para>
/// </summary>
public sealed class CsvReader(TextReader reader)
{
    public const int MaxFieldLength = 4096;
    public const int MaxFields = 256;

    private readonly StringBuilder _field = new();
    private readonly char[] _buffer = new char[16384];
    private int _pos, _len;
    private int _line;

    /// <summary>The 1-based line the last record is on.</summary>
    public int Row { get; private set; }

    /// <summary>Why the last record is not usable (it is still returned, with the fields read up to the fault); null when sound.</summary>
    public string? Malformed { get; private set; }

    /// <summary>True when the last record ended at the end of the input without a line break (a cut-short file looks like this); kept after Read returns false.</summary>
    public bool EndedWithoutLineBreak { get; private set; }

    private int Next()
    {
        if (_pos == _len)
        {
            _len = reader.Read(_buffer, 0, _buffer.Length);
            _pos = 0;
            if (_len <= 0) { _len = 0; return -1; }
        }
        return _buffer[_pos++];
    }

    private int Peek()
    {
        if (_pos == _len)
        {
            _len = reader.Read(_buffer, 0, _buffer.Length);
            _pos = 0;
            if (_len <= 0) { _len = 0; return -1; }
        }
        return _buffer[_pos];
    }

    /// <summary>Reads the next record into <paramref name="fields"/>; false at end of input.</summary>
    public bool Read(List<string> fields)
    {
        fields.Clear();
        Malformed = null;
        int c = Next();
        while (c == '\r' || c == '\n')
        {
            if (c == '\n') _line++;
            c = Next();
        }
        if (c < 0) return false; // the last record's EndedWithoutLineBreak stays readable
        EndedWithoutLineBreak = false;
        Row = _line + 1;
        bool quoted = false, wasQuoted = false;
        _field.Clear();
        while (true)
        {
            if (c < 0 || c == '\n' || c == '\r')
            {
                if (quoted) Malformed ??= "a quoted field is not closed on its line (quoted fields may not hold line breaks)";
                EndField(fields, wasQuoted);
                EndLine(c);
                return true;
            }
            if (quoted)
            {
                if (c == '"')
                {
                    if (Peek() == '"') { Append('"'); Next(); }
                    else quoted = false;
                }
                else Append((char)c);
            }
            else if (c == ',')
            {
                EndField(fields, wasQuoted);
                wasQuoted = false;
            }
            else if (c == '"' && IsBlank(_field))
            {
                _field.Clear();
                quoted = wasQuoted = true;
            }
            else
            {
                if (c == '"' || wasQuoted) Malformed ??= "a quote inside an unquoted field";
                Append((char)c);
            }
            if (Malformed is not null && (_field.Length > MaxFieldLength || fields.Count > MaxFields))
            {
                SkipLine(fields);
                return true;
            }
            c = Next();
        }
    }

    private void Append(char ch)
    {
        if (_field.Length == MaxFieldLength) Malformed ??= $"a field is longer than {MaxFieldLength} characters";
        _field.Append(ch); // one past the limit marks the field; the caller then skips the line
    }

    private void EndField(List<string> fields, bool wasQuoted)
    {
        if (fields.Count == MaxFields) Malformed ??= $"a record has more than {MaxFields} fields";
        fields.Add(_field.Length > MaxFieldLength ? "" : wasQuoted ? _field.ToString() : _field.ToString().Trim());
        _field.Clear();
    }

    private void EndLine(int c)
    {
        if (c == '\r' && Peek() == '\n') Next();
        if (c >= 0) _line++;
        else EndedWithoutLineBreak = true;
    }

    /// <summary>Drops the rest of an oversized record's line without keeping it.</summary>
    private void SkipLine(List<string> fields)
    {
        _field.Clear();
        if (fields.Count > MaxFields) fields.RemoveRange(MaxFields, fields.Count - MaxFields);
        int c;
        do c = Next(); while (c >= 0 && c != '\n' && c != '\r');
        EndLine(c);
    }

    private static bool IsBlank(StringBuilder s)
    {
        for (var i = 0; i < s.Length; i++) if (!char.IsWhiteSpace(s[i])) return false;
        return true;
    }

    /// <summary>Writes one field, quoting it only when it needs quotes; a line break becomes a space (one record is one line).</summary>
    public static void WriteField(TextWriter writer, string value, bool first)
    {
        if (!first) writer.Write(',');
        if (value.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            writer.Write(value);
            return;
        }
        writer.Write('"');
        writer.Write(value.Replace("\"", "\"\"", StringComparison.Ordinal).Replace("\r\n", " ", StringComparison.Ordinal).Replace('\r', ' ').Replace('\n', ' '));
        writer.Write('"');
    }
}
