using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;

namespace Dialer.Runtime.Tests;

/// <summary>
/// A `dotnet` child process a test kills with SIGKILL (an engine node, `dialer run`): every line it prints is kept, tagged
/// with its name, in <paramref name="lines"/> (stderr's prefixed "stderr|"); stdin is open for commands.
/// </summary>
internal static class ChildProcess
{
    /// <summary>The `dialer` program, built beside this project (Dialer.Runtime.Tests.csproj builds it first).</summary>
    public static string DialerDll => typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "DialerCli").Value!;

    /// <summary>
    /// Starts `dotnet args`; with <paramref name="sigintIgnored"/> as a script's background job is started (`… &amp;`: the shell
    /// sets SIGINT to ignored and exec keeps it so).
    /// </summary>
    public static Process Dotnet(string name, IEnumerable<string> args, ConcurrentQueue<(string Name, string Line)> lines, bool sigintIgnored = false)
    {
        var psi = new ProcessStartInfo(sigintIgnored ? "/bin/sh" : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        if (sigintIgnored) foreach (var a in (string[])["-c", "trap '' INT; exec dotnet \"$@\"", "sh"]) psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data is { } l) lines.Enqueue((name, l)); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lines.Enqueue((name, "stderr|" + l)); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }
}
