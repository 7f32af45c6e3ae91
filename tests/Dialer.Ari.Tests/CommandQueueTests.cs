using Dialer.Ari.Driver;

namespace Dialer.Ari.Tests;

public class CommandQueueTests
{
    [Fact]
    public async Task A_calls_commands_run_in_order_each_after_the_one_before_has_completed()
    {
        var call = new Gated(3);
        call.Enqueue(0); // held open: the caller is back while it runs
        call.Enqueue(1);
        await call.Started[0].Task;
        Assert.False(call.Started[1].Task.IsCompleted); // waits for the first to complete
        call.Enqueue(2);
        call.Release[0].SetResult();
        await call.Started[1].Task;
        Assert.False(call.Started[2].Task.IsCompleted);
        call.Release[1].SetResult();
        call.Release[2].SetResult();
        await call.Started[2].Task;
        Assert.Equal([0, 1, 2], call.Order);
    }

    [Fact]
    public async Task A_call_held_by_a_slow_command_does_not_hold_another()
    {
        var slow = new Gated(1);
        var other = new Gated(1);
        slow.Enqueue(0);
        await slow.Started[0].Task;
        other.Release[0].SetResult();
        other.Enqueue(0);
        await other.Started[0].Task;
        slow.Release[0].SetResult();
    }

    [Fact]
    public async Task Commands_queued_after_the_queue_ran_dry_run_too()
    {
        var call = new Gated(40);
        for (var i = 0; i < 40; i++) call.Release[i].SetResult();
        for (var i = 0; i < 40; i++)
        {
            call.Enqueue(i);
            if (i % 3 == 0) await call.Started[i].Task; // now and then the queue is empty when the next comes
        }
        await Task.WhenAll(call.Started.Select(s => s.Task));
        Assert.Equal(Enumerable.Range(0, 40), call.Order);
    }

    /// <summary>Command i says it started, then waits for Release[i].</summary>
    private sealed class Gated : CommandQueue<int>
    {
        public Gated(int commands)
        {
            Started = Enumerable.Range(0, commands).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
            Release = Enumerable.Range(0, commands).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        }

        public TaskCompletionSource[] Started { get; }
        public TaskCompletionSource[] Release { get; }
        public List<int> Order { get; } = [];

        protected override async Task RunAsync(int command)
        {
            lock (Order) Order.Add(command);
            Started[command].SetResult();
            await Release[command].Task;
        }
    }
}
