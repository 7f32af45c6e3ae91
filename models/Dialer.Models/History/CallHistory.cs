namespace Dialer.Models.History;

/// <summary>Validated attempts with each lead's previous attempt linked, plus the rows that were skipped.</summary>
public sealed class CallHistory
{
    /// <summary>Bad rows kept in full; beyond this only the count grows.</summary>
    public const int MaxListedBadRows = 100;

    public IReadOnlyList<CallRecord> Records { get; }
    public int RowsRead { get; }
    public int BadRowCount { get; }
    public IReadOnlyList<BadRow> BadRows { get; }
    public bool HasTrueProbabilities { get; }

    private CallHistory(List<CallRecord> records, int rowsRead, int badRowCount, List<BadRow> badRows)
    {
        Records = records;
        RowsRead = rowsRead;
        BadRowCount = badRowCount;
        BadRows = badRows;
        HasTrueProbabilities = records.Count > 0 && records.TrueForAll(r => r.PLiveTrue.HasValue);
    }

    /// <summary>
    /// Links each attempt to the lead's previous one (sorted by attempt, then start time), dropping
    /// duplicate attempt numbers as bad rows, since "minutes since last attempt" and "last outcome" need that order.
    /// </summary>
    public static CallHistory Create(IEnumerable<CallRecord> records, int rowsRead, int badRowCount, List<BadRow> badRows)
    {
        var kept = new List<CallRecord>();
        foreach (var lead in records.GroupBy(r => r.LeadId, StringComparer.Ordinal))
        {
            CallRecord? previous = null;
            foreach (var record in lead.OrderBy(r => r.Attempt).ThenBy(r => r.StartedAt))
            {
                if (previous is not null && previous.Attempt == record.Attempt)
                {
                    badRowCount++;
                    if (badRows.Count < MaxListedBadRows)
                    {
                        badRows.Add(new BadRow(record.Row, "attempt", $"duplicate attempt {record.Attempt} for lead '{record.LeadId}' (first at row {previous.Row})"));
                    }
                    continue;
                }
                record.Previous = previous;
                kept.Add(record);
                previous = record;
            }
        }
        // Time order drives the train/validation split; ties broken so the order is reproducible.
        kept.Sort(static (a, b) =>
        {
            int c = a.StartedAt.CompareTo(b.StartedAt);
            if (c == 0) c = string.CompareOrdinal(a.LeadId, b.LeadId);
            return c != 0 ? c : a.Attempt.CompareTo(b.Attempt);
        });
        return new CallHistory(kept, rowsRead, badRowCount, badRows);
    }
}
