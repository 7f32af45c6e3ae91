using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Dialer.Bench;

/// <summary>
/// One cold run in this process: a job of a minute or more needs no statistics, and skips a second build. The in-process
/// toolchain's default time-out (5 min) ended Train1M on the shared machine before training finished (1 min 16 s of CPU
/// in 5 min of wall at load 34-47), so a run may take up to an hour; the CPU time it prints is the figure to read.
/// </summary>
internal sealed class OnceInProcess : ManualConfig
{
    public OnceInProcess() => AddJob(Job.Dry.WithToolchain(new InProcessEmitToolchain(TimeSpan.FromHours(1), logOutput: true)));
}
