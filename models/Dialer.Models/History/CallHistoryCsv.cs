using Dialer.Core.Text;
using System.Globalization;
using System.IO.Pipelines;

namespace Dialer.Models.History;

/// <summary>Reads and writes the call history CSV described in DESIGN.md; unknown columns are ignored.</summary>
public static class CallHistoryCsv
{
    private static readonly string[] Required = ["lead_id", "phone", "region", "timezone", "attempt", "started_at", "outcome"];

    /// <summary>Reads a history file; bad rows are reported and skipped, unless more than <paramref name="maxBadRowFraction"/> of rows are bad.</summary>
    public static CallHistory Read(string path, double maxBadRowFraction = 0.05)
    {
        using var file = File.OpenRead(path);
        return Read(file, path, maxBadRowFraction);
    }

    public static CallHistory Read(Stream input, string source, double maxBadRowFraction = 0.05) =>
        CsvReader.Run(input, pipe => ReadAsync(pipe, source, maxBadRowFraction));

    private static async Task<CallHistory> ReadAsync(PipeReader input, string source, double maxBadRowFraction)
    {
        var csv = new CsvReader(input);
        var fields = new List<string>();
        if (!await csv.ReadAsync(fields))
        {
            throw new InvalidDataException($"{source}: empty file; a header row is required ({string.Join(", ", Required)})");
        }
        var columns = new Columns(fields, source);
        var zones = new Dictionary<string, TimeZoneInfo?>(StringComparer.Ordinal);
        var interned = new Dictionary<string, string>(StringComparer.Ordinal);
        var records = new List<CallRecord>();
        var badRows = new List<BadRow>();
        int rowsRead = 0, badCount = 0;
        while (await csv.ReadAsync(fields))
        {
            rowsRead++;
            int row = csv.Row;
            BadRow? bad;
            if (csv.Malformed is not null)
            {
                bad = new BadRow(row, "(row)", $"malformed CSV: {csv.Malformed}");
            }
            else if (fields.Count < columns.Width)
            {
                bad = new BadRow(row, "(row)", $"has {fields.Count} fields, the header has {columns.Width}");
            }
            else
            {
                bad = TryParseRow(fields, row, columns, zones, interned, out var record);
                if (record is not null) records.Add(record);
            }
            if (bad is null) continue;
            badCount++;
            if (badRows.Count < CallHistory.MaxListedBadRows) badRows.Add(bad);
        }
        var history = CallHistory.Create(records, rowsRead, badCount, badRows);
        if (history.BadRowCount > maxBadRowFraction * Math.Max(rowsRead, 1))
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{source}: {history.BadRowCount} of {rowsRead} rows are bad (limit {maxBadRowFraction:P0}); first: {string.Join("; ", history.BadRows.Take(5))}"));
        }
        return history;
    }

    private static BadRow? TryParseRow(List<string> p, int row, Columns c, Dictionary<string, TimeZoneInfo?> zones, Dictionary<string, string> interned, out CallRecord? record)
    {
        record = null;
        string leadId = p[c.LeadId], phone = p[c.Phone], region = p[c.Region], zoneName = p[c.TimeZone];
        if (leadId.Length == 0) return new BadRow(row, "lead_id", "is empty");
        if (phone.Length == 0) return new BadRow(row, "phone", "is empty");
        if (region.Length == 0) return new BadRow(row, "region", "is empty");
        if (!zones.TryGetValue(zoneName, out var zone))
        {
            zone = TimeZoneInfo.TryFindSystemTimeZoneById(zoneName, out var found) ? found : null;
            zones[zoneName] = zone;
        }
        if (zone is null) return new BadRow(row, "timezone", $"'{zoneName}' is not a known IANA time zone");
        if (!int.TryParse(p[c.Attempt], NumberStyles.None, CultureInfo.InvariantCulture, out int attempt) || attempt < 1)
        {
            return new BadRow(row, "attempt", $"'{p[c.Attempt]}' is not a whole number >= 1");
        }
        if (!TryParseInstant(p[c.StartedAt], requireOffset: true, out var startedAt))
        {
            return new BadRow(row, "started_at", $"'{p[c.StartedAt]}' is not ISO 8601 with a UTC offset");
        }
        if (!CallOutcomes.TryParse(p[c.Outcome], out var outcome))
        {
            return new BadRow(row, "outcome", $"'{p[c.Outcome]}' is not one of {string.Join(", ", CallOutcomes.Names)}");
        }
        DateTimeOffset? createdAt = null, expiry = null;
        if (c.CreatedAt >= 0 && p[c.CreatedAt].Length > 0)
        {
            if (!TryParseInstant(p[c.CreatedAt], requireOffset: false, out var value)) return new BadRow(row, "created_at", $"'{p[c.CreatedAt]}' is not an ISO 8601 date or time");
            createdAt = value;
        }
        if (c.PolicyExpiry >= 0 && p[c.PolicyExpiry].Length > 0)
        {
            if (!TryParseInstant(p[c.PolicyExpiry], requireOffset: false, out var value)) return new BadRow(row, "policy_expiry", $"'{p[c.PolicyExpiry]}' is not an ISO 8601 date or time");
            expiry = value;
        }
        float? pTrue = null;
        if (c.PLiveTrue >= 0 && p[c.PLiveTrue].Length > 0)
        {
            if (!float.TryParse(p[c.PLiveTrue], NumberStyles.Float, CultureInfo.InvariantCulture, out float value) || !(value >= 0f && value <= 1f))
            {
                return new BadRow(row, "p_live_true", $"'{p[c.PLiveTrue]}' is not a probability in [0, 1]");
            }
            pTrue = value;
        }
        string[] tags = c.Tags >= 0 && p[c.Tags].Length > 0
            ? p[c.Tags].Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : [];
        for (int i = 0; i < tags.Length; i++) tags[i] = Intern(interned, tags[i]);
        record = new CallRecord
        {
            LeadId = leadId,
            Phone = phone,
            Region = Intern(interned, region),
            TimeZone = zone,
            Attempt = attempt,
            StartedAt = startedAt,
            Outcome = outcome,
            CreatedAt = createdAt,
            PolicyExpiry = expiry,
            Tags = tags,
            PLiveTrue = pTrue,
            Row = row,
        };
        return null;
    }

    // A million rows repeat a few regions and tags; sharing the strings keeps the history small.
    private static string Intern(Dictionary<string, string> pool, string value)
    {
        if (pool.TryGetValue(value, out var shared)) return shared;
        pool[value] = value;
        return value;
    }

    /// <summary>ISO 8601; dates without a time are midnight UTC. <paramref name="requireOffset"/> refuses local times of unknown zone.</summary>
    private static bool TryParseInstant(string text, bool requireOffset, out DateTimeOffset value)
    {
        value = default;
        if (requireOffset && !HasOffset(text)) return false;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value);
    }

    private static bool HasOffset(ReadOnlySpan<char> s)
    {
        int t = s.IndexOfAny('T', ' ');
        if (t < 0) return false;
        var time = s[(t + 1)..];
        return time.EndsWith("Z", StringComparison.OrdinalIgnoreCase) || time.IndexOfAny('+', '-') > 0;
    }

    // Sub-second digits only when present, so writing and reading back gives the same instant.
    private const string InstantFormat = "yyyy-MM-ddTHH:mm:ss.FFFFFFFzzz";

    public static void Write(string path, IEnumerable<CallRecord> records)
    {
        using var writer = new StreamWriter(path);
        Write(writer, records);
    }

    /// <summary>Writes the history format (with p_live_true when the records carry it).</summary>
    public static void Write(TextWriter writer, IEnumerable<CallRecord> records)
    {
        writer.Write("lead_id,phone,region,timezone,attempt,started_at,outcome,created_at,policy_expiry,tags,p_live_true\n");
        foreach (var r in records)
        {
            CsvReader.WriteField(writer, r.LeadId, first: true);
            CsvReader.WriteField(writer, r.Phone, first: false);
            CsvReader.WriteField(writer, r.Region, first: false);
            CsvReader.WriteField(writer, r.TimeZone.Id, first: false);
            CsvReader.WriteField(writer, r.Attempt.ToString(CultureInfo.InvariantCulture), first: false);
            CsvReader.WriteField(writer, r.StartedAt.ToString(InstantFormat, CultureInfo.InvariantCulture), first: false);
            CsvReader.WriteField(writer, r.Outcome.ToCsv(), first: false);
            CsvReader.WriteField(writer, r.CreatedAt?.ToString(InstantFormat, CultureInfo.InvariantCulture) ?? "", first: false);
            CsvReader.WriteField(writer, r.PolicyExpiry?.ToString(InstantFormat, CultureInfo.InvariantCulture) ?? "", first: false);
            CsvReader.WriteField(writer, string.Join(';', r.Tags), first: false);
            CsvReader.WriteField(writer, r.PLiveTrue?.ToString("R", CultureInfo.InvariantCulture) ?? "", first: false);
            writer.Write('\n');
        }
    }

    /// <summary>Column positions from the header; a missing required column fails the whole file.</summary>
    private sealed class Columns
    {
        public readonly int LeadId, Phone, Region, TimeZone, Attempt, StartedAt, Outcome, CreatedAt, PolicyExpiry, Tags, PLiveTrue, Width;

        public Columns(List<string> header, string source)
        {
            var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < header.Count; i++) index.TryAdd(header[i].Trim(), i);
            var missing = Required.Where(r => !index.ContainsKey(r)).ToArray();
            if (missing.Length > 0)
            {
                throw new InvalidDataException($"{source}: header lacks required column(s) {string.Join(", ", missing)}; found: {string.Join(", ", header)}");
            }
            int At(string name) => index.TryGetValue(name, out int i) ? i : -1;
            (LeadId, Phone, Region, TimeZone, Attempt, StartedAt, Outcome) =
                (At("lead_id"), At("phone"), At("region"), At("timezone"), At("attempt"), At("started_at"), At("outcome"));
            (CreatedAt, PolicyExpiry, Tags, PLiveTrue) = (At("created_at"), At("policy_expiry"), At("tags"), At("p_live_true"));
            Width = new[] { LeadId, Phone, Region, TimeZone, Attempt, StartedAt, Outcome, CreatedAt, PolicyExpiry, Tags, PLiveTrue }.Max() + 1;
        }
    }
}
