using Dialer.Core.Domain;

namespace Dialer.Core.Hosting;

/// <summary>
/// Starts a campaign's engine in this process with whatever telephony and store the program was given (the CLI
/// injects the ARI one into `dialer serve`), so the API can start and stop engines without knowing how they dial.
/// </summary>
public interface IEngineLauncher
{
    /// <summary>
    /// Starts dialing <paramref name="campaign"/>: returns once the engine runs. <paramref name="attemptWritten"/> hears of
    /// each attempt after it is stored: placed (false) and ended (true).
    /// </summary>
    Task<IRunningEngine> StartAsync(string campaign, Action<Call, bool> attemptWritten, CancellationToken ct);
}

/// <summary>A campaign's engine while it runs. Disposing it stops dialing and hangs up every call and agent line.</summary>
public interface IRunningEngine : IAsyncDisposable
{
    EngineHost Host { get; }

    /// <summary>The telephony servers this engine talks to, read from any thread (metrics); none for an engine without any.</summary>
    IReadOnlyList<TelephonyLink> Links => [];

    /// <summary>The store outbox the engine writes attempts through (its depth is read by /metrics and the alert rules); null without one.</summary>
    StoreOutbox? Outbox => null;

    /// <summary>
    /// Trunk <paramref name="trunk"/>'s media quality as the telephony last measured it, read from any thread (the
    /// dashboard feed samples it once a second and stores it per minute); unmeasured for an engine without telephony.
    /// </summary>
    TrunkMedia Media(int trunk) => TrunkMedia.Unmeasured;
}

/// <summary>A trunk's media quality: smoothed RTCP round trip (ms) and packet-loss share (0–1); NaN for what was not measured yet.</summary>
public readonly record struct TrunkMedia(double RttMs, double Loss)
{
    public static readonly TrunkMedia Unmeasured = new(double.NaN, double.NaN);
}

/// <summary>One telephony server's connection as the engine sees it: up now, and how many times it connected (1 + reconnects).</summary>
public readonly record struct TelephonyLink(string Server, bool Connected, long Connects);
