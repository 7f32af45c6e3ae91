using Dapper;
using Dialer.Emulator;
using Dialer.Store;
using Dialer.Store.Tests;
using Npgsql;
using Xunit.Abstractions;

namespace Dialer.Runtime.Tests;

/// <summary>
/// A node as `dialer run` runs it (<see cref="NodeHost"/>, its ownership lease renewed in PostgreSQL) carrying calls on the
/// emulator while PostgreSQL fails under it (issue 9's fault matrix, the store's rows): the attempts table locked for 10 s
/// (a stall), a restart (down 3 s: every session ends 57P01, then connections refused), and an outage longer than three
/// leases. Judged from the callee's side and from the rows.
/// </summary>
[Collection("db")]
public sealed class DatabaseFaultTests(PostgresServer pg, ITestOutputHelper output) : IDisposable
{
    private const int Agents = 10;
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-dbfault-").FullName;

    /// <summary>
    /// No call reaches Asterisk while its row cannot be written (a second's grace for the fault to be noticed); the calls up
    /// go on: nobody is left in silence, the bridges are made, and nobody is abandoned (one call per ready agent allows none);
    /// dialing resumes by itself once the store is back, on the same engine (the campaign is not stopped and taken again); at
    /// the stop every call Asterisk saw has exactly one attempt row, closed as its callee lived, no lead is left leased, and
    /// each lead's attempt count is its rows.
    /// </summary>
    [PostgresTheory]
    [InlineData("stall", 10)]
    [InlineData("restart", 3)]
    [InlineData("outage", 20)]
    public async Task The_database_failing_under_a_node_with_calls_up_loses_no_call_and_no_row(string fault, int seconds)
    {
        await using var emu = await AriEmulator.StartAsync(new EmulatorScenario());
        // +2…: answers, talks 6 s. One call per ready agent: no abandon by design.
        var connection = pg.NewDatabase();
        var file = RunFiles.Write(_dir, emu.BaseUri, connection, "dbfault", "node-a", "ratio:1", Agents, channels: 100,
            Enumerable.Range(0, 400).Select(i => ($"+2555{i:D4}", "US")), autoReadySeconds: 1);
        var config = RunConfig.Load(file);
        var log = new RunLog();
        var (db, pii, _) = RunFiles.Prepare(config, _dir);
        using var store = db;
        var events = new List<NodeEvent>();
        var node = new NodeHost(db, pii, "node-a", [config], new NodeOptions { Lease = Lease, ConnectTimeout = TimeSpan.FromSeconds(30) }, log.WriteLine);
        node.Changed += e => { lock (events) events.Add(e); };
        await using (node)
        {
            node.Start();
            await RunFiles.Until(async () => node.Running is [(_, var engine)] && await engine.Host.QueryAsync(e => e.Stats.Connected >= 15),
                TimeSpan.FromSeconds(60), "15 calls connected before the fault", log);

            var cut = DateTime.UtcNow;
            await using (await Inflict(fault, connection))
            {
                await Task.Delay(TimeSpan.FromSeconds(seconds));
            }
            var back = DateTime.UtcNow;
            var before = Placed(emu, back);
            await RunFiles.Until(() => Task.FromResult(Placed(emu, back) >= before + 10), TimeSpan.FromSeconds(30), "10 calls placed after the store came back", log);
            var resumedAfter = Calls(emu).Where(r => r.At > back).Min(r => r.At) - back;
            var placedWhileDown = Calls(emu).Count(r => r.At > cut.AddSeconds(1) && r.At < back);
            await Task.Delay(TimeSpan.FromSeconds(3));
            await node.DisposeAsync();
            List<NodeEvent> seen;
            lock (events) seen = [.. events];

            using var c = db.Connect();
            var rows = c.Query<(string Channel, string? Outcome, long? Ended)>("SELECT channel_id, outcome, ended_at FROM attempts").ToList();
            var callees = Callees.Judge(emu, db);
            var figures = $"{fault} {seconds} s: {placedWhileDown} calls placed meanwhile, dialing resumed {resumedAfter.TotalSeconds:0.0} s after; " +
                          $"{rows.Count} attempts, {callees.Abandoned} abandoned of {callees.Live} live; {callees.Silent.Count} callees over 4 s in silence, " +
                          $"{callees.Wrong.Count} closed wrong; node events: {string.Join(" | ", seen.Select(e => $"{e.Kind} {e.Detail}"))}";
            output.WriteLine(figures);
            Assert.True(placedWhileDown == 0, figures);
            Assert.True(callees.Live >= 20, figures);
            Assert.True(callees.Silent.Count == 0 && callees.Wrong.Count == 0,
                $"{figures}\n{string.Join("\n", callees.Silent.Select(s => $"{s.Seconds:0.0} s {s.How} {s.ChannelId}").Concat(callees.Wrong))}\n{log}");
            Assert.Equal(0, callees.Abandoned);
            // The campaign was never let go and taken again: one engine carried it through.
            Assert.Equal([NodeEventKind.Took], seen.Where(e => e.Kind is NodeEventKind.Took or NodeEventKind.Stopped).Select(e => e.Kind).Distinct());
            Assert.Single(seen, e => e.Kind == NodeEventKind.Took);
            // Every call Asterisk saw has one row, closed; nothing leased; no lead's count off its rows.
            Assert.Equal(Calls(emu).Select(r => r.ChannelId).Order(), rows.Select(r => r.Channel).Order());
            Assert.All(rows, r => Assert.True(r.Ended is not null && r.Outcome is not null, $"{r.Channel} left open ({r.Outcome})"));
            Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE state = 1 OR lease_owner IS NOT NULL"));
            Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads l WHERE l.attempts <> (SELECT COUNT(*) FROM attempts a WHERE a.lead_id = l.id)"));
        }
    }

    /// <summary>The calls to customers Asterisk was asked for (not the agents' lines).</summary>
    private static IEnumerable<(string ChannelId, string User, DateTime At)> Calls(AriEmulator emu) => emu.PlaceRequests.Where(r => Callees.IsCall(r.ChannelId));

    private static int Placed(AriEmulator emu, DateTime after) => Calls(emu).Count(r => r.At > after);

    /// <summary>Starts the fault; disposing it ends it.</summary>
    private async Task<IAsyncDisposable> Inflict(string fault, string connection)
    {
        if (fault == "stall")
        {
            // Every attempt write waits on the lock (the lease row does not: renewals go on).
            var locker = new NpgsqlConnection(connection + ";Pooling=false");
            await locker.OpenAsync();
            var tx = await locker.BeginTransactionAsync();
            await locker.ExecuteAsync("LOCK TABLE attempts IN ACCESS EXCLUSIVE MODE", transaction: tx);
            return new Ending(async () =>
            {
                await tx.RollbackAsync();
                await locker.DisposeAsync();
            });
        }
        pg.Stop(); // restart and outage: fast shutdown, then down for the fault's time
        return new Ending(() =>
        {
            pg.Start();
            return ValueTask.CompletedTask;
        });
    }

    private sealed class Ending(Func<ValueTask> end) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => end();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
