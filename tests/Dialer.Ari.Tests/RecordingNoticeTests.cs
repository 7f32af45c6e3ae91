using Dialer.Ari.Driver;
using Dialer.Core.Compliance;
using Dialer.Emulator;

namespace Dialer.Ari.Tests;

/// <summary>cn-auto-renewal's recording notice (PIPL: the callee is told the call is recorded before the agent talks).</summary>
public class RecordingNoticeTests
{
    [Fact]
    public async Task Each_callee_hears_the_profiles_notice_in_the_recorded_bridge_as_they_join_the_agent()
    {
        var notice = ComplianceProfiles.Get("cn-auto-renewal")!.Recording?.Notice;
        Assert.NotNull(notice);
        // Lab numbers: 2… answers and hangs up 6 s later.
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, ["+2001", "+2002", "+2003"], agents: 2,
            new AriDriverOptions { AutoReadyAfter = TimeSpan.FromMilliseconds(30), RecordCalls = true, RecordingNotice = notice });
        await Rig.Until(() => rig.Driver.AgentsConnected == 2, TimeSpan.FromSeconds(5), "both agents logged in");
        await rig.WaitDone(TimeSpan.FromSeconds(20));

        var joined = rig.Emulator.Silences.Where(s => s.How == SilenceEnd.Agent).Select(s => s.ChannelId).ToList();
        Assert.Equal(3, joined.Count);
        var played = rig.Emulator.BridgePlays.Where(p => p.Media == notice).ToList();
        Assert.Equal(3, played.Count);
        // Played with the callee already in the agent's bridge (so the connect waited for nothing) and the recording running (so it holds it).
        foreach (var callee in joined) Assert.Single(played, p => p.Channels.Contains(callee) && p.Channels.Count == 2 && p.Recorded);
        Assert.Equal(3, rig.Driver.Stats.AnswerToBridge.Count);
        await rig.Driver.StopAsync();
    }

    [Fact]
    public void A_notice_that_is_not_a_media_uri_is_refused_by_key()
    {
        var profile = ComplianceProfiles.Get("cn-auto-renewal")!;
        var errors = new Dictionary<string, string>();
        (profile with { Recording = profile.Recording! with { Notice = "recording notice.wav" } }).Validate("profile", errors);
        Assert.Equal(["profile.recording.notice"], errors.Keys);
    }
}
