using BenchmarkDotNet.Attributes;
using Dialer.Ari.Driver;

namespace Dialer.Bench;

/// <summary>
/// Issue 9: what a REST command costs the engine loop when the ARI driver queues it on its call (<see cref="CommandQueue{T}"/>),
/// and that queuing it, and the pool thread's running it, allocate nothing. Each invocation queues one command on each of
/// <see cref="Calls"/> calls and waits until the pool has run them all; the commands do nothing (the REST request is not measured).
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*CommandQueue*'
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class CommandQueueBenchmarks
{
    private const int Calls = 1024;
    private Counted[] _calls = [];
    private int _ran;

    [GlobalSetup]
    public void Setup() => _calls = Enumerable.Range(0, Calls).Select(_ => new Counted(this)).ToArray();

    [Benchmark(OperationsPerInvoke = Calls, Description = "queue one command per call, pool runs it")]
    public void QueueAndRun()
    {
        Volatile.Write(ref _ran, 0);
        foreach (var call in _calls) call.Enqueue(1);
        while (Volatile.Read(ref _ran) < Calls) Thread.SpinWait(20);
    }

    private sealed class Counted(CommandQueueBenchmarks bench) : CommandQueue<int>
    {
        protected override Task RunAsync(int command)
        {
            Interlocked.Add(ref bench._ran, command);
            return Task.CompletedTask;
        }
    }
}
