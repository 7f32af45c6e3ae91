using Dialer.Core.Text;
using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Synthetic;

namespace Dialer.Models.Tests;

public class CallHistoryCsvTests
{
    private const string Header = "lead_id,phone,region,timezone,attempt,started_at,outcome,tags,extra_column\n";

    private static CallHistory Read(string text, double maxBad = 0.9) => CallHistoryCsv.Read(CsvReader.Text(text), "test.csv", maxBad);

    [Fact]
    public void BadRowsAreReportedWithRowNumbersAndSkipped()
    {
        var history = Read(Header +
            "L1,+1,north,Asia/Shanghai,1,2026-01-05T09:00:00+08:00,human,vip,x\n" +        // row 2 ok
            "L2,+2,north,Mars/Olympus,1,2026-01-05T09:00:00+08:00,human,,x\n" +            // row 3 timezone
            "L3,+3,north,Asia/Shanghai,1,2026-01-05T09:00:00,human,,x\n" +                 // row 4 no offset
            "L4,+4,north,Asia/Shanghai,1,2026-01-05T09:00:00+08:00,voicemail,,x\n" +       // row 5 outcome
            "L5,+5,north,Asia/Shanghai,zero,2026-01-05T09:00:00+08:00,busy,,x\n" +         // row 6 attempt
            "L6,+6,north,Asia/Shanghai,1\n" +                                              // row 7 short
            "L1,+1,north,Asia/Shanghai,2,2026-01-05T10:00:00+08:00,busy,\"vip;renewal\",x\n" + // row 8 ok
            "L1,+1,north,Asia/Shanghai,2,2026-01-05T11:00:00+08:00,busy,,x\n" +            // row 9 duplicate attempt
            "L7,+7,north,Asia/Shanghai,1,2026-01-06T10:00:00Z,machine,,x\n");              // row 10 ok
        Assert.Equal(9, history.RowsRead);
        Assert.Equal(6, history.BadRowCount);
        Assert.Equal(
            [(3, "timezone"), (4, "started_at"), (5, "outcome"), (6, "attempt"), (7, "(row)"), (9, "attempt")],
            history.BadRows.Select(b => (b.Row, b.Field)).Order().ToArray());
        Assert.Contains("Mars/Olympus", history.BadRows.Single(b => b.Row == 3).Reason);
        Assert.Contains("first at row 8", history.BadRows.Single(b => b.Row == 9).Reason);
        Assert.Equal([2, 8, 10], history.Records.Select(r => r.Row).ToArray());
        var second = history.Records.Single(r => r.Row == 8);
        Assert.Equal(["vip", "renewal"], second.Tags);
        Assert.Same(history.Records.Single(r => r.Row == 2), second.Previous);
    }

    [Fact]
    public void TooManyBadRowsFailTheFile()
    {
        var e = Assert.Throws<InvalidDataException>(() => Read(Header +
            "L1,+1,north,Asia/Shanghai,1,2026-01-05T09:00:00+08:00,human,,x\n" +
            "L2,+2,north,Asia/Shanghai,1,yesterday,human,,x\n", maxBad: 0.05));
        Assert.Contains("row 3: started_at", e.Message);
    }

    [Fact]
    public void MissingRequiredColumnIsNamed()
    {
        var e = Assert.Throws<InvalidDataException>(() => Read("lead_id,phone,region,attempt,started_at,outcome\n"));
        Assert.Contains("timezone", e.Message);
    }

    [Fact]
    public void WrittenHistoryReadsBackToTheSameFeatures()
    {
        var history = SyntheticHistory.Generate(2000, seed: 11);
        var text = new StringWriter();
        CallHistoryCsv.Write(text, history.Records);
        var back = Read(text.ToString());
        Assert.Equal(0, back.BadRowCount);
        Assert.True(back.HasTrueProbabilities);
        var schema = FeatureSchema.Learn(history.Records);
        Assert.Equal(FeatureMatrix.Build(schema, history.Records).Values, FeatureMatrix.Build(schema, back.Records).Values);
        Assert.Equal(history.Records.Select(r => r.PLiveTrue), back.Records.Select(r => r.PLiveTrue));
    }
}
