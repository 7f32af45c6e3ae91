using System.Collections.Concurrent;
using Dialer.Core.Hosting;

namespace Dialer.Api;

/// <summary>
/// The engines running in this process, by campaign name: the API posts agent events to them and reads their
/// live stats. Whoever starts an engine (e.g. `dialer run`) attaches its <see cref="EngineHost"/> here.
/// </summary>
public sealed class EngineRegistry
{
    private readonly ConcurrentDictionary<string, EngineHost> _hosts = new(StringComparer.Ordinal);

    public void Attach(string campaign, EngineHost host) => _hosts[campaign] = host;
    public EngineHost? Find(string campaign) => _hosts.GetValueOrDefault(campaign);
    public IEnumerable<KeyValuePair<string, EngineHost>> All => _hosts;
}
