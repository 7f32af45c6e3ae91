using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Tests;

/// <summary>The profile's registered_caller_id and recording rules, checked before a campaign places its first call; local presence, per lead.</summary>
public class CallerIdRecordingTests
{
    private static readonly Dictionary<string, string> NoRegions = [];
    private static CampaignConfig Campaign(params string[] registered) =>
        new() { Profile = ComplianceProfiles.Get("cn-auto-renewal"), RegisteredCallerIds = registered };

    [Fact]
    public void Registered_numbers_shown_and_every_call_recorded_pass()
    {
        var c = Campaign("+861012345678", "+8675587654321");
        Assert.Null(ComplianceGate.CheckTelephony(c, "\"Renewals\" <+861012345678>", new Dictionary<string, string> { ["CN-GD"] = "+8675587654321" }, recordCalls: true));
    }

    [Fact]
    public void A_caller_id_that_is_not_registered_is_refused_naming_the_rule_and_masking_the_number()
    {
        var refused = ComplianceGate.CheckTelephony(Campaign("+861012345678"), "+861012345678", new Dictionary<string, string> { ["CN-GD"] = "+8675500001111" }, true);
        Assert.StartsWith("cn-auto-renewal/v4/registered_caller_id: the caller id for region CN-GD", refused);
        Assert.DoesNotContain("8675500001111", refused);
        Assert.Contains("1111", refused);
    }

    [Fact]
    public void No_caller_id_or_no_registered_list_is_refused()
    {
        Assert.Contains("every call must show", ComplianceGate.CheckTelephony(Campaign("+861012345678"), null, NoRegions, true));
        Assert.Contains("registered_caller_ids", ComplianceGate.CheckTelephony(Campaign(), "+861012345678", NoRegions, true));
    }

    [Fact]
    public void A_profile_that_keeps_recordings_refuses_a_campaign_that_does_not_record()
    {
        Assert.StartsWith("cn-auto-renewal/v4/recording: every call must be recorded and kept 1826 days",
            ComplianceGate.CheckTelephony(Campaign("+861012345678"), "+861012345678", NoRegions, recordCalls: false));
        // us-tsr keeps no recordings: the same telephony passes there, and anything passes without a profile.
        Assert.Null(ComplianceGate.CheckTelephony(new CampaignConfig { Profile = ComplianceProfiles.Get("us-tsr"), RegisteredCallerIds = ["+12025550100"] }, "+12025550100", NoRegions, false));
        Assert.Null(ComplianceGate.CheckTelephony(new CampaignConfig(), null, NoRegions, false));
    }

    [Fact]
    public void Registered_numbers_are_validated_by_key()
    {
        var errors = new CampaignSettings { RegisteredCallerIds = ["+861012345678", "010-1234-5678"] }.Validate();
        Assert.Equal(["registered_caller_ids[1]"], errors.Keys);
    }

    /// <summary>cn-auto-renewal with local presence required: Guangdong's registered number, and Shenzhen's own.</summary>
    private static CampaignConfig Local(CallerIdPlan? shown) => new()
    {
        Profile = ComplianceProfiles.Get("cn-auto-renewal")! with { LocalPresence = new FlagRule { Source = "house rule" } },
        WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, MaxAttempts = 10, MaxAttemptsPerDay = 10,
        LocalCallerIds = new Dictionary<string, List<string>> { ["CN-GD"] = ["+862012345678"], ["CN-GD-SZ"] = ["+8675587654321"] },
        ShownCallerIds = shown,
    };

    private static Verdict Judge(CampaignConfig c, string region) =>
        ComplianceGate.Check(c, new Lead { Id = 1, Phone = "+8613800138000", Region = region, TimeZone = TimeZoneInfo.Utc, ConsentAt = DateTime.UnixEpoch },
            new DateTime(2026, 12, 1, 10, 0, 0, DateTimeKind.Utc)); // 10:00 lead-local: inside the profile's hours

    [Fact]
    public void Each_lead_is_called_only_with_a_caller_id_registered_for_its_region()
    {
        var shown = new CallerIdPlan("+861012345678", new Dictionary<string, string> { ["CN-GD"] = "+862012345678", ["CN-GD-SZ"] = "\"Renewals\" <+8675587654321>" });
        var c = Local(shown);
        Assert.True(Judge(c, "CN-GD").Allowed);
        Assert.True(Judge(c, "CN-GD-SZ").Allowed); // Shenzhen's own number, registered for Shenzhen
        var guangzhou = Judge(c, "CN-GD-GZ"); // shown the default (Beijing's), while Guangdong's registry applies to it
        Assert.True(guangzhou.Never);
        Assert.Equal("cn-auto-renewal/v4/local_presence", guangzhou.Rule);
        Assert.Contains("region CN-GD-GZ", guangzhou.Reason);
        Assert.DoesNotContain("1012345678", guangzhou.Reason); // masked to its last 4
        Assert.Contains("no number is registered for region CN-BJ", Judge(c, "CN-BJ").Reason);

        // Shenzhen shown Guangdong's number: registered for the province, not for the city, whose own list applies.
        var wrongCity = Local(shown with { ByRegion = new Dictionary<string, string> { ["CN-GD-SZ"] = "+862012345678" } });
        Assert.Equal("cn-auto-renewal/v4/local_presence", Judge(wrongCity, "CN-GD-SZ").Rule);
        // Where the telephony is not known (the simulator), or without the rule, nothing is held for it.
        Assert.True(Judge(Local(shown: null), "CN-GD-GZ").Allowed);
        Assert.True(Judge(new CampaignConfig { Profile = ComplianceProfiles.Get("cn-auto-renewal"), WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, ShownCallerIds = shown }, "CN-BJ").Allowed);
    }

    /// <summary>cn-auto-renewal keeps recordings 1,826 days: a campaign under it cannot have the retention sweep delete them sooner.</summary>
    [Fact]
    public void A_recording_retention_shorter_than_the_profiles_is_refused_by_key()
    {
        var tooShort = new CampaignSettings { ComplianceProfile = "cn-auto-renewal", RecordingRetentionDays = 30 }.Validate();
        Assert.Equal(["recording_retention_days"], tooShort.Keys);
        Assert.StartsWith("recording_retention_days 30 is shorter than the compliance profile's: cn-auto-renewal v4 keeps every recording 1,826 days (rule cn-auto-renewal/v4/recording)", tooShort["recording_retention_days"]);
        Assert.Empty(new CampaignSettings { ComplianceProfile = "cn-auto-renewal", RecordingRetentionDays = 1826 }.Validate());
        Assert.Empty(new CampaignSettings { RecordingRetentionDays = 30 }.Validate());
    }

    [Fact]
    public void Local_caller_ids_are_validated_by_key()
    {
        var errors = new CampaignSettings
        {
            LocalCallerIds = new Dictionary<string, List<string>> { ["CN-GD"] = ["+862012345678", "020-1234-5678"], ["CN GD"] = ["+862012345678"], ["CN-SH"] = [] },
        }.Validate();
        Assert.Equal(["local_caller_ids.CN GD", "local_caller_ids.CN-GD[1]", "local_caller_ids.CN-SH"], errors.Keys.Order(StringComparer.Ordinal));
    }
}
