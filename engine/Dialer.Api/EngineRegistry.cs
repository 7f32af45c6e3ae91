using System.Collections.Concurrent;
using Dialer.Core.Domain;
using Dialer.Core.Hosting;

namespace Dialer.Api;

/// <summary>
/// The engines running in this process, by campaign name: the API posts agent events to them and reads their
/// live stats. Engines come from two places: whoever runs one itself attaches its <see cref="EngineHost"/>, and with
/// a <see cref="Launcher"/> (`dialer serve --run-config`) the API starts and stops them on the campaign's start/stop.
/// </summary>
public sealed class EngineRegistry(IEngineLauncher? launcher = null)
{
    private readonly ConcurrentDictionary<string, EngineHost> _hosts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IRunningEngine> _started = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(1, 1); // one start or stop at a time: two starts must not make two engines

    public IEngineLauncher? Launcher => launcher;

    /// <summary>An engine here faulted (or stopped by itself): campaign, status, why. The API tells the event stream.</summary>
    public event Action<string, EngineStatus, string?>? StatusChanged;

    public void Attach(string campaign, EngineHost host)
    {
        _hosts[campaign] = host;
        host.StatusChanged += (status, why) => StatusChanged?.Invoke(campaign, status, why);
    }
    public EngineHost? Find(string campaign) => _hosts.GetValueOrDefault(campaign);
    /// <summary>The engine this registry started for the campaign (not one attached by its runner), for its telephony links.</summary>
    public IRunningEngine? Started(string campaign) => _started.GetValueOrDefault(campaign);
    public IEnumerable<KeyValuePair<string, EngineHost>> All => _hosts;

    /// <summary>Starts the campaign's engine through the launcher unless one runs here already; false when there is nothing to do.</summary>
    public async Task<bool> StartAsync(string campaign, Action<Call, bool> attemptWritten, CancellationToken ct)
    {
        if (launcher is null) return false;
        await _gate.WaitAsync(ct);
        try
        {
            if (_hosts.ContainsKey(campaign)) return false;
            var run = await launcher.StartAsync(campaign, attemptWritten, ct);
            _started[campaign] = run;
            Attach(campaign, run.Host);
            return true;
        }
        finally { _gate.Release(); }
    }

    /// <summary>Stops an engine this registry started: no more calls, every call and agent line hung up. False if none ran.</summary>
    public async Task<bool> StopAsync(string campaign)
    {
        await _gate.WaitAsync();
        try
        {
            if (!_started.TryRemove(campaign, out var run)) return false;
            _hosts.TryRemove(campaign, out _);
            await run.DisposeAsync();
            return true;
        }
        finally { _gate.Release(); }
    }

    /// <summary>At shutdown: every engine started here stops, then the launcher (serve's node: its lease renewals).</summary>
    public async Task StopAllAsync()
    {
        foreach (var name in _started.Keys.ToList()) await StopAsync(name);
        if (launcher is IAsyncDisposable d) await d.DisposeAsync();
    }
}
