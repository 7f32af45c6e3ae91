using System.Text;

namespace Dialer.Core.Text;

/// <summary>
/// A streaming RFC 4180 reader: commas, double-quoted fields with "" escapes and embedded newlines;
/// unquoted fields are trimmed, blank lines skipped. Tracks the line each record starts on, so errors can
/// name the row a person sees in an editor. The one CSV reader of the project (leads, call history).
/// </summary>
public sealed class CsvReader(TextReader reader)
{
    private readonly StringBuilder _field = new();
    private int _line;

    /// <summary>The 1-based line the last record started on.</summary>
    public int Row { get; private set; }

    /// <summary>Set when the last record had a quote out of place (the record is still returned).</summary>
    public string? Malformed { get; private set; }

    /// <summary>Reads the next record into <paramref name="fields"/>; false at end of input.</summary>
    public bool Read(List<string> fields)
    {
        fields.Clear();
        Malformed = null;
        int c = reader.Read();
        while (c == '\r' || c == '\n')
        {
            if (c == '\n') _line++;
            c = reader.Read();
        }
        if (c < 0) return false;
        Row = _line + 1;
        bool quoted = false, wasQuoted = false;
        while (true)
        {
            if (quoted)
            {
                if (c < 0)
                {
                    Malformed = "a quoted field is not closed";
                    fields.Add(_field.ToString());
                    _field.Clear();
                    return true;
                }
                if (c == '"')
                {
                    if (reader.Peek() == '"') { _field.Append('"'); reader.Read(); }
                    else quoted = false;
                }
                else
                {
                    if (c == '\n') _line++;
                    _field.Append((char)c);
                }
            }
            else if (c == ',' || c == '\n' || c == '\r' || c < 0)
            {
                fields.Add(wasQuoted ? _field.ToString() : _field.ToString().Trim());
                _field.Clear();
                wasQuoted = false;
                if (c != ',')
                {
                    if (c == '\r' && reader.Peek() == '\n') reader.Read();
                    if (c >= 0) _line++;
                    return true;
                }
            }
            else if (c == '"' && _field.ToString().Trim().Length == 0)
            {
                _field.Clear();
                quoted = wasQuoted = true;
            }
            else
            {
                if (c == '"' || wasQuoted) Malformed ??= "a quote inside an unquoted field";
                _field.Append((char)c);
            }
            c = reader.Read();
        }
    }

    /// <summary>Writes one field, quoting it only when it needs quotes.</summary>
    public static void WriteField(TextWriter writer, string value, bool first)
    {
        if (!first) writer.Write(',');
        if (value.AsSpan().IndexOfAny(",\"\r\n") < 0)
        {
            writer.Write(value);
            return;
        }
        writer.Write('"');
        writer.Write(value.Replace("\"", "\"\"", StringComparison.Ordinal));
        writer.Write('"');
    }
}
