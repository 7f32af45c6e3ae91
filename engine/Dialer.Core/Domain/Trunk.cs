namespace Dialer.Core.Domain;

/// <summary>A SIP trunk to a carrier: how many channels, how fast we may originate, what a minute costs by prefix.</summary>
public sealed class TrunkConfig
{
    public required string Name { get; init; }
    /// <summary>Concurrent channels the carrier allows.</summary>
    public required int Channels { get; init; }
    /// <summary>Call originations per second the carrier allows.</summary>
    public required double CallsPerSecond { get; init; }
    /// <summary>Cost per minute by E.164 prefix ("+86", "+8610"); the longest match wins. A number with no match cannot use this trunk.</summary>
    public required IReadOnlyDictionary<string, double> RatePerMinute { get; init; }
    /// <summary>Asterisk endpoint prefix, e.g. "PJSIP/carrier-a/" (used by the ARI driver).</summary>
    public string? Endpoint { get; init; }
}
