using Dialer.Core.Domain;
using System.Text.Json;
using Dapper;

namespace Dialer.Store;

public enum CampaignStatus { Stopped, Running, Paused }

public sealed record CampaignRecord(long Id, string Name, CampaignStatus Status, CampaignSettings Settings, DateTime CreatedAt, DateTime UpdatedAt);

public sealed record CampaignCounts(long Leads, long Pending, long Dialing, long Done, long Attempts, long LiveAnswers, long Abandoned);

/// <summary>Campaign rows: settings as JSON, status, and counts for the stats endpoint.</summary>
public sealed class Campaigns(StoreDb db)
{
    private sealed record Row(long Id, string Name, string Status, string Config, long CreatedAt, long UpdatedAt);

    /// <summary>
    /// Why <paramref name="name"/> cannot name a campaign, or null: 1–100 characters, any script's letters, digits,
    /// spaces and punctuation, but no '/' (the name is a URL path segment), backslash or control character, and no
    /// space at either end.
    /// </summary>
    public static string? NameError(string? name)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100) return "must be 1–100 characters";
        if (name.Trim().Length != name.Length) return "must not start or end with a space";
        foreach (var ch in name)
            if (ch is '/' or '\\' || char.IsControl(ch)) return "must not contain '/', '\\' or a control character";
        return null;
    }

    public CampaignRecord Create(string name, CampaignSettings settings, DateTime utcNow)
    {
        if (NameError(name) is { } bad) throw new ArgumentException($"campaign name: {bad}");
        var at = Time.Ms(utcNow);
        var id = db.Write((c, tx) => c.ExecuteScalar<long>(
            "INSERT INTO campaigns (name, status, config, created_at, updated_at) VALUES (@name, 'stopped', @config, @at, @at) RETURNING id",
            new { name, config = JsonSerializer.Serialize(settings, CampaignSettings.Json), at }, tx));
        return Get(id)!;
    }

    public CampaignRecord? Find(string name)
    {
        using var c = db.Connect();
        return Map(c.QuerySingleOrDefault<Row>("SELECT * FROM campaigns WHERE name = @name", new { name }));
    }

    public CampaignRecord? Get(long id)
    {
        using var c = db.Connect();
        return Map(c.QuerySingleOrDefault<Row>("SELECT * FROM campaigns WHERE id = @id", new { id }));
    }

    public IReadOnlyList<CampaignRecord> List()
    {
        using var c = db.Connect();
        return c.Query<Row>("SELECT * FROM campaigns ORDER BY id").Select(r => Map(r)!).ToList();
    }

    public void Update(long id, CampaignSettings settings, DateTime utcNow) => db.Write((c, tx) =>
        c.Execute("UPDATE campaigns SET config = @config, updated_at = @at WHERE id = @id",
            new { id, config = JsonSerializer.Serialize(settings, CampaignSettings.Json), at = Time.Ms(utcNow) }, tx));

    public void SetStatus(long id, CampaignStatus status, DateTime utcNow) => db.Write((c, tx) =>
        c.Execute("UPDATE campaigns SET status = @status, updated_at = @at WHERE id = @id",
            new { id, status = status.ToString().ToLowerInvariant(), at = Time.Ms(utcNow) }, tx));

    public CampaignCounts Counts(long id)
    {
        using var c = db.Connect();
        return c.QuerySingle<CampaignCounts>("""
            SELECT (SELECT COUNT(*) FROM leads WHERE campaign_id = @id) AS leads,
                   (SELECT COUNT(*) FROM leads WHERE campaign_id = @id AND state = 0) AS pending,
                   (SELECT COUNT(*) FROM leads WHERE campaign_id = @id AND state = 1) AS dialing,
                   (SELECT COUNT(*) FROM leads WHERE campaign_id = @id AND state = 2) AS done,
                   (SELECT COUNT(*) FROM attempts WHERE campaign_id = @id) AS attempts,
                   (SELECT COUNT(*) FROM attempts WHERE campaign_id = @id AND outcome IN ('human', 'abandoned')) AS live_answers,
                   (SELECT COUNT(*) FROM attempts WHERE campaign_id = @id AND outcome = 'abandoned') AS abandoned
            """, new { id });
    }

    private static CampaignRecord? Map(Row? r) => r is null ? null : new CampaignRecord(
        r.Id, r.Name, Enum.Parse<CampaignStatus>(r.Status, ignoreCase: true),
        JsonSerializer.Deserialize<CampaignSettings>(r.Config, CampaignSettings.Json)!, Time.FromMs(r.CreatedAt), Time.FromMs(r.UpdatedAt));
}

/// <summary>Instants are stored as Unix milliseconds, calendar dates as yyyymmdd integers.</summary>
internal static class Time
{
    public static long Ms(DateTime utc) => new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)).ToUnixTimeMilliseconds();
    public static DateTime FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms).UtcDateTime;
    public static int Day(DateOnly d) => d.Year * 10000 + d.Month * 100 + d.Day;
    public static DateOnly FromDay(int yyyymmdd) => new(yyyymmdd / 10000, yyyymmdd / 100 % 100, yyyymmdd % 100);
}
