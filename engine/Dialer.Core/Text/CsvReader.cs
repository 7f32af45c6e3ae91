using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace Dialer.Core.Text;

/// <summary>
/// A streaming CSV reader over a <see cref="PipeReader"/> of UTF-8 bytes (a file, an HTTP request body): commas,
/// double-quoted fields with "" escapes; unquoted fields are trimmed, blank lines skipped, a leading byte-order mark
/// dropped. The one CSV reader of the project (leads, DNC lists). It never blocks a thread: a record that is not in
/// the buffer yet is awaited; one that is comes back without waiting.
/// <para>
/// <b>One record is one line.</b> A quoted field may not hold a line break (RFC 4180 allows it; the CRM exports
/// read here never put one in a phone, name or policy column, and allowing it lets one stray quote swallow the
/// rest of a file). A line whose quote is not closed by its end is returned as <see cref="Malformed"/> and the next
/// line reads normally, so a broken row costs that row only. A field over <see cref="MaxFieldLength"/> characters,
/// a record over <see cref="MaxFields"/> fields or a line over <see cref="MaxLineBytes"/> is malformed too; the rest
/// of its line is skipped, not kept, so memory stays bounded whatever the input.
/// </para>
/// </summary>
public sealed class CsvReader(PipeReader input)
{
    public const int MaxFieldLength = 4096;
    public const int MaxFields = 256;
    /// <summary>The longest line held in memory; a longer one is read up to here (to say what is wrong with it) and the rest skipped.</summary>
    public const int MaxLineBytes = 1 << 20;

    private ReadOnlySequence<byte> _buffer;
    private bool _holding, _completed, _bomChecked, _skipping;
    private byte[] _scratch = [];
    private int _line;

    /// <summary>The 1-based line the last record is on.</summary>
    public int Row { get; private set; }

    /// <summary>Why the last record is not usable (it is still returned, with the fields read up to the fault); null when sound.</summary>
    public string? Malformed { get; private set; }

    /// <summary>True when the last record ended at the end of the input without a line break (a cut-short file looks like this); kept after a read returns false.</summary>
    public bool EndedWithoutLineBreak { get; private set; }

    /// <summary>Reads the next record into <paramref name="fields"/>; false at the end of the input. A failing input (a broken upload) throws its exception here.</summary>
    public ValueTask<bool> ReadAsync(List<string> fields, CancellationToken ct = default) =>
        _holding && TryTake(fields, out var more) ? new(more) : ReadMoreAsync(fields, ct);

    private async ValueTask<bool> ReadMoreAsync(List<string> fields, CancellationToken ct)
    {
        while (true)
        {
            if (_holding) input.AdvanceTo(_buffer.Start, _buffer.End); // all of it examined: wait for more
            var read = await input.ReadAsync(ct);
            (_buffer, _completed, _holding) = (read.Buffer, read.IsCompleted, true);
            if (TryTake(fields, out var more)) return more;
        }
    }

    /// <summary>A record from the buffer (<paramref name="more"/>), or the end of input (!<paramref name="more"/>); false when it needs more bytes.</summary>
    private bool TryTake(List<string> fields, out bool more)
    {
        more = false;
        if (!_bomChecked)
        {
            if (_buffer.Length < 3 && !_completed) return false;
            var r0 = new SequenceReader<byte>(_buffer);
            if (r0.IsNext("\uFEFF"u8, advancePast: true)) _buffer = _buffer.Slice(3);
            _bomChecked = true;
        }
        var r = new SequenceReader<byte>(_buffer);
        if (_skipping)
        {
            if (!r.TryAdvanceToAny("\r\n"u8, advancePastDelimiter: false))
            {
                _buffer = _buffer.Slice(_buffer.End);
                if (!_completed) return false;
                _skipping = false;
                EndedWithoutLineBreak = true;
                return true;
            }
            _buffer = _buffer.Slice(r.Position);
            if (SplitCrLf(ref r)) return false;
            _skipping = false;
            EndLine(ref r);
        }
        // Blank lines: each "\n" counts as a line (a record's "\r\n" was taken with it).
        while (r.TryPeek(out var b) && (b == '\r' || b == '\n'))
        {
            if (b == '\n') _line++;
            r.Advance(1);
        }
        _buffer = _buffer.Slice(r.Position);
        if (r.End) return _completed; // at the end: no more records; else wait for bytes
        Malformed = null;
        if (r.TryReadToAny(out ReadOnlySequence<byte> line, "\r\n"u8, advancePastDelimiter: false))
        {
            if (SplitCrLf(ref r)) return false;
            if (line.Length > MaxLineBytes) return TakeLong(fields, line, out more);
            Record(fields, line);
            EndedWithoutLineBreak = false;
            EndLine(ref r);
            _buffer = _buffer.Slice(r.Position);
        }
        else if (_buffer.Length > MaxLineBytes) return TakeLong(fields, _buffer, out more);
        else if (!_completed) return false;
        else
        {
            Record(fields, _buffer);
            EndedWithoutLineBreak = true;
            _buffer = _buffer.Slice(_buffer.End);
        }
        more = true;
        return true;
    }

    /// <summary>A line over the limit: its first <see cref="MaxLineBytes"/> are read for what is wrong with them, the rest skipped.</summary>
    private bool TakeLong(List<string> fields, ReadOnlySequence<byte> line, out bool more)
    {
        Record(fields, line.Slice(0, MaxLineBytes));
        Malformed ??= $"a line is longer than {MaxLineBytes} bytes";
        EndedWithoutLineBreak = false;
        _buffer = _buffer.Slice(MaxLineBytes);
        _skipping = true;
        more = true;
        return true;
    }

    /// <summary>A "\r" as the buffer's last byte may be the first half of a "\r\n": then wait for the next byte (unless none will come).</summary>
    private bool SplitCrLf(ref SequenceReader<byte> r) => r.Remaining == 1 && r.TryPeek(out var b) && b == '\r' && !_completed;

    /// <summary>Past the line break the reader stands on ("\r\n" is one).</summary>
    private void EndLine(ref SequenceReader<byte> r)
    {
        if (r.TryRead(out var b) && b == '\r') r.IsNext((byte)'\n', advancePast: true);
        _line++;
        _buffer = _buffer.Slice(r.Position);
    }

    private void Record(List<string> fields, ReadOnlySequence<byte> line)
    {
        fields.Clear();
        Row = _line + 1;
        ReadOnlySpan<byte> span;
        if (line.IsSingleSegment) span = line.FirstSpan;
        else
        {
            if (_scratch.Length < line.Length) _scratch = new byte[Math.Max((int)line.Length, 4096)];
            line.CopyTo(_scratch);
            span = _scratch.AsSpan(0, (int)line.Length);
        }
        Fields(fields, span);
    }

    /// <summary>The line's fields; at the first fault <see cref="Malformed"/> says what it is and the rest of the line is not read.</summary>
    private void Fields(List<string> fields, ReadOnlySpan<byte> line)
    {
        var i = 0;
        while (true)
        {
            if (fields.Count == MaxFields) { Malformed = $"a record has more than {MaxFields} fields"; return; }
            var start = i;
            while (i < line.Length && line[i] is (byte)' ' or (byte)'\t') i++;
            string value;
            if (i < line.Length && line[i] == '"')
            {
                var (text, end) = Quoted(line, i + 1);
                if (Malformed is not null) return; // too long
                if (text is null) { Malformed = "a quoted field is not closed on its line (quoted fields may not hold line breaks)"; return; }
                if (end < line.Length && line[end] != ',') { Malformed = "a quote inside an unquoted field"; return; }
                value = text;
                i = end;
            }
            else
            {
                var comma = line[start..].IndexOf((byte)',');
                var end = comma < 0 ? line.Length : start + comma;
                var raw = line[start..end];
                if (raw.Contains((byte)'"')) { Malformed = "a quote inside an unquoted field"; return; }
                if (TooLong(raw)) return;
                value = Decode(raw).Trim();
                i = end;
            }
            fields.Add(value);
            if (i >= line.Length) return;
            i++; // past the comma
        }
    }

    /// <summary>The quoted field starting after its opening quote at <paramref name="from"/>, and where it ends (after its closing quote); null text when it is not closed.</summary>
    private (string? Text, int End) Quoted(ReadOnlySpan<byte> line, int from)
    {
        var rest = line[from..];
        var close = rest.IndexOf((byte)'"');
        if (close < 0) return (null, 0);
        if (close + 1 >= rest.Length || rest[close + 1] != '"') // no "" escape: the common case, one slice
            return TooLong(rest[..close]) ? ("", 0) : (Decode(rest[..close]), from + close + 1);
        var text = new ArrayBufferWriter<byte>(rest.Length);
        var i = 0;
        while (true)
        {
            var q = rest[i..].IndexOf((byte)'"');
            if (q < 0) return (null, 0);
            text.Write(rest.Slice(i, q));
            i += q + 1;
            if (i < rest.Length && rest[i] == '"') { text.Write("\""u8); i++; continue; }
            return TooLong(text.WrittenSpan) ? ("", 0) : (Decode(text.WrittenSpan), from + i);
        }
    }

    /// <summary>Marks a field over the limit (measured in characters, as the limit is) without decoding all of it.</summary>
    private bool TooLong(ReadOnlySpan<byte> raw)
    {
        if (raw.Length <= MaxFieldLength || Encoding.UTF8.GetCharCount(raw) <= MaxFieldLength) return false;
        Malformed = $"a field is longer than {MaxFieldLength} characters";
        return true;
    }

    private static string Decode(ReadOnlySpan<byte> raw) => raw.IsEmpty ? "" : Encoding.UTF8.GetString(raw);

    /// <summary>
    /// Runs <paramref name="read"/> over <paramref name="input"/> (a file, an in-memory CSV) to its end and waits for it:
    /// for callers with no request thread to keep free (the CLI, a run config, tests). The stream is left open.
    /// </summary>
    public static T Run<T>(Stream input, Func<PipeReader, Task<T>> read)
    {
        var pipe = PipeReader.Create(input, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        try { return read(pipe).GetAwaiter().GetResult(); }
        finally { pipe.Complete(); }
    }

    /// <summary>An in-memory CSV as the UTF-8 stream <see cref="Run{T}"/> reads.</summary>
    public static Stream Text(string csv) => new MemoryStream(Encoding.UTF8.GetBytes(csv), writable: false);

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
