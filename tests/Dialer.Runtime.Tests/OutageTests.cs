using Dapper;
using Dialer.Emulator;
using Dialer.Runtime;
using Dialer.Store;
using Xunit.Abstractions;

namespace Dialer.Runtime.Tests;

/// <summary>`dialer run`'s engine on the emulator and SQLite while Asterisk cannot be reached for 30 s (issue 9's fault matrix).</summary>
public sealed class OutageTests(ITestOutputHelper output) : IDisposable
{
    private const int Agents = 10;
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-outage-").FullName;

    /// <summary>
    /// The network to Asterisk is cut for 30 s (events socket dropped and refused, every REST request failing) while calls
    /// and agent lines stay up there. No call is placed while it is unreachable (no lead's attempt burned on it), the calls
    /// that ended meanwhile are found by reconciliation, the agents are still there after it, dialing resumes by itself,
    /// and at the stop no attempt is open. One call per ready agent allows no abandon by design, so every abandon is the
    /// cut's own: a callee who answered in the moment Asterisk became unreachable, whose bridge could no longer be made
    /// (counted, as the rule says); after the resume, none.
    /// </summary>
    [Fact]
    public async Task Asterisk_unreachable_for_30_s_places_nothing_meanwhile_and_resumes_with_nothing_lost()
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        // +2…: answers, talks 6 s; +1802…: rings until the time-out. One call per ready agent: no abandon by design.
        var file = RunFiles.Write(_dir, emu.BaseUri, $"sqlite:{Path.Combine(_dir, "run.db")}", "outage", "node-a", "ratio:1", Agents, channels: 100,
            [.. Enumerable.Range(0, 120).Select(i => ($"+2555{i:D4}", "US")), .. Enumerable.Range(0, 40).Select(i => ($"+1802555{i:D4}", "US"))],
            autoReadySeconds: 1);
        var config = RunConfig.Load(file);
        var log = new RunLog();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var (db, pii, record) = RunFiles.Prepare(config, _dir);
        using var store = db;
        await using var run = await CampaignEngine.StartAsync(config.Telephony, db, pii, record, config.Settings!.ToConfig(config.Name), config.Settings!.CreatePacer(1), "node-a", log.WriteLine,
            TimeSpan.FromSeconds(30), cts.Token); // generous: a loaded CI machine
        await RunFiles.Until(async () => await run.Host.QueryAsync(e => e.Stats.Connected >= 15), TimeSpan.FromSeconds(30), "calls connected before the outage", log);

        var cut = DateTime.UtcNow;
        emu.RefuseEvents = true;
        emu.FailNextRequests(int.MaxValue);
        emu.DropEventSockets();
        await Task.Delay(TimeSpan.FromSeconds(30));
        var placedDuring = await run.Host.QueryAsync(e => e.Stats.CallsPlaced);
        var loggedInDuring = await run.Host.QueryAsync(e => e.State.LoggedIn);
        emu.FailNextRequests(0);
        emu.RefuseEvents = false;
        var back = DateTime.UtcNow;
        await RunFiles.Until(async () => await run.Host.QueryAsync(e => e.Stats.CallsPlaced > placedDuring), TimeSpan.FromSeconds(15), "dialing resumed", log);
        var resumedAfter = DateTime.UtcNow - back;
        await RunFiles.Until(async () => await run.Host.QueryAsync(e => e.State.LoggedIn == Agents), TimeSpan.FromSeconds(10), "every agent still logged in", log);
        await Task.Delay(TimeSpan.FromSeconds(5));
        await run.DisposeAsync();

        Assert.Equal(Agents, loggedInDuring); // their lines were up all along: nobody was logged out by the cut
        Assert.True(run.Driver.Stats.ReconciledEnds >= 1, "calls that ended during the outage are found by reconciliation");
        using var c = db.Connect();
        // Nothing placed on the unreachable Asterisk (a second's grace for the cut to be noticed), no attempt left open.
        var placedWhileCut = c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE placed_at > @from AND placed_at < @to",
            new { from = new DateTimeOffset(cut.AddSeconds(1)).ToUnixTimeMilliseconds(), to = new DateTimeOffset(back).ToUnixTimeMilliseconds() });
        Assert.Equal(0, placedWhileCut);
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL"));
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 1 OR lease_owner IS NOT NULL"));
        var live = c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE outcome IN ('human', 'abandoned')");
        var abandons = c.Query<(string Channel, long Answered)>("SELECT channel_id, answered_at FROM attempts WHERE outcome = 'abandoned'")
            .Select(a => (a.Channel, At: DateTimeOffset.FromUnixTimeMilliseconds(a.Answered).UtcDateTime)).ToList();
        // The cut's: answered within their 2 s before it (a second's grace for the cut to be noticed). The resume's: any other.
        var atCutIds = abandons.Where(a => a.At > cut.AddSeconds(-2) && a.At < cut.AddSeconds(1)).Select(a => a.Channel).ToHashSet();
        var atCut = atCutIds.Count;
        var figures = $"30 s unreachable: {placedWhileCut} calls placed meanwhile, dialing resumed {resumedAfter.TotalSeconds:0.0} s after, " +
                      $"{run.Driver.Stats.ReconciledEnds} ends found by reconciliation; {abandons.Count} abandoned of {live} live answers: " +
                      $"{atCut} answered as Asterisk became unreachable, {abandons.Count - atCut} after";
        output.WriteLine(figures);
        Assert.True(live >= 20, figures);
        Assert.True(abandons.Count == atCut, $"{figures}\n{log}");
        // No lead's attempt burned: each lead's count is the calls it had.
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads l WHERE l.attempts <> (SELECT COUNT(*) FROM attempts a WHERE a.lead_id = l.id)"));
        // From the callee's side: each attempt closed with what its callee lived, and the only long silences the cut's own
        // (answered as Asterisk became unreachable: nothing could reach them until it was back).
        var callees = Callees.Judge(emu, db);
        output.WriteLine($"{callees.Silent.Count} callees over 4 s in silence ({string.Join(", ", callees.Silent.Select(s => $"{s.Seconds:0.0} s {s.How}"))}); {callees.Wrong.Count} attempts closed wrong");
        Assert.Empty(callees.Wrong);
        Assert.All(callees.Silent, s => Assert.Contains(s.ChannelId, atCutIds));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
