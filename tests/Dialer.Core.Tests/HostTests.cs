using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Text;

namespace Dialer.Core.Tests;

/// <summary>The supervised loop (EngineHost) and the store outbox, in real time with short bounds.</summary>
public class HostTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>A lead source whose next lead throws while <see cref="Throwing"/> (a database gone away on the loop).</summary>
    private sealed class ThrowingLeads(IEnumerable<Lead> leads) : ILeadSource
    {
        private readonly Queue<Lead> _q = new(leads);
        public volatile bool Throwing;
        /// <summary>Leads handed out before the source starts throwing (a claim meeting a killed connection after a buffer ran dry).</summary>
        public int ThrowAfter = int.MaxValue;
        public Lead? Next(DateTime utcNow) =>
            Throwing || ThrowAfter-- <= 0 ? throw new InvalidOperationException("57P01: terminating connection for +8613800001234") : _q.TryDequeue(out var l) ? l : null;
        public void Release(Lead lead, DateTime utcNow) => _q.Enqueue(lead);
        public void Finished(Lead lead, CallOutcome outcome, DateTime utcNow) { }
        public void Reschedule(Lead lead, DateTime dueUtc, bool callback, DateTime utcNow) => _q.Enqueue(lead);
    }

    /// <param name="outbox">Given: the engine's leads and attempt log are the outbox it makes of the source, posting to the host.</param>
    private static (EngineHost Host, DialerEngine Engine, RecordingControl Control, ScriptedPacer Pacer, ThrowingLeads Leads) Host(int agents, int leads, TimeProvider? time = null,
        List<string>? log = null, Func<ThrowingLeads, Func<EngineEvent, ValueTask>, StoreOutbox>? outbox = null)
    {
        var control = new RecordingControl();
        var pacer = new ScriptedPacer();
        var source = new ThrowingLeads(Enumerable.Range(1, leads).Select(i => Make.Lead(i)));
        EngineHost? host = null;
        var box = outbox?.Invoke(source, e => host!.PostAsync(e));
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = new CampaignConfig { TimeZone = TimeZoneInfo.Utc, WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue },
            Agents = Enumerable.Range(0, agents).Select(i => new Agent { Index = i, Id = $"a{i}", Skills = new SkillSet() }).ToList(),
            Trunks = [Make.Trunk("t1")], Pacer = pacer, Control = control, Leads = box ?? (ILeadSource)source, Log = box, Predictor = new FixedPredictor(0.3f),
        }, (time ?? TimeProvider.System).GetUtcNow().UtcDateTime);
        host = new EngineHost(engine, time ?? TimeProvider.System) { Log = log is null ? null : m => { lock (log) log.Add(m); } };
        return (host, engine, control, pacer, source);
    }

    [Fact]
    public async Task A_throwing_lead_source_is_counted_and_masked_then_faults_the_engine_which_stops_dialing_rescues_callees_and_fails_queries()
    {
        var log = new List<string>();
        var (host, engine, control, pacer, leads) = Host(agents: 1, leads: 5, log: log);
        using var cts = new CancellationTokenSource();
        var loop = Task.Run(() => host.RunAsync(cts.Token));
        await host.PostAsync(EngineEvent.Login(0));
        pacer.Next = 2;
        await host.QueryAsync(e => 0);
        await Until(() => control.Originated.Count == 2);
        var (talking, waiting) = (control.Originated[0], control.Originated[1]);
        await host.PostAsync(EngineEvent.Answered(talking.Id, true));
        await host.PostAsync(EngineEvent.Answered(waiting.Id, true));
        Assert.Equal(CallPhase.Waiting, await host.QueryAsync(_ => waiting.Phase));

        leads.Throwing = true;
        pacer.Next = 1;
        await host.PostAsync(EngineEvent.Pause(0, "x")); // one event whose placement throws
        await Until(() => host.Failures == 1);
        Assert.Equal(EngineStatus.Running, host.Status);
        Assert.Equal(CallPhase.Waiting, await host.QueryAsync(_ => waiting.Phase)); // one failure: the loop goes on
        Assert.DoesNotContain("8613800001234", host.LastFailure);
        Assert.Contains("****1234", host.LastFailure);

        for (var i = 2; i <= 3; i++)
        {
            pacer.Next = 1;
            await host.PostAsync(EngineEvent.Ready(0));
            await Until(() => host.Failures == i);
        }
        await Until(() => host.Status == EngineStatus.Faulted);
        await Until(() => control.Log.Contains($"safe-harbor {waiting.Id}")); // the loop reports faulted, then halts: read after it
        Assert.True(engine.Halted);
        var e = await Assert.ThrowsAsync<EngineUnavailableException>(() => host.QueryAsync(e => e.State.Now));
        Assert.Contains("faulted", e.Message);
        string[] lines;
        lock (log) lines = [.. log];
        Assert.All(lines, l => Assert.DoesNotContain("8613800001234", l));

        // Still handling the ends, so the calls up close.
        await host.PostAsync(EngineEvent.Ended(talking.Id));
        await Until(() => talking.Phase == CallPhase.Ended);
        cts.Cancel();
        await loop;
    }

    [Fact]
    public async Task Queries_never_wait_forever_once_the_loop_stopped()
    {
        var (host, _, _, _, _) = Host(agents: 1, leads: 0);
        using var cts = new CancellationTokenSource();
        var loop = Task.Run(() => host.RunAsync(cts.Token));
        Assert.Equal(0, await host.QueryAsync(e => e.State.Count(AgentState.Ready)));
        cts.Cancel();
        await loop.WaitAsync(Bound);
        Assert.Equal(EngineStatus.Stopped, host.Status);
        await Assert.ThrowsAsync<EngineUnavailableException>(() => host.QueryAsync(e => 0).WaitAsync(Bound));
        await host.PostAsync(EngineEvent.Login(0)); // an event after stop is dropped, not an error
    }

    /// <summary>A wall clock stopped at <see cref="Make.T0"/>; the monotonic timestamp runs on.</summary>
    private sealed class AtT0 : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => Make.T0;
    }

    /// <summary>A wall clock that steps back by a second whenever asked; the monotonic timestamp runs on.</summary>
    private sealed class SteppingBackClock : TimeProvider
    {
        private DateTimeOffset _wall = DateTimeOffset.UtcNow;
        public override DateTimeOffset GetUtcNow() => _wall = _wall.AddSeconds(-1);
    }

    [Fact]
    public async Task A_wall_clock_stepping_back_never_reaches_the_engine()
    {
        var (host, engine, control, pacer, _) = Host(agents: 1, leads: 3, time: new SteppingBackClock());
        using var cts = new CancellationTokenSource();
        var loop = Task.Run(() => host.RunAsync(cts.Token));
        await host.PostAsync(EngineEvent.Login(0));
        pacer.Next = 1;
        var t1 = await host.QueryAsync(e => e.State.Now);
        await Task.Delay(50);
        await host.PostAsync(EngineEvent.Pause(0, "x"));
        var t2 = await host.QueryAsync(e => e.State.Now);
        Assert.True(t2 > t1);
        Assert.Equal(0, host.Failures);
        Assert.Single(control.Originated);
        cts.Cancel();
        await loop;
    }

    /// <summary>A clock that does not move at all, wall or monotonic: the engine's own timers never come due.</summary>
    private sealed class Stopped : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => Make.T0;
        public override long GetTimestamp() => 0;
    }

    /// <summary>
    /// The engine found the prefetch empty (the database refused the claim) and would look again a second later; the refill's
    /// LeadsStocked makes it look at once. On a stopped clock that second never passes: without the event nothing is placed
    /// (before: session 15 measured 0, 6, 10, 20, 70 calls in the first seconds of a run, one look a second).
    /// </summary>
    [Fact]
    public async Task Leads_stocked_after_the_engine_found_none_are_dialed_at_once_not_at_its_next_timer()
    {
        StoreOutbox? box = null;
        var (host, _, control, pacer, leads) = Host(agents: 2, leads: 5, time: new Stopped(),
            outbox: (source, post) => box = new StoreOutbox(source, new FlakyStore(), post, new Stopped()));
        leads.Throwing = true; // the claim fails: nothing to stock
        pacer.Steady = true;
        pacer.Next = 2;
        using var cts = new CancellationTokenSource();
        var loop = Task.Run(() => host.RunAsync(cts.Token));
        box!.Start();
        await host.PostAsync(EngineEvent.Login(0));
        await host.PostAsync(EngineEvent.Login(1));
        await Until(() => box.ClaimFailures >= 1);
        Assert.Equal(0L, await host.QueryAsync(e => e.Stats.CallsPlaced)); // the engine looked, found none, and waits for its timer
        leads.Throwing = false;
        await Until(() => control.Originated.Count == 5); // every lead, as it was stocked, though the clock never moved
        cts.Cancel();
        await loop;
        await box.StopAsync(Bound);
    }

    /// <summary>An attempt log standing in for the database: fails, or stalls, while told to.</summary>
    private sealed class FlakyStore : IAttemptLog
    {
        public readonly List<long> Rows = [];
        /// <summary>The writes of each committed <see cref="Transaction"/>, in commit order.</summary>
        public readonly List<string> Transactions = [];
        private List<string>? _open;
        public volatile int FailNext;
        public volatile int StallMs;
        public void Placed(Call call)
        {
            if (StallMs > 0) Thread.Sleep(StallMs);
            if (FailNext > 0 && FailNext-- > 0) throw new InvalidOperationException("57P01: terminating connection due to administrator command");
            lock (Rows) Rows.Add(call.Id);
            _open?.Add($"placed {call.Id}");
        }
        public void Finished(Call call) => _open?.Add($"closed {call.Id}");

        /// <summary>The outbox's Batch: what <paramref name="work"/> writes is kept only if it does not throw (a rollback).</summary>
        public void Transaction(Action work)
        {
            _open = [];
            try
            {
                work();
                lock (Transactions) Transactions.Add(string.Join(", ", _open));
            }
            finally { _open = null; }
        }
    }

    private sealed class RecordingPost
    {
        public readonly List<long> Stored = [];
        public ValueTask Post(EngineEvent e)
        {
            if (e.Kind != EventKind.AttemptStored) return default; // LeadsStocked
            lock (Stored) Stored.Add(e.CallId);
            return default;
        }
    }

    private static Call CallOf(long id) => new() { Id = id, Lead = Make.Lead(id), Attempt = 1, Trunk = 0, PlacedAt = Make.T0, PLive = 0.3f };

    [Fact]
    public async Task The_outbox_retries_a_restarted_database_holds_placement_meanwhile_and_reports_each_row_stored_once_in_order()
    {
        var store = new FlakyStore { FailNext = 3 };
        var post = new RecordingPost();
        var outbox = new StoreOutbox(new ThrowingLeads([]), store, post.Post, TimeProvider.System) { MaxLag = TimeSpan.FromMilliseconds(50) };
        outbox.Start();
        IAttemptLog log = outbox;
        for (var i = 1; i <= 5; i++) log.Placed(CallOf(i));
        await Until(() => outbox.WriteFailures >= 1);
        Assert.False(log.Accepting);
        await Until(() => post.Stored.Count == 5);
        Assert.True(log.Accepting);
        Assert.Equal([1, 2, 3, 4, 5], store.Rows);
        Assert.Equal([1, 2, 3, 4, 5], post.Stored);
        Assert.Equal(0, await outbox.StopAsync(Bound));
    }

    [Fact]
    public async Task A_close_waits_for_the_next_attempt_row_and_commits_with_it_even_when_retried_and_a_stop_writes_the_one_still_waiting()
    {
        var store = new FlakyStore();
        var post = new RecordingPost();
        var outbox = new StoreOutbox(new ThrowingLeads([]), store, post.Post, TimeProvider.System) { Batch = store.Transaction, Linger = TimeSpan.FromMinutes(1) };
        outbox.Start();
        IAttemptLog log = outbox;
        log.Placed(CallOf(1));
        await Until(() => post.Stored.Count == 1);
        log.Finished(CallOf(1));
        await Task.Delay(50); // room for a writer that takes a transaction of its own for the close (one per close, before)
        store.FailNext = 1; // the shared transaction fails once: retried whole, in order
        log.Placed(CallOf(2));
        await Until(() => post.Stored.Count == 2);
        log.Finished(CallOf(2));
        Assert.Equal(0, await outbox.StopAsync(Bound));
        Assert.Equal(["placed 1", "closed 1, placed 2", "closed 2"], store.Transactions);
        Assert.Equal([1, 2], post.Stored);
    }

    [Fact]
    public async Task A_stalled_database_stops_new_placements_without_blocking_the_loop_and_they_resume_by_themselves()
    {
        var store = new FlakyStore { StallMs = 1500 };
        var post = new RecordingPost();
        var outbox = new StoreOutbox(new ThrowingLeads([]), store, post.Post, TimeProvider.System) { MaxLag = TimeSpan.FromMilliseconds(100) };
        outbox.Start();
        IAttemptLog log = outbox;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        log.Placed(CallOf(1));
        Assert.True(sw.ElapsedMilliseconds < 100); // the engine's call returns at once
        await Task.Delay(300);
        Assert.False(log.Accepting);
        store.StallMs = 0;
        await Until(() => post.Stored.Count == 1);
        Assert.True(log.Accepting);
        await outbox.StopAsync(Bound);
    }

    [Fact]
    public async Task A_stop_with_a_slow_database_ends_at_its_deadline_and_reports_what_is_unwritten()
    {
        var store = new FlakyStore { StallMs = 100 };
        var outbox = new StoreOutbox(new ThrowingLeads([]), store, new RecordingPost().Post, TimeProvider.System) { BatchSize = 5 };
        outbox.Start();
        IAttemptLog log = outbox;
        for (var i = 1; i <= 100; i++) log.Placed(CallOf(i)); // 10 s of writing
        var unwritten = await outbox.StopAsync(TimeSpan.FromMilliseconds(300));
        Assert.InRange(unwritten, 1, 99);
        lock (store.Rows) Assert.Equal(100 - unwritten, store.Rows.Count);
    }

    [Fact]
    public async Task The_prefetch_is_topped_up_while_writes_keep_coming()
    {
        var leads = new ThrowingLeads(Enumerable.Range(1, 100).Select(i => Make.Lead(i)));
        var outbox = new StoreOutbox(leads, new FlakyStore { StallMs = 5 }, new RecordingPost().Post, TimeProvider.System) { Prefetch = 4, BatchSize = 1 };
        ILeadSource source = outbox;
        IAttemptLog log = outbox;
        outbox.Start();
        var taken = 0;
        var until = DateTime.UtcNow + Bound;
        // Ten writes of 5 ms for every lead asked for: the write queue never empties, as at a high call rate.
        for (var id = 1000; taken < 20 && DateTime.UtcNow < until; id += 10)
        {
            for (var i = 0; i < 10; i++) log.Placed(CallOf(id + i));
            if (source.Next(Make.T0) is not null) taken++;
            await Task.Delay(2);
        }
        Assert.Equal(20, taken);
        await outbox.StopAsync(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public async Task The_outbox_prefetches_leads_off_the_loop_and_hands_them_back_at_stop()
    {
        var leads = new ThrowingLeads(Enumerable.Range(1, 10).Select(i => Make.Lead(i)));
        var outbox = new StoreOutbox(leads, new FlakyStore(), new RecordingPost().Post, TimeProvider.System) { Prefetch = 4 };
        ILeadSource source = outbox;
        Assert.Null(source.Next(Make.T0)); // nothing yet, and no blocking
        outbox.Start();
        await Until(() => outbox.Prefetched == 4);
        Assert.Equal(1, source.Next(Make.T0)!.Id);
        await outbox.StopAsync(Bound);
        Assert.Equal(0, outbox.Prefetched);
        var back = new List<long>();
        while (leads.Next(Make.T0) is { } l) back.Add(l.Id);
        Assert.Equal(9, back.Count); // the 3 prefetched went back, and 6 were never taken
    }

    [Fact]
    public async Task Leads_a_refill_took_before_the_source_failed_are_kept_in_the_prefetch_and_handed_back_at_stop()
    {
        var leads = new ThrowingLeads(Enumerable.Range(1, 10).Select(i => Make.Lead(i))) { ThrowAfter = 3 };
        var outbox = new StoreOutbox(leads, new FlakyStore(), new RecordingPost().Post, TimeProvider.System) { Prefetch = 8 };
        outbox.Start();
        await Until(() => outbox.ClaimFailures > 0);
        Assert.Equal(3, outbox.Prefetched); // taken, then the source threw: none dropped with the refill
        ILeadSource source = outbox;
        Assert.Equal(1, source.Next(Make.T0)!.Id); // best first, as if the refill had ended well
        await outbox.StopAsync(Bound);
        leads.ThrowAfter = int.MaxValue;
        var back = new List<long>();
        while (leads.Next(Make.T0) is { } l) back.Add(l.Id);
        Assert.Equal(9, back.Count); // the 2 still prefetched went back, and 7 were never taken
    }

    [Fact]
    public async Task A_refused_requirement_holds_back_only_its_own_leads_in_the_prefetch()
    {
        // The head of the order is bound to a busy senior pool (dialect regions and senior renewals, as in skill-pools):
        // the engine refuses it, and the other leads must still be reached through the outbox, best first.
        var senior = new RequirementTable().Intern([(0, 5)]);
        var leads = Enumerable.Range(1, 100).Select(i => Make.Lead(i, priority: 5)).ToList();
        foreach (var l in leads) l.Requirement = senior;
        leads.AddRange(Enumerable.Range(101, 50).Select(i => Make.Lead(i)));
        var campaign = new CampaignConfig();
        // The outbox asks for leads at 10:00 Shanghai, inside their calling window (at the machine's clock the test failed from 13:00 to 01:00 UTC).
        var outbox = new StoreOutbox(new MemoryHopper(campaign, leads, Make.T0), new FlakyStore(), new RecordingPost().Post, new AtT0()) { Campaign = campaign };
        ILeadSource source = outbox;
        outbox.Start();
        await Until(() => outbox.Prefetched > 0);
        var taken = new List<long>();
        var until = DateTime.UtcNow + Bound;
        while (taken.Count < 20 && DateTime.UtcNow < until)
        {
            if (source.Next(Make.T0, l => l.Requirement != senior) is { } lead) taken.Add(lead.Id);
            else await Task.Delay(5);
        }
        Assert.Equal(Enumerable.Range(101, 20).Select(i => (long)i), taken);
        // The senior leads kept their place: the first goes out as soon as a senior agent is free.
        Assert.Equal(1, source.Next(Make.T0, _ => true)!.Id);
        await outbox.StopAsync(Bound);
    }

    [Fact]
    public void Numbers_are_masked_but_short_ids_and_words_are_not()
    {
        Assert.Equal("call ******0123: POST /channels?endpoint=PJSIP/+*******1234@carrier-a failed (lead 42)",
            Redact.Numbers("call 1000000123: POST /channels?endpoint=PJSIP/+86138001234@carrier-a failed (lead 42)"));
        Assert.Equal("id ***** **** 0190", Redact.Numbers("id 11010 1990 0190"));
        Assert.Equal("nothing here 123456", Redact.Numbers("nothing here 123456"));
    }

    private static async Task Until(Func<bool> done)
    {
        var until = DateTime.UtcNow + Bound;
        while (!done())
        {
            if (DateTime.UtcNow > until) Assert.Fail("timed out");
            await Task.Delay(5);
        }
    }
}
