using Dialer.Core.Domain;

namespace Dialer.Ari.Client;

/// <summary>How to reach one Asterisk server's ARI. Several servers: one options object (and one <see cref="AriClient"/>) each.</summary>
public sealed record AriServerOptions
{
    /// <summary>Our name for this Asterisk; every channel/bridge key the client hands out carries it.</summary>
    public required string Id { get; init; }
    /// <summary>ARI base, e.g. http://127.0.0.1:8088/ari/ (http.conf bindaddr/bindport + "/ari/").</summary>
    public required Uri BaseUri { get; init; }
    public required string User { get; init; }
    public required string Password { get; init; }
    /// <summary>
    /// The Stasis application this client registers and puts its channels in. Asterisk gives an app one WebSocket (a second
    /// connection replaces the first), so every campaign engine has its own: <see cref="ForCampaign"/>. The dialplan sends calls
    /// back to it by name (extensions.conf: DIALER_APP, DIALER_AGENT_APP_{agent}) and falls back to <c>dialer</c>.
    /// </summary>
    public string App { get; init; } = DefaultApp;

    /// <summary>The app the dialplan falls back to, and the prefix of every campaign's app unless ari.app says otherwise.</summary>
    public const string DefaultApp = "dialer";

    /// <summary>
    /// One campaign engine's options: app <c>{App}-{campaign}</c>. The campaign, not the node: a campaign has one owner at a time,
    /// and the node that takes it over registers the same app, so the calls the dead owner left in Stasis send their events to it.
    /// </summary>
    public AriServerOptions ForCampaign(ChannelOwner owner) => this with { App = $"{App}-{owner.CampaignToken}" };

    /// <summary>Why <paramref name="prefix"/> cannot name apps (null: it can): it goes into URLs and into Stasis(APP,…) in the dialplan.</summary>
    public static string? AppPrefixError(string prefix) =>
        prefix.Length is 0 or > 40 || !prefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? $"\"{prefix}\" cannot name a Stasis app: 1 to 40 of the letters a-z, A-Z, digits, '-', '_' and '.'"
            : null;
    /// <summary>
    /// Receive events for every channel, bridge and endpoint on the box, not only the app's own (36–44 per call on a real
    /// Asterisk; its per-app task queue overflowed at 20 calls/s). Off: the app hears its own channels and bridges (the
    /// driver polls its trunks' endpoint states: a subscription to an endpoint repeats every event of its calls).
    /// </summary>
    public bool SubscribeAll { get; init; }
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>Retries of a request that got no response or a 502/503/504. Safe because every id is ours (a repeated create gets 409).</summary>
    public int MaxRetries { get; init; } = 2;
    /// <summary>
    /// Keep-alive connections to Asterisk, and requests in flight at most (each call needs 2–4: originate, continue, bridge or
    /// hang-up; a loaded Asterisk takes 100s of ms for each). Asterisk serves each in its own thread (http.conf sessionlimit);
    /// its listen backlog is 10, so more than that opened at once may wait a SYN retry (1 s) the first time.
    /// </summary>
    public int MaxConnections { get; init; } = 16;
    public TimeSpan ReconnectMin { get; init; } = TimeSpan.FromMilliseconds(100);
    public TimeSpan ReconnectMax { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>WebSocket ping period; a dead TCP connection is noticed within about twice this.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Events parsed but not yet handled. When full, new events are dropped, counted, and a reconciliation runs.</summary>
    public int EventQueueCapacity { get; init; } = 65_536;
}
