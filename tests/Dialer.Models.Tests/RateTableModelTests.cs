using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Serving;
using static Dialer.Core.Pacing.RateTable;

namespace Dialer.Models.Tests;

public class RateTableModelTests
{
    private static readonly TimeZoneInfo Utc = TimeZoneInfo.Utc;

    private static CallRecord Attempt(string lead, string region, int hour, bool live, int attempt = 1) => new()
    {
        LeadId = lead,
        Phone = "+1",
        Region = region,
        TimeZone = Utc,
        Attempt = attempt,
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

        // Every row a first attempt: the kind's ratio is 1, and north's first attempts shrink toward north's rate.
        double global = 10 / 20.0;
        double north = Shrink(8, 10, Shrink(8, 10, global, RegionWeight), RegionWeight);
        double north09 = Shrink(8, 10, north, CellWeight);
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

    /// <summary>
    /// Retries answer less than first attempts (cn-auto-renewal: −0.2 log-odds an attempt): the table tells them apart as the
    /// engine's does. One region at 09h, 20 first attempts with 12 live and 20 retries with 2.
    /// </summary>
    [Fact]
    public void First_attempts_and_retries_have_their_own_rates_shrunk_as_the_engines_table_shrinks_them()
    {
        var records = Enumerable.Range(0, 20).Select(i => Attempt("f" + i, "north", 9, i < 12))
            .Concat(Enumerable.Range(0, 20).Select(i => Attempt("r" + i, "north", 9, i < 2, attempt: 2 + i % 3)));
        var table = RateTableModel.FromHistory(CallHistory.Create(records, 40, 0, []));

        double global = 14 / 40.0, region = Shrink(14, 40, global, RegionWeight);
        double Expected(double live, int hour)
        {
            double ratio = Shrink(live, 20, global, RegionWeight) / global;
            double regionKind = Shrink(live, 20, region * ratio, RegionWeight);
            return hour == 9 ? Shrink(live, 20, regionKind, CellWeight) : regionKind;
        }
        var row = new float[table.Schema.FeatureCount];
        foreach (var (attempt, live) in new[] { (1, 12.0), (2, 2.0), (4, 2.0) })
            foreach (var hour in new[] { 9, 15 })
            {
                table.Schema.Extract(new AttemptContext("north", Utc, new DateTimeOffset(2026, 2, 1, hour, 30, 0, TimeSpan.Zero), attempt, null, null, null, null, null), row);
                Assert.Equal((float)Expected(live, hour), table.Predict(row), 6);
            }
        table.Schema.Extract(new AttemptContext("north", Utc, new DateTimeOffset(2026, 2, 1, 9, 30, 0, TimeSpan.Zero), 1, null, null, null, null, null), row);
        var first = table.Predict(row);
        row[FeatureSchema.Attempt] = 2;
        Assert.True(first > 2 * table.Predict(row), $"first attempt {first}, retry {table.Predict(row)}");
    }
}
