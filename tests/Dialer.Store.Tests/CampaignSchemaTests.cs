using Dapper;
using Dialer.Core.Domain;

namespace Dialer.Store.Tests;

/// <summary>The one campaign schema in the store: settings saved before it still open, and pace as they did.</summary>
[Collection("db")]
public sealed class CampaignSchemaTests(PostgresServer pg)
{
    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void Settings_stored_with_the_old_dial_level_keys_are_moved_into_pacing(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        using (var c = t.Db.Connect())
        {
            // As the API stored them before: dial levels at the top, the drop limit and target derived from abandon_cap.
            c.Execute("""
                INSERT INTO campaigns (name, status, config, created_at, updated_at) VALUES ('old', 'stopped',
                '{"time_zone":"Asia/Shanghai","window_start":"09:00","window_end":"21:00","ring_timeout_seconds":25,"abandon_cap":0.015,"max_attempts":6,"max_attempts_per_day":3,"retry_delay_seconds":{"busy":600},"dnc_days":183,"pacer":"vicidial-tapered","initial_dial_level":1.5,"max_dial_level":2.5,"compliance_profile":null,"custom_profile":null}',
                0, 0)
                """);
            c.Execute("DELETE FROM schema_version WHERE version = 170");
        }
        Migrator.Migrate(t.Db);
        var s = new Campaigns(t.Db).Find("old")!.Settings;
        Assert.Empty(s.Validate());
        Assert.Equal(("vicidial-tapered", 1.5, 2.5), (s.Pacer, s.Pacing.Vicidial.InitialLevel, s.Pacing.Vicidial.MaximumLevel));
        Assert.Equal(1.5, s.Pacing.Vicidial.DroppedPercentage, 9);
        Assert.Equal(0.01, s.Pacing.Predictive.TargetAbandonRate, 9);
        Assert.Equal("Asia/Shanghai", s.TimeZone);
    }
}
