using System.Text;

namespace Dialer.Store;

/// <summary>
/// Streaming RFC 4180 reader: comma-separated, double-quoted fields may hold commas, quotes ("") and
/// line breaks. Fields are trimmed. A malformed record (text after a closing quote, a quote never
/// closed) is reported through <see cref="Error"/> and reading goes on with the next line.
/// </summary>
internal sealed class CsvRecords(TextReader input)
{
    private readonly StringBuilder _field = new();
    private readonly List<string> _fields = [];
    private long _line;

    /// <summary>Line on which the current record starts (the header is line 1).</summary>
    public long Row { get; private set; }
    public string[] Record { get; private set; } = [];
    public string? Error { get; private set; }

    public bool Read()
    {
        while (true)
        {
            var line = input.ReadLine();
            if (line is null) return false;
            _line++;
            if (line.Length == 0) continue; // blank lines are not records
            Row = _line;
            Error = null;
            Parse(line);
            return true;
        }
    }

    private void Parse(string line)
    {
        _fields.Clear();
        _field.Clear();
        var i = 0;
        while (true)
        {
            if (i < line.Length && line[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i == line.Length)
                    {
                        var next = input.ReadLine();
                        if (next is null) { Fail("a quoted field is never closed"); return; }
                        _line++;
                        _field.Append('\n');
                        line = next;
                        i = 0;
                        continue;
                    }
                    var ch = line[i++];
                    if (ch != '"') { _field.Append(ch); continue; }
                    if (i < line.Length && line[i] == '"') { _field.Append('"'); i++; continue; }
                    break;
                }
                while (i < line.Length && line[i] is ' ' or '\t') i++;
                if (i < line.Length && line[i] != ',') { Fail($"text after a closing quote in field {_fields.Count + 1}"); return; }
            }
            else
            {
                var comma = line.IndexOf(',', i);
                var end = comma < 0 ? line.Length : comma;
                var raw = line.AsSpan(i, end - i);
                if (raw.Contains('"')) { Fail($"a quote inside unquoted field {_fields.Count + 1}"); return; }
                _field.Append(raw);
                i = end;
            }
            _fields.Add(_field.ToString().Trim());
            _field.Clear();
            if (i >= line.Length) break;
            i++; // the comma
            if (i == line.Length) { _fields.Add(""); break; }
        }
        Record = [.. _fields];
    }

    private void Fail(string reason)
    {
        Error = reason;
        Record = [];
    }
}
