using Dialer.Ari.Driver;
using Dialer.Emulator;
using Dialer.Core.Domain;

namespace Dialer.Ari.Tests;

public class EndToEndTests
{
    /// <summary>
    /// Agents log in (their phones answer into their bridges), humans are answered, pass AMD and are bridged,
    /// the far end hangs up, a machine is detected and hung up, a busy number is retried, a no-answer times out:
    /// and every count agrees with what the emulated Asterisk saw.
    /// </summary>
    [Fact]
    public async Task Engine_and_driver_complete_a_small_campaign_against_the_emulator()
    {
        // Lab numbers: 2… answers and hangs up 6 s later, 8… is a machine for AMD, 486… is busy, 180… never answers.
        string[] phones = ["+2001", "+2002", "+2003", "+2004", "+8001", "+4861", "+1801"];
        await using var rig = await Rig.StartAsync(new EmulatorScenario { TimeScale = 0.05 }, phones, agents: 2,
            new AriDriverOptions { Amd = true, AutoReadyAfter = TimeSpan.FromMilliseconds(30), RecordCalls = true },
            retries: new() { [CallOutcome.Busy] = 0.2 });

        await Rig.Until(() => rig.Driver.AgentsConnected == 2, TimeSpan.FromSeconds(5), "both agents logged in");
        await rig.WaitDone(TimeSpan.FromSeconds(20));

        var s = rig.Engine.Stats;
        var outcomes = await rig.Query(e => e.Stats.Outcomes.ToArray());
        Assert.Equal(4, outcomes[(int)CallOutcome.Human]);
        Assert.Equal(1, outcomes[(int)CallOutcome.Machine]);
        Assert.Equal(2, outcomes[(int)CallOutcome.Busy]); // first try and its retry
        Assert.Equal(1, outcomes[(int)CallOutcome.NoAnswer]);
        Assert.Equal(0, outcomes[(int)CallOutcome.Abandoned]);
        Assert.Equal(8, s.CallsPlaced);
        Assert.Equal(s.CallsPlaced, outcomes.Sum());
        Assert.Equal(4, s.Connected);
        Assert.Equal(2, rig.Leads.Single(l => l.Phone == "+4861").Attempts);
        // Asterisk saw exactly our calls plus the two agent phones: nothing dialed twice, nothing left behind.
        Assert.Equal(s.CallsPlaced + 2, rig.Emulator.ChannelsCreated);
        Assert.Equal(2, rig.Emulator.ActiveChannels);
        Assert.Equal(0, rig.Driver.LiveCalls);
        Assert.Equal(4, rig.Driver.Stats.AnswerToBridge.Count);
        await rig.Driver.StopAsync();
        await Rig.Until(() => rig.Emulator.ActiveChannels == 0, TimeSpan.FromSeconds(2), "agents hung up at shutdown");
    }
}
