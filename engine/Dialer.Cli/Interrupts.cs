using System.Runtime.InteropServices;

namespace Dialer.Cli;

/// <summary>
/// Ctrl+C / SIGINT stops every command, however the process was started. A shell starts a background job (`dialer run … &`
/// from a script) with SIGINT ignored, .NET then leaves it ignored (Console.CancelKeyPress and PosixSignalRegistration
/// never fire), and `kill -INT` did nothing: the node went on dialing. The inherited "ignore" is reset before the runtime's
/// signal handling starts, so SIGINT is the same clean stop as SIGTERM.
/// </summary>
internal static class Interrupts
{
    private const int SigInt = 2; // the same number on Linux and macOS
    private const nint SigDfl = 0;

    /// <summary>Call first in Main, before anything touches the console.</summary>
    public static void Take()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()) _ = Signal(SigInt, SigDfl);
    }

    // DllImport: blittable arguments need no marshalling code (LibraryImport would need unsafe code for nothing).
    [DllImport("libc", EntryPoint = "signal")]
    private static extern nint Signal(int signal, nint handler);
}
