using Dialer.Core.Compliance;
using Dialer.Core.Domain;

namespace Dialer.Core.Tests;

/// <summary>The profile's registered_caller_id and recording rules, checked before a campaign places its first call.</summary>
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
        Assert.StartsWith("cn-auto-renewal/v2/registered_caller_id: the caller id for region CN-GD", refused);
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
        Assert.StartsWith("cn-auto-renewal/v2/recording: every call must be recorded and kept 1826 days",
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
}
