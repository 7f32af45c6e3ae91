using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Dialer.RealAsterisk.Tests;

/// <summary>One SIP message from a sipp peer's <c>-trace_msg</c> log: when, which way, and its text.</summary>
internal sealed record SipMessage(DateTime At, bool Sent, string StartLine, string Text)
{
    public string? Header(string name) =>
        Regex.Match(Text, $@"^{Regex.Escape(name)}:\s*([^\n]*)", RegexOptions.Multiline | RegexOptions.IgnoreCase) is { Success: true } m ? m.Groups[1].Value.Trim() : null;

    public string CallId => Header("Call-ID") ?? "";
    public bool IsRequest(string method) => StartLine.StartsWith(method + " ", StringComparison.Ordinal);
    public bool IsResponse(int code, string method) => StartLine.StartsWith($"SIP/2.0 {code} ", StringComparison.Ordinal) && (Header("CSeq")?.EndsWith(" " + method, StringComparison.Ordinal) ?? false);
    /// <summary>The number of an INVITE's Request-URI (sip:NUMBER@…).</summary>
    public string? Number => Regex.Match(StartLine, "^INVITE sip:([^@;>]+)@") is { Success: true } m ? m.Groups[1].Value : null;
}

/// <summary>Reads what a sipp peer (carrier-a, phone5081…) logged in DIALER_SIPP_LOGS since a mark.</summary>
internal static class SippLog
{
    private static readonly Regex Entry = new(@"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n(UDP message (sent|received)[^\n]*)\n\n", RegexOptions.Multiline);

    private static string PathOf(string peer) => System.IO.Path.Combine(Lab.SippLogs!, peer + ".msg.log");

    /// <summary>Where the peer's log ends now: read from here to see only what comes next.</summary>
    public static long Mark(string peer) => File.Exists(PathOf(peer)) ? new FileInfo(PathOf(peer)).Length : 0;

    /// <summary>The messages logged since <paramref name="mark"/> (the whole log if the peer was restarted and its log began again).</summary>
    public static List<SipMessage> Read(string peer, long mark = 0)
    {
        var path = PathOf(peer);
        if (!File.Exists(path)) return [];
        string text;
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            if (mark <= f.Length) f.Seek(mark, SeekOrigin.Begin);
            text = new StreamReader(f).ReadToEnd();
        }
        var found = Entry.Matches(text);
        var list = new List<SipMessage>(found.Count);
        for (var i = 0; i < found.Count; i++)
        {
            var m = found[i];
            var end = i + 1 < found.Count ? found[i + 1].Index : text.Length;
            var body = text[(m.Index + m.Length)..end];
            var at = DateTime.ParseExact(m.Groups[1].Value, "yyyy-MM-dd HH:mm:ss.FFFFFF", CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal).ToUniversalTime();
            list.Add(new SipMessage(at, m.Groups[3].Value == "sent", body.Split('\n', 2)[0].TrimEnd('\r'), body));
        }
        return list;
    }
}

/// <summary>
/// A phone that the suite runs itself: an agent's, which dials 500 as that agent (digest auth, password = user name as in
/// the lab), or a callee's, which answers one call; either plays the given keys (RFC 4733, pcaps it writes itself) and
/// hangs up or waits to be hung up. Killed, by its own process id, when disposed.
/// </summary>
internal sealed class SippPhone : IDisposable
{
    private readonly Process _sipp;
    private readonly string _dir;
    public string MessageLog { get; }
    /// <summary>The SIP port a callee's phone answers on (0 for an agent's, which calls out).</summary>
    public int Port { get; }

    private SippPhone(Process sipp, string dir, int port)
    {
        _sipp = sipp;
        _dir = dir;
        Port = port;
        MessageLog = System.IO.Path.Combine(dir, "phone.msg.log");
    }

    /// <param name="keys">(pause before, key) in order: the key is sent that many milliseconds after the one before (the first: after the answer).</param>
    /// <param name="holdAfterMs">How long the phone stays on after the last key before it hangs up.</param>
    public static SippPhone DialIn(string agent, IEnumerable<(int PauseMs, string Key)> keys, int holdAfterMs) =>
        Start("agent-keys.xml", keys, $"<pause milliseconds=\"{holdAfterMs}\"/>", 0, [$"127.0.0.1:{Lab.SipPort}", "-s", agent, "-au", agent, "-ap", agent, "-p", "0"]);

    /// <summary>A callee on 127.0.0.1:<see cref="Port"/> that answers the one call it gets, presses the keys after the answer and waits for the hang-up.</summary>
    public static SippPhone Answer(IEnumerable<(int PauseMs, string Key)> keys)
    {
        var port = FreeUdpPort();
        return Start("survey-callee.xml", keys, "", port, ["-p", port.ToString(CultureInfo.InvariantCulture)]);
    }

    private static SippPhone Start(string template, IEnumerable<(int PauseMs, string Key)> keys, string after, int port, IEnumerable<string> peerArgs)
    {
        var dir = Directory.CreateTempSubdirectory("dialer-phone-").FullName;
        var steps = string.Concat(keys.Select((k, i) =>
                    {
                        var pcap = System.IO.Path.Combine(dir, $"key{i}.pcap");
                        WriteKey(pcap, k.Key, i);
                        return $"<pause milliseconds=\"{k.PauseMs}\"/><nop><action><exec play_pcap_audio=\"{pcap}\"/></action></nop>\n";
                    })) + after;
        var text = File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, "sipp", template));
        var scenario = System.IO.Path.Combine(dir, template);
        File.WriteAllText(scenario, text.Replace("KEYS", steps, StringComparison.Ordinal));
        var args = new List<string>(peerArgs)
        {
            "-sf", scenario, "-i", "127.0.0.1",
            "-mi", "127.0.0.1", "-mp", FreeUdpPort().ToString(CultureInfo.InvariantCulture), "-cp", FreeUdpPort().ToString(CultureInfo.InvariantCulture),
            "-m", "1", "-nostdin", "-timeout", "90s", "-trace_msg", "-message_file", System.IO.Path.Combine(dir, "phone.msg.log"),
        };
        var sipp = Process.Start(new ProcessStartInfo(Lab.Sipp!, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir })!;
        _ = sipp.StandardOutput.ReadToEndAsync(); // never let a full pipe stall it
        _ = sipp.StandardError.ReadToEndAsync();
        return new SippPhone(sipp, dir, port);
    }

    /// <summary>
    /// One key as RFC 4733 packets (payload 101, 20 ms apart, three end packets), in a pcap for sipp's play_pcap_audio.
    /// Each key of a call gets its own RTP timestamp and sequence numbers: Asterisk drops an event that repeats the last
    /// one's timestamp (the lab: with sipp's stock dtmf_2833_*.pcap every key after the first was lost once 2 s apart).
    /// </summary>
    private static void WriteKey(string path, string key, int nth)
    {
        var code = key switch { "*" => 10, "#" => 11, _ when key.Length == 1 && char.IsAsciiDigit(key[0]) => key[0] - '0', _ => throw new ArgumentException($"no RFC 4733 code for key '{key}'") };
        using var f = new BinaryWriter(File.Create(path));
        f.Write(0xa1b2c3d4u); f.Write((ushort)2); f.Write((ushort)4); f.Write(0); f.Write(0u); f.Write(65535u); f.Write(1u); // pcap header, Ethernet
        var timestamp = (uint)(80_000 * (nth + 1));
        for (var i = 0; i < 10; i++)
        {
            var end = i >= 7;
            var rtp = new byte[16];
            rtp[0] = 0x80;
            rtp[1] = (byte)(101 | (i == 0 ? 0x80 : 0));
            Put(rtp, 2, (ushort)(100 * (nth + 1) + i));
            Put(rtp, 4, timestamp);
            Put(rtp, 8, 0x5eed0001u);
            rtp[12] = (byte)code;
            rtp[13] = (byte)((end ? 0x80 : 0) | 10); // end bit, volume -10 dBm0
            Put(rtp, 14, (ushort)(160 * (Math.Min(i, 6) + 1))); // duration in 8 kHz samples
            var packet = new byte[14 + 20 + 8 + rtp.Length];
            packet[12] = 0x08; // IPv4
            packet[14] = 0x45; Put(packet, 16, (ushort)(20 + 8 + rtp.Length)); packet[22] = 64; packet[23] = 17; // UDP
            packet[26] = 127; packet[29] = 1; packet[30] = 127; packet[33] = 1;
            Put(packet, 34, (ushort)40000); Put(packet, 36, (ushort)40002); Put(packet, 38, (ushort)(8 + rtp.Length));
            rtp.CopyTo(packet, 42);
            f.Write((uint)0); f.Write((uint)(i * 20_000)); f.Write((uint)packet.Length); f.Write((uint)packet.Length);
            f.Write(packet);
        }
    }

    private static void Put(byte[] b, int at, ushort v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), v);
    private static void Put(byte[] b, int at, uint v) => System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), v);

    public bool Exited => _sipp.HasExited;
    public int ExitCode => _sipp.ExitCode;

    public async Task<bool> WaitExit(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await _sipp.WaitForExitAsync(cts.Token); return true; }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>The phone's SIP messages (what it sent and received).</summary>
    public string Messages() => File.Exists(MessageLog) ? File.ReadAllText(MessageLog) : "";

    // sipp takes two ports (media pair and control): ask the kernel for free ones rather than guess.
    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)s.LocalEndPoint!).Port;
        return port % 2 == 0 && port < 65000 ? port : port + 1; // RTP on an even port, RTCP on the next
    }

    public void Dispose()
    {
        if (!_sipp.HasExited) _sipp.Kill();
        _sipp.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { } // a log still open: the temp folder is cleaned by the system
    }
}
