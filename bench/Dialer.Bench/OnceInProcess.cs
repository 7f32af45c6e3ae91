using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Dialer.Bench;

/// <summary>One cold run in this process: a job of a minute or more needs no statistics, and skips a second build.</summary>
internal sealed class OnceInProcess : ManualConfig
{
    public OnceInProcess() => AddJob(Job.Dry.WithToolchain(InProcessEmitToolchain.Instance));
}
