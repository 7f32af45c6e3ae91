using System.Globalization;
using Dialer.Store;

namespace Dialer.Runtime.Tests;

/// <summary>
/// An engine node in its own process for the cluster test (which kills it with SIGKILL): the same <see cref="NodeHost"/>
/// `dialer run` uses, on the given run configs, its ARI user named after the node (so the emulator can tell whose
/// hang-up was whose). Prints every node event as "event|KIND|CAMPAIGN|NODE|FROM|EPOCH|AT_MS|LEASE_AT_MS|DETAIL" (Unix ms); reads
/// "drain CAMPAIGN" and "stop" on stdin (end of input stops it too).
/// Usage: cluster-node NODE LEASE_MS CONFIG...
/// </summary>
public static class ClusterNode
{
    public static int Main(string[] args)
    {
        if (args is not ["cluster-node", var node, var leaseMs, .. var files] || files.Length == 0)
        {
            Console.Error.WriteLine("usage: cluster-node NODE LEASE_MS CONFIG...");
            return 2;
        }
        var real = Environment.GetEnvironmentVariable("DIALER_CLUSTER_ARI") is { Length: > 0 };
        var configs = files.Select(f => RunConfig.Load(f)).Select(r => r with
        {
            Node = node,
            // On real servers (DIALER_CLUSTER_ARI) each node's ARI user has its name as password (ari.conf: node-a/node-a);
            // the emulators take the config's password for every user.
            Telephony = r.Telephony with { Servers = [.. r.Telephony.Servers.Select(s => s with { User = node, Password = real ? node : s.Password })] },
        }).ToList();
        // Named after the node on PostgreSQL (application_name), so the test's write log can tell whose write each row was.
        using var db = StoreDb.Open(configs[0].Db + ";Application Name=" + node);
        var options = new NodeOptions { Lease = TimeSpan.FromMilliseconds(int.Parse(leaseMs, CultureInfo.InvariantCulture)), ConnectTimeout = TimeSpan.FromSeconds(30) };
        var host = new NodeHost(db, configs[0].Pii(), node, configs, options, line => Console.WriteLine("log|" + line));
        host.Changed += e => Console.WriteLine(string.Join('|', "event", e.Kind, e.Campaign, e.Node, e.TakenFrom ?? "",
            e.Epoch.ToString(CultureInfo.InvariantCulture), Ms(e.At), Ms(e.LeaseAt ?? e.At), e.Detail));
        host.Start();
        while (Console.ReadLine() is { } line && line != "stop")
            if (line.StartsWith("drain ", StringComparison.Ordinal))
            {
                var campaign = line["drain ".Length..];
                var done = host.DrainAsync(campaign, TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
                Console.WriteLine($"drained|{campaign}|{done}");
            }
        host.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Console.WriteLine("stopped");
        return 0;
    }

    private static string Ms(DateTime t) => new DateTimeOffset(t).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
}
