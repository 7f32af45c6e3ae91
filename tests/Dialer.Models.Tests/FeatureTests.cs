using Dialer.Models.Features;
using Dialer.Models.History;
using Dialer.Models.Synthetic;

namespace Dialer.Models.Tests;

public class FeatureTests
{
    private static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");

    [Fact]
    public void TrainingAndServingPathsProduceIdenticalRows()
    {
        var history = SyntheticHistory.Generate(3000, seed: 7);
        var schema = FeatureSchema.Learn(history.Records);
        var matrix = FeatureMatrix.Build(schema, history.Records);
        var serving = new float[schema.FeatureCount];
        int checkedRows = 0;
        for (int i = 0; i < history.Records.Count; i += 37)
        {
            var r = history.Records[i];
            // What the engine knows about the lead when it is about to dial, written out by hand.
            var context = new AttemptContext(r.Region, r.TimeZone, r.StartedAt, r.Attempt,
                r.Previous?.StartedAt, r.Previous?.Outcome, r.CreatedAt, r.PolicyExpiry, r.Tags.ToList());
            schema.Extract(context, serving);
            Assert.Equal(matrix.Row(i).ToArray(), serving);
            checkedRows++;
        }
        Assert.True(checkedRows > 50);
    }

    [Fact]
    public void ExtractsEachFeature()
    {
        var schema = new FeatureSchema(["south", "north"], ["vip", "renewal"]);
        var at = new DateTimeOffset(2026, 1, 5, 1, 30, 0, TimeSpan.Zero); // 09:30 Monday in Shanghai
        var row = new float[schema.FeatureCount];
        schema.Extract(new AttemptContext("north", Shanghai, at, 3, at.AddMinutes(-90), CallOutcome.Busy,
            at.AddDays(-10), at.AddDays(5), ["renewal", "never-seen"]), row);
        Assert.Equal(1f, row[FeatureSchema.Region]);
        Assert.Equal(9.5f, row[FeatureSchema.LocalHour]);
        Assert.Equal((float)DayOfWeek.Monday, row[FeatureSchema.DayOfWeek]);
        Assert.Equal(3f, row[FeatureSchema.Attempt]);
        Assert.Equal(90f, row[FeatureSchema.MinutesSinceLastAttempt]);
        Assert.Equal((float)CallOutcome.Busy, row[FeatureSchema.LastOutcome]);
        Assert.Equal(10f, row[FeatureSchema.LeadAgeDays]);
        Assert.Equal(5f, row[FeatureSchema.DaysToPolicyExpiry]);
        Assert.Equal([0f, 1f], row[FeatureSchema.FirstTag..]);
    }

    [Theory]
    [InlineData(-3, -3f)]
    [InlineData(-7, -7f)]
    [InlineData(-40, -7f)]
    public void LapsedPoliciesAreFlooredAtAWeek(int expiryInDays, float expected)
    {
        var schema = new FeatureSchema(["north"], []);
        var at = new DateTimeOffset(2026, 1, 5, 1, 30, 0, TimeSpan.Zero);
        var row = new float[schema.FeatureCount];
        schema.Extract(new AttemptContext("north", Shanghai, at, 1, null, null, null, at.AddDays(expiryInDays), null), row);
        Assert.Equal(expected, row[FeatureSchema.DaysToPolicyExpiry]);
    }

    [Fact]
    public void FirstAttemptAndUnseenRegionAreMissing()
    {
        var schema = new FeatureSchema(["north"], []);
        var row = new float[schema.FeatureCount];
        schema.Extract(new AttemptContext("atlantis", Shanghai, DateTimeOffset.UnixEpoch, 1, null, null, null, null, null), row);
        Assert.Equal(FeatureSchema.Missing, row[FeatureSchema.Region]);
        Assert.Equal(FeatureSchema.Missing, row[FeatureSchema.MinutesSinceLastAttempt]);
        Assert.Equal(FeatureSchema.Missing, row[FeatureSchema.LastOutcome]);
        Assert.Equal(FeatureSchema.Missing, row[FeatureSchema.LeadAgeDays]);
        Assert.Equal(FeatureSchema.Missing, row[FeatureSchema.DaysToPolicyExpiry]);
        Assert.DoesNotContain(row, float.IsNaN);
    }

    [Fact]
    public void RegionCodesFollowTrainingLiveRate()
    {
        var history = SyntheticHistory.Generate(5000, seed: 3);
        var schema = FeatureSchema.Learn(history.Records);
        var rates = schema.Regions
            .Select(region => history.Records.Where(r => r.Region == region).Average(r => r.IsLive ? 1.0 : 0.0))
            .ToArray();
        Assert.Equal(rates.Order().ToArray(), rates);
    }

    [Fact]
    public void WrongRowLengthIsRefused()
    {
        var schema = new FeatureSchema(["north"], ["vip"]);
        var e = Assert.Throws<ArgumentException>(() =>
            schema.Extract(new AttemptContext("north", Shanghai, DateTimeOffset.UnixEpoch, 1, null, null, null, null, null), new float[3]));
        Assert.Contains("9 features", e.Message);
    }

    [Fact]
    public void SchemaRoundTripsThroughJson()
    {
        var schema = new FeatureSchema(["a", "b"], ["vip"]);
        var back = FeatureSchema.FromJson(schema.ToJson(), "schema.json");
        Assert.Equal(schema.FeatureNames, back.FeatureNames);
        Assert.Equal(schema.Regions, back.Regions);
        Assert.Contains("\"features\"", schema.ToJson());
    }

    [Theory]
    [InlineData("dialer.answer-rate.features/0")]
    [InlineData("dialer.answer-rate.features/2")] // wrote NaN for missing values, which FastTree trains away
    public void SchemaOfAnotherVersionIsRefused(string version)
    {
        string json = new FeatureSchema(["a"], []).ToJson().Replace(FeatureSchema.CurrentVersion, version);
        var e = Assert.Throws<InvalidDataException>(() => FeatureSchema.FromJson(json, "schema.json"));
        Assert.Contains("version", e.Message);
    }

    [Fact]
    public void SchemaWithForeignFeatureNamesIsRefused()
    {
        string json = new FeatureSchema(["a"], []).ToJson().Replace("\"local_hour\"", "\"hour_utc\"");
        var e = Assert.Throws<InvalidDataException>(() => FeatureSchema.FromJson(json, "schema.json"));
        Assert.Contains("hour_utc", e.Message);
    }
}
