using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;

namespace Dialer.Models.Tests;

public class RateTableModelTests
{
    private static readonly TimeZoneInfo Utc = TimeZoneInfo.Utc;

    private static CallRecord Attempt(string lead, string region, int hour, bool live) => new()
    {
        LeadId = lead,
        Phone = "+1",
        Region = region,
        TimeZone = Utc,
        Attempt = 1,
        StartedAt = new DateTimeOffset(2026, 1, 5, hour, 0, 0, TimeSpan.Zero),
        Outcome = live ? CallOutcome.Human : CallOutcome.NoAnswer,
    };

    [Fact]
    public void CellsShrinkTowardRegionAndRegionsTowardGlobal()
    {
        // north: 10 rows at 09h with 8 live; south: 10 rows at 09h with 2 live.
        var records = Enumerable.Range(0, 10).Select(i => Attempt("n" + i, "north", 9, i < 8))
            .Concat(Enumerable.Range(0, 10).Select(i => Attempt("s" + i, "south", 9, i < 2)));
        var table = RateTableModel.FromHistory(CallHistory.Create(records, 20, 0, []));
        Assert.True(table.IsFallback);

        double global = 10 / 20.0;
        double north = (8 + Dialer.Core.Pacing.RateTable.RegionWeight * global) / (10 + Dialer.Core.Pacing.RateTable.RegionWeight);
        double north09 = (8 + Dialer.Core.Pacing.RateTable.CellWeight * north) / (10 + Dialer.Core.Pacing.RateTable.CellWeight);
        var row = new float[table.Schema.FeatureCount];
        table.Schema.Extract(new AttemptContext("north", Utc, new DateTimeOffset(2026, 2, 1, 9, 30, 0, TimeSpan.Zero), 1, null, null, null, null, null), row);
        Assert.Equal((float)north09, table.Predict(row), 6);

        // An hour with no rows reads the region rate; an unknown region the global rate.
        row[FeatureSchema.LocalHour] = 15f;
        Assert.Equal((float)north, table.Predict(row), 6);
        row[FeatureSchema.Region] = FeatureSchema.Missing;
        Assert.Equal((float)global, table.Predict(row), 6);

        var batch = new float[2];
        table.PredictBatch([.. row, .. row], batch);
        Assert.Equal([(float)global, (float)global], batch);
    }
}
