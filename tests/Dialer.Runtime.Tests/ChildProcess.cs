using System.Collections.Concurrent;
using System.Diagnostics;

namespace Dialer.Runtime.Tests;

/// <summary>
/// A `dotnet` child process a test kills with SIGKILL (an engine node, `dialer run`): every line it prints is kept, tagged
/// with its name, in <paramref name="lines"/> (stderr's prefixed "stderr|"); stdin is open for commands.
/// </summary>
internal static class ChildProcess
{
    public static Process Dotnet(string name, IEnumerable<string> args, ConcurrentQueue<(string Name, string Line)> lines)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is { } l) lines.Enqueue((name, l)); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lines.Enqueue((name, "stderr|" + l)); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }
}
