using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Dialer.Ari.Client;

namespace Dialer.Bench;

/// <summary>
/// The ARI read path on real captured events (shared/ari-fixtures): parse each WebSocket message and dispatch
/// on its type, as the client's reader and dispatcher do. One invocation handles all 313 captured events:
/// events/s = 313 / mean time.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class AriBenchmarks
{
    private byte[][] _messages = [];
    private readonly long[] _byType = new long[Enum.GetValues<AriEventType>().Length];

    [GlobalSetup]
    public void Setup()
    {
        var dir = FixtureDir();
        _messages = Directory.EnumerateFiles(dir, "*.jsonl").Order(StringComparer.Ordinal)
            .SelectMany(File.ReadLines)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(r => r.GetProperty("kind").GetString() == "event")
            .Select(r => Encoding.UTF8.GetBytes(r.GetProperty("event").GetRawText()))
            .ToArray();
    }

    [Benchmark(Description = "parse + dispatch, all captured events")]
    public long ParseAndDispatch()
    {
        long handled = 0;
        foreach (var m in _messages)
        {
            var e = AriEventParser.Parse(m);
            if (e is null) continue;
            _byType[(int)e.Type]++;
            handled += e.Type switch
            {
                AriEventType.ChannelDestroyed => e.Cause ?? 0,
                AriEventType.ChannelStateChange => (int)e.Channel!.State,
                AriEventType.StasisStart => e.Args?.Length ?? 0,
                AriEventType.Dial => (int)e.DialStatus,
                _ => 1,
            };
        }
        return handled;
    }

    private static string FixtureDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Dialer.sln")))
                return Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "ari-fixtures"));
        throw new DirectoryNotFoundException("repository root (Dialer.sln) not found above " + AppContext.BaseDirectory);
    }
}
