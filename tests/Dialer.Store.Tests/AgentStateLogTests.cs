using Dialer.Core.Domain;

namespace Dialer.Store.Tests;

/// <summary>The agent states writer's failure model, with a store that refuses writes on cue.</summary>
public sealed class AgentStateLogTests
{
    private static Agent Agent(int i) => new() { Index = i, Id = $"a{i}", Skills = new SkillSet() };

    /// <summary>Records what it stored; while <see cref="Down"/>, refuses every write as a database that is down would.</summary>
    private sealed class FlakyStore
    {
        public volatile bool Down;
        public int Refused;
        public readonly List<string> Stored = [];

        public void Write(IReadOnlyCollection<AgentStateRow> rows)
        {
            if (Down) { Interlocked.Increment(ref Refused); throw new TimeoutException("store down"); }
            lock (Stored) Stored.AddRange(rows.Select(r => r.Agent));
        }
    }

    [Fact]
    public async Task Changes_made_while_the_store_is_down_wait_and_are_stored_in_order_when_it_is_back()
    {
        var store = new FlakyStore { Down = true };
        var log = new List<string>();
        var states = new AgentStateLog(store.Write, m => { lock (log) log.Add(m); });
        var record = states.For(7);
        for (var i = 0; i < 2_500; i++) record(Agent(i));
        var until = DateTime.UtcNow.AddSeconds(30);
        while (Volatile.Read(ref store.Refused) < 3 && DateTime.UtcNow < until) await Task.Delay(10);
        Assert.True(store.Refused >= 3, "the writer did not retry");
        store.Down = false;
        await states.StopAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(Enumerable.Range(0, 2_500).Select(i => $"a{i}"), store.Stored); // nothing lost, nothing reordered
        Assert.Equal(2_500, states.Stored);
        Assert.Equal(0, states.Lost);
        Assert.Equal(2, log.Count); // one line when the store first refused, one when it took them again
    }

    [Fact]
    public async Task A_full_queue_drops_new_changes_and_counts_them_and_a_stop_gives_up_on_a_store_still_down()
    {
        var store = new FlakyStore { Down = true };
        var states = new AgentStateLog(store.Write, _ => { });
        var record = states.For(7);
        var made = AgentStateLog.Capacity + 5_000;
        for (var i = 0; i < made; i++) record(Agent(i));
        await states.StopAsync(TimeSpan.FromMilliseconds(200));

        Assert.Empty(store.Stored);
        Assert.Equal(0, states.Stored);
        Assert.Equal(made, states.Lost); // the ones dropped at once and the ones still queued at the stop
    }
}
