using System.Diagnostics;
using Dapper;
using Dialer.Ari.Client;
using Dialer.Core.Domain;
using Dialer.Emulator;
using Dialer.Runtime;
using Dialer.Store;
using Dialer.Store.Tests;
using Xunit.Abstractions;

namespace Dialer.Runtime.Tests;

/// <summary>
/// kill -9 with 10 agents on calls, then a restart against the same Asterisk (the emulator) and store: what is still up
/// is taken back (conversations go on and close normally, agents are logged in at once), what nobody can own is hung up
/// and counted right, and nothing of another node or campaign is touched.
/// </summary>
[Collection("db")]
public sealed class RecoveryTests(PostgresServer pg, ITestOutputHelper output) : IDisposable
{
    private const int Agents = 10;
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-recovery-").FullName;

    /// <summary>14 callees who answer and talk until hung up (+7…: 10 reach an agent, 4 go to safe harbor) and 16 who ring (+1802…).</summary>
    private string Config(Uri ari, string db) => RunFiles.Write(_dir, ari, db, "recovery", "node-a", "ratio:3", Agents, channels: 100,
        [.. Enumerable.Range(0, 14).Select(i => ($"+7916555{i:D4}", "RU")), .. Enumerable.Range(0, 16).Select(i => ($"+1802555{i:D4}", "US"))]);

    [Theory]
    [InlineData("sqlite", "node-a", null, null)]     // the same node restarted
    [InlineData("sqlite", "node-b", "node-a", null)] // another node takes the dead node's campaign over
    [InlineData("postgres", "node-a", null, null)]
    // The dead process's calls are in another app than the new one's (an upgrade from the single app `dialer`, or ari.app
    // changed): the new engine subscribes to each channel it takes on, or it would never hear them end.
    [InlineData("sqlite", "node-a", null, "legacy")]
    public async Task Kill_9_with_10_agents_on_calls_then_restart_keeps_every_conversation_and_agent_and_touches_nothing_else(
        string dialect, string restartAs, string? takenOver, string? appBefore)
    {
        // Safe-harbor messages last long enough that the callees in them are still up (live, unreached) at the kill.
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario { PlaybackSeconds = 60 });
        var config = RunConfig.Load(Config(emu.BaseUri, dialect == "sqlite" ? $"sqlite:{Path.Combine(_dir, "run.db")}" : pg.NewDatabase()));
        var (db, pii, record) = RunFiles.Prepare(config, _dir);
        using var store = db;
        var log = new RunLog();
        Task<CampaignEngine> Start(string node, IReadOnlyCollection<string>? over, string? app = null) => CampaignEngine.StartAsync(
            app is null ? config.Telephony : config.Telephony with { Servers = [.. config.Telephony.Servers.Select(s => s with { App = app })] }, db, pii, record,
            config.Settings!.ToConfig(config.Name), config.Settings!.CreatePacer(1), node, log.WriteLine, TimeSpan.FromSeconds(10), CancellationToken.None, over);

        var a = new ChannelOwner("node-a", config.Name);
        var first = await Start("node-a", null, appBefore);
        Assert.Equal([$"{appBefore ?? "dialer"}-recovery"], emu.ConnectedApps); // the campaign's own app

        // Another node's call in its agent's bridge, and this node's call for another campaign: not ours to touch (put in the
        // campaign's app, where the engine would hear them, to show it leaves them alone all the same).
        await using var ari = new AriClient(new AriServerOptions { Id = "probe", BaseUri = emu.BaseUri, User = "dialer", Password = "dialer", App = emu.ConnectedApps[0] });
        var otherNode = new ChannelOwner("node-z", config.Name);
        var otherCampaign = new ChannelOwner("node-a", "another");
        await ari.OriginateAsync(otherNode.Call(1), "PJSIP/+79165559999@carrier-a", "callee", null, 60, null);
        await ari.OriginateAsync(otherCampaign.Call(2), "PJSIP/+79165559998@carrier-a", "callee", null, 60, null);
        await ari.CreateBridgeAsync(otherNode.AgentBridge("agent1"));
        string[] foreign = [otherNode.Call(1), otherCampaign.Call(2)];
        await RunFiles.Until(async () => await first.Host.QueryAsync(e => e.State.Count(AgentState.Talking) == Agents && e.Stats.Abandoned >= 4),
            TimeSpan.FromSeconds(30), "10 agents talking and 4 callees in safe harbor", log);
        await ari.AddChannelAsync(otherNode.AgentBridge("agent1"), otherNode.Call(1)); // answered by now: into the foreign bridge

        // What Asterisk holds at the kill.
        var bridges = await ari.ListBridgesAsync();
        var talking = bridges.Where(b => a.Owns(b.Id)).SelectMany(b => b.Channels).Where(Callees.IsCall).ToHashSet();
        var channels = await ari.ListChannelsAsync();
        var unreached = channels.Where(c => c.State == ChannelState.Up && a.Owns(c.Id) && Callees.IsCall(c.Id) && !talking.Contains(c.Id)).Select(c => c.Id).ToHashSet();
        var ringing = channels.Count(c => c.State != ChannelState.Up && a.Owns(c.Id));
        Assert.Equal(Agents, talking.Count);
        Assert.Equal(4, unreached.Count);
        Assert.True(ringing >= 10, $"{ringing} calls ringing");

        // When each conversation's callee answered, as the dead engine heard it from Asterisk.
        var answered = await first.Host.QueryAsync(e => e.LiveCalls.Where(c => talking.Contains(c.ChannelId)).ToDictionary(c => c.ChannelId, c => c.AnsweredAt!.Value));
        await first.LetGoAsync(); // kill -9: nothing hung up, nothing closed
        var restart = Stopwatch.StartNew();
        await using var second = await Start(restartAs, takenOver is null ? null : [takenOver]);
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.Talking) == Agents), TimeSpan.FromSeconds(10), "agents back on their calls", log);
        var agentsBack = restart.Elapsed;

        // Every conversation kept, with its agent; every agent line taken back, no phone called again.
        Assert.Equal(Agents, second.Reconciled.Adopted);
        Assert.Equal(Agents, second.Driver.Stats.AgentsTakenBack);
        var live = (await ari.ListChannelsAsync()).Select(c => c.Id).ToHashSet();
        Assert.Subset(live, talking);
        Assert.Equal(talking, (await second.Host.QueryAsync(e => e.LiveCalls.Select(c => c.ChannelId).ToList())).ToHashSet());
        // The unreached callees and the ringing calls are hung up; the callees count as abandoned in the ledger.
        Assert.Empty(live.Intersect(unreached));
        Assert.Equal(0, live.Count(id => a.Owns(id) && Callees.IsCall(id) && !talking.Contains(id)));
        var (liveToday, abandonedToday) = await second.Host.QueryAsync(e => (e.State.Ledger.LiveToday, e.State.Ledger.AbandonedToday));
        Assert.Equal(unreached.Count, abandonedToday);
        Assert.Equal(unreached.Count + Agents, liveToday);
        Assert.Subset(live, foreign.ToHashSet());
        // Each adopted call's row shows it answered (when Asterisk says it was, not when it was adopted) and its agent, before it ends.
        using (var rc = db.Connect())
        {
            var adopted = rc.Query<(string ChannelId, long? AnsweredAt, string? Agent)>("SELECT channel_id, answered_at, agent FROM attempts WHERE ended_at IS NULL")
                .Where(r => talking.Contains(r.ChannelId)).ToList();
            Assert.Equal(talking.Count, adopted.Count);
            Assert.All(adopted, r => Assert.True(r.AnsweredAt is { } at && Math.Abs(at - new DateTimeOffset(answered[r.ChannelId]).ToUnixTimeMilliseconds()) <= 50 && r.Agent is not null,
                $"{r.ChannelId}: answered_at {r.AnsweredAt}, heard answered at {new DateTimeOffset(answered[r.ChannelId]).ToUnixTimeMilliseconds()}, agent {r.Agent}"));
        }

        // The conversations end: each attempt the dead process left open is closed by its hang-up, as a conversation.
        foreach (var id in talking) emu.FarEndHangsUp(id);
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.WrapUp) == Agents), TimeSpan.FromSeconds(10), "agents in wrap-up", log);
        foreach (var i in Enumerable.Range(1, Agents)) emu.PressKey(a.Agent($"agent{i}"), "1"); // ready, from the phone taken back
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.WrapUp) + e.State.Count(AgentState.LoggedOut) == 0),
            TimeSpan.FromSeconds(10), "agents ready again", log);
        await second.DisposeAsync();

        using var c = db.Connect();
        var rows = c.Query<(string ChannelId, string? Outcome, long Reconciled, string? Agent)>("SELECT channel_id, outcome, reconciled, agent FROM attempts").ToList();
        Assert.All(rows.Where(r => talking.Contains(r.ChannelId)), r => Assert.Equal(("human", 0L), (r.Outcome, r.Reconciled)));
        Assert.Equal(Agents, rows.Count(r => talking.Contains(r.ChannelId) && r.Agent is not null));
        Assert.All(rows.Where(r => unreached.Contains(r.ChannelId)), r => Assert.Equal(("abandoned", 1L), (r.Outcome, r.Reconciled)));
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL"));
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 1 OR lease_owner IS NOT NULL"));
        Assert.Subset((await ari.ListChannelsAsync()).Select(ch => ch.Id).ToHashSet(), foreign.ToHashSet());
        Assert.Contains(otherNode.AgentBridge("agent1"), (await ari.ListBridgesAsync()).Select(b => b.Id));
        output.WriteLine($"{dialect}, restarted as {restartAs}{(takenOver is null ? "" : $" taking over {takenOver}")}: {Agents} agents on calls back in " +
                         $"{agentsBack.TotalSeconds:0.00} s; conversations kept {talking.Count}/{talking.Count}; unreached callees hung up as abandoned " +
                         $"{unreached.Count}; ringing calls hung up {ringing}");
    }

    /// <summary>
    /// The callees on pbx1, the agents' phones on pbx2 (the `ari-emulator --servers 2` layout): each conversation is the callee
    /// in its own bridge on pbx1 with a leg over the inter-server trunk, which is in the agent's bridge on pbx2. kill -9 and a
    /// restart: each is adopted as on one server (the leg kept, the agent taken back on pbx2), and closes as a conversation.
    /// </summary>
    [Fact]
    public async Task Kill_9_with_agents_on_another_server_keeps_every_conversation_over_the_inter_server_leg()
    {
        const int agents = 4;
        await using var servers = await TwoServers.StartAsync(_dir, "recovery", agents);
        var (pbx1, pbx2, config, db, pii, record, log) = servers;
        Task<CampaignEngine> Start() => CampaignEngine.StartAsync(config.Telephony, db, pii, record, config.Settings!.ToConfig(config.Name),
            config.Settings!.CreatePacer(1), "node-a", log.WriteLine, TimeSpan.FromSeconds(10), CancellationToken.None);
        var a = new ChannelOwner("node-a", config.Name);
        var first = await Start();
        await RunFiles.Until(async () => await first.Host.QueryAsync(e => e.State.Count(AgentState.Talking) == agents), TimeSpan.FromSeconds(30), "agents talking", log);
        var talking = (await first.Host.QueryAsync(e => e.LiveCalls.Select(c => c.Id).ToList())).ToHashSet();
        // Talking: each leg arrived in its agent's bridge on pbx2 (the callee and the leg share their bridge on pbx1 while it rings already).
        await RunFiles.Until(() => Task.FromResult(Enumerable.Range(1, agents).All(i => pbx2.BridgeSize(a.AgentBridge($"agent{i}")) == 2)),
            TimeSpan.FromSeconds(10), "every leg in its agent's bridge", log);
        await first.LetGoAsync(); // kill -9
        var restart = Stopwatch.StartNew();
        await using var second = await Start();
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.Talking) == agents), TimeSpan.FromSeconds(10), "agents back on their calls", log);
        var agentsBack = restart.Elapsed;

        Assert.Equal(agents, second.Reconciled.Adopted);
        Assert.Equal(agents, second.Driver.Stats.AgentsTakenBack);
        Assert.All(talking, id => Assert.Equal(2, pbx1.BridgeSize(a.XferBridge(id)))); // callee and leg still together
        Assert.All(Enumerable.Range(1, agents), i => Assert.Equal(2, pbx2.BridgeSize(a.AgentBridge($"agent{i}")))); // phone and leg
        Assert.Equal(talking, (await second.Host.QueryAsync(e => e.LiveCalls.Select(c => c.Id).ToList())).ToHashSet());

        // The callees hang up: each leg goes with its callee, each attempt closes as a conversation with its agent.
        foreach (var id in talking) pbx1.FarEndHangsUp(a.Call(id));
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.WrapUp) == agents), TimeSpan.FromSeconds(10), "agents in wrap-up", log);
        await RunFiles.Until(() => Task.FromResult(pbx1.ActiveChannels == 0), TimeSpan.FromSeconds(5), "the legs gone with their callees", log);
        await second.DisposeAsync();
        using var c = db.Connect();
        var rows = c.Query<(long Id, string? Outcome, string? Agent)>("SELECT id, outcome, agent FROM attempts").Where(r => talking.Contains(r.Id)).ToList();
        Assert.Equal(agents, rows.Count);
        Assert.All(rows, r => Assert.Equal("human", r.Outcome));
        Assert.All(rows, r => Assert.NotNull(r.Agent));
        Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE ended_at IS NULL"));
        output.WriteLine($"agents on pbx2, callees on pbx1: {agents} agents on calls back in {agentsBack.TotalSeconds:0.00} s; conversations kept {rows.Count}/{talking.Count}");
    }

    /// <summary>
    /// A campaign taken over twice (a → b → c, each owner killed): the agent lines keep the ids of the owner that first dialed
    /// them, a, as b takes them back. c learns the whole chain from the lease row (b alone would not do: a's lines were left up
    /// on Asterisk after every node stopped, real cl1/cl2), takes the lines back, deletes the dead owners' bridges that hold
    /// nothing (an inter-server bridge left empty), and when c stops nothing of the campaign is left on either server; another
    /// node's bridge is not touched.
    /// </summary>
    [Fact]
    public async Task A_campaign_taken_over_twice_leaves_nothing_on_asterisk_when_its_last_owner_stops()
    {
        const int agents = 4;
        await using var servers = await TwoServers.StartAsync(_dir, "twice", agents);
        var (pbx1, pbx2, config, db, pii, record, log) = servers;
        var lease = TimeSpan.FromSeconds(5);
        var at = DateTime.UtcNow;
        // Each node takes the lease once the one before died (its lease ran out), and recovers what the lease row names.
        async Task<CampaignEngine> Take(string node)
        {
            at += lease * 2;
            var held = new CampaignOwnership(db, node).TryAcquire(record.Id, lease, at)!;
            return await CampaignEngine.StartAsync(config.Telephony, db, pii, record, config.Settings!.ToConfig(config.Name), config.Settings!.CreatePacer(1),
                node, log.WriteLine, TimeSpan.FromSeconds(10), CancellationToken.None, held.TakenOver);
        }
        var (a, b, c) = (new ChannelOwner("node-a", config.Name), new ChannelOwner("node-b", config.Name), new ChannelOwner("node-c", config.Name));
        var first = await Take("node-a");
        await RunFiles.Until(async () => await first.Host.QueryAsync(e => e.State.Count(AgentState.Talking) == agents), TimeSpan.FromSeconds(30), "agents talking", log);
        var calls = (await first.Host.QueryAsync(e => e.LiveCalls.Select(x => x.Id).ToList())).ToList();
        await RunFiles.Until(() => Task.FromResult(Enumerable.Range(1, agents).All(i => pbx2.BridgeSize(a.AgentBridge($"agent{i}")) == 2)),
            TimeSpan.FromSeconds(10), "every leg in its agent's bridge", log);
        await first.LetGoAsync(); // kill -9

        var second = await Take("node-b");
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.Talking) == agents), TimeSpan.FromSeconds(10), "b: agents on their calls", log);
        Assert.Equal(agents, second.Driver.Stats.AgentsTakenBack);
        // The conversations end under b; the agents' lines stay up, under a's ids, in a's bridges.
        foreach (var id in calls) pbx1.FarEndHangsUp(a.Call(id));
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.WrapUp) == agents), TimeSpan.FromSeconds(10), "b: agents in wrap-up", log);
        foreach (var i in Enumerable.Range(1, agents)) pbx2.PressKey(a.Agent($"agent{i}"), "1");
        await RunFiles.Until(async () => await second.Host.QueryAsync(e => e.State.Count(AgentState.Ready) == agents), TimeSpan.FromSeconds(10), "b: agents ready", log);
        // What dead owners leave besides: inter-server bridges with nothing in them (their callee and leg hung up by a recovery).
        await using var ari = new AriClient(new AriServerOptions { Id = "probe", BaseUri = pbx1.BaseUri, User = "dialer", Password = "dialer", App = "probe" });
        await ari.CreateBridgeAsync(a.XferBridge(9001));
        await ari.CreateBridgeAsync(b.XferBridge(9002));
        var foreign = new ChannelOwner("node-z", config.Name).XferBridge(9003);
        await ari.CreateBridgeAsync(foreign);
        await second.LetGoAsync(); // kill -9

        await using var third = await Take("node-c");
        await RunFiles.Until(async () => await third.Host.QueryAsync(e => e.State.Count(AgentState.Ready) == agents), TimeSpan.FromSeconds(10), "c: agents taken back", log);
        Assert.Equal(agents, third.Driver.Stats.AgentsTakenBack); // a's lines, which c knows of only from the lease row
        Assert.Equal(2, third.Reconciled.BridgesDeleted);
        await third.DisposeAsync();

        await using var ari2 = new AriClient(new AriServerOptions { Id = "probe2", BaseUri = pbx2.BaseUri, User = "dialer", Password = "dialer", App = "probe" });
        bool Ours(string id) => a.Owns(id) || b.Owns(id) || c.Owns(id);
        foreach (var server in new[] { ari, ari2 })
        {
            Assert.Empty((await server.ListChannelsAsync()).Where(ch => Ours(ch.Id)).Select(ch => ch.Id));
            Assert.Empty((await server.ListBridgesAsync()).Where(br => Ours(br.Id)).Select(br => br.Id));
        }
        Assert.Contains(foreign, (await ari.ListBridgesAsync()).Select(br => br.Id));
        output.WriteLine($"taken over twice: c took back {third.Driver.Stats.AgentsTakenBack} of a's agent lines, deleted {third.Reconciled.BridgesDeleted} empty bridges of dead owners; nothing left after c stopped");
    }


    /// <summary>
    /// The callees on pbx1, the agents' phones on pbx2 over the inter-server trunk, and a SQLite store for a campaign of one
    /// callee per agent who answers and talks until hung up.
    /// </summary>
    private sealed class TwoServers(AriEmulator pbx1, AriEmulator pbx2, RunConfig config, StoreDb db, Pii pii, CampaignRecord record) : IAsyncDisposable
    {
        private readonly RunLog _log = new();

        public static async Task<TwoServers> StartAsync(string dir, string campaign, int agents)
        {
            var pbx1 = await AriEmulator.StartAsync(new EmulatorScenario());
            var pbx2 = await AriEmulator.StartAsync(new EmulatorScenario { AsteriskId = "02:fc:00:00:00:02" });
            AriEmulator.Link(pbx1, "pbx1", pbx2, "pbx2");
            var config = RunConfig.Load(RunFiles.Write(dir, pbx1.BaseUri, $"sqlite:{Path.Combine(dir, "run.db")}", campaign, "node-a", "ratio:1", agents,
                channels: 100, Enumerable.Range(0, agents).Select(i => ($"+7916555{i:D4}", "RU")), agentsAri: pbx2.BaseUri));
            var (db, pii, record) = RunFiles.Prepare(config, dir);
            return new TwoServers(pbx1, pbx2, config, db, pii, record);
        }

        public void Deconstruct(out AriEmulator p1, out AriEmulator p2, out RunConfig c, out StoreDb d, out Pii p, out CampaignRecord r, out RunLog l) =>
            (p1, p2, c, d, p, r, l) = (pbx1, pbx2, config, db, pii, record, _log);

        public async ValueTask DisposeAsync()
        {
            db.Dispose();
            await pbx2.DisposeAsync();
            await pbx1.DisposeAsync();
            _log.Dispose();
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
