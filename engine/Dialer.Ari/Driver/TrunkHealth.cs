using System.Globalization;

namespace Dialer.Ari.Driver;

public enum BreakerState : byte { Closed, Open, HalfOpen }

/// <summary>
/// Per-trunk circuit breaker fed by call results and media quality. Closed: the router may pick the trunk.
/// Open after <see cref="AriDriverOptions.BreakerFailures"/> network failures in a row that are also at least half
/// of its recent calls (or a round trip or loss above <see cref="AriDriverOptions.MaxRttMs"/>,
/// <see cref="AriDriverOptions.MaxLoss"/>): the router skips it. An endpoint that is offline is not a breaker matter
/// (it is out while offline and back the moment it is reachable: see AriDriver.Health). After a cool-down it is half-open: calls may
/// go again as recovery probes; the first result closes it, or opens it again with a doubled cool-down.
/// Thread-safe (one lock): results come from every server's event loop.
/// </summary>
public sealed class TrunkHealth(int trunks, AriDriverOptions options)
{
    private readonly Lock _gate = new();
    private readonly Trunk[] _t = Enumerable.Range(0, trunks).Select(_ => new Trunk(options.BreakerCooldown)).ToArray();

    public BreakerState State(int trunk) { lock (_gate) return _t[trunk].State; }
    public double RttMs(int trunk) { lock (_gate) return _t[trunk].RttMs; }
    public long Failures(int trunk) { lock (_gate) return _t[trunk].TotalFailures; }

    public void OnPlaced(int trunk, DateTimeOffset now)
    {
        lock (_gate) _t[trunk].Placed(now);
    }

    /// <summary>A call on the trunk ended; returns the new availability when it changed.</summary>
    public bool? OnCall(int trunk, bool networkFailure, DateTimeOffset now)
    {
        lock (_gate)
        {
            var t = _t[trunk];
            t.Remember(networkFailure, now);
            if (!networkFailure)
            {
                t.Consecutive = 0;
                if (t.State == BreakerState.HalfOpen) return Close(t);
                return null;
            }
            t.TotalFailures++;
            t.Consecutive++;
            if (t.State == BreakerState.HalfOpen) return Open(t, now, t.Cooldown * 2);
            // A run of failures alone trips a busy trunk by chance (10 % congestion gives 3 in a row every ~1000 calls): the share must be high too.
            return t.State == BreakerState.Closed && t.Consecutive >= options.BreakerFailures && t.RecentFailureShare >= 0.5
                ? Open(t, now, options.BreakerCooldown) : null;
        }
    }

    /// <summary>
    /// A fresh RTCP reading of a call up on the trunk: round trip (when the far end reported one) and loss count against
    /// the limits and may open the breaker. It never closes one: it tells how calls already up sound, not whether new
    /// calls get through (a dead carrier's last call still reads 0 ms).
    /// </summary>
    public bool? OnMedia(int trunk, RtcpSummary media, DateTimeOffset now)
    {
        lock (_gate)
        {
            var t = _t[trunk];
            if (media.HasRtt) Smooth(t, media.RttMs);
            t.Loss = double.IsNaN(t.Loss) ? media.Loss : 0.7 * t.Loss + 0.3 * media.Loss;
            var bad = t.Loss > options.MaxLoss || t.RttMs > options.MaxRttMs;
            return bad && t.State == BreakerState.Closed ? Open(t, now, options.BreakerCooldown) : null;
        }
    }

    private static void Smooth(Trunk t, double rttMs) => t.RttMs = double.IsNaN(t.RttMs) ? rttMs : 0.7 * t.RttMs + 0.3 * rttMs;

    public double Loss(int trunk) { lock (_gate) return _t[trunk].Loss; }

    /// <summary>Trunks whose cool-down is over become half-open (available for probe calls).</summary>
    public IEnumerable<int> DueForProbe(DateTimeOffset now)
    {
        lock (_gate)
        {
            var due = new List<int>();
            for (var i = 0; i < _t.Length; i++)
                if (_t[i].State == BreakerState.Open && now - _t[i].OpenedAt >= _t[i].Cooldown)
                {
                    _t[i].State = BreakerState.HalfOpen;
                    due.Add(i);
                }
            return due;
        }
    }

    private static bool Open(Trunk t, DateTimeOffset now, TimeSpan cooldown)
    {
        t.State = BreakerState.Open;
        t.OpenedAt = now;
        t.Cooldown = cooldown < TimeSpan.FromMinutes(10) ? cooldown : TimeSpan.FromMinutes(10);
        return false;
    }

    private bool Close(Trunk t)
    {
        t.State = BreakerState.Closed;
        t.Consecutive = 0;
        t.Cooldown = options.BreakerCooldown;
        return true;
    }

    /// <summary>Q.850 causes that blame the network or carrier rather than the callee (DESIGN.md).</summary>
    public static bool IsNetworkFailure(int cause) => cause is 0 or 27 or 34 or 38 or 41 or 42 or 44 or 102;

    private sealed class Trunk(TimeSpan cooldown)
    {
        public BreakerState State;
        public int Consecutive;
        public long TotalFailures;
        public DateTimeOffset OpenedAt;
        public TimeSpan Cooldown = cooldown;
        public double RttMs = double.NaN;
        public double Loss = double.NaN;
        // Network failures per call placed over the last few seconds (both decay with a 2 s time constant). Per placed
        // call, not per finished call: failures finish in milliseconds and answers in seconds, so a share of finished
        // calls would overstate them right after a burst of placements.
        private double _placed, _failed;
        private DateTimeOffset _at;

        public double RecentFailureShare => _placed <= 0 ? 0 : Math.Min(1, _failed / _placed);

        public void Placed(DateTimeOffset now)
        {
            Decay(now);
            _placed += 1;
        }

        public void Remember(bool failure, DateTimeOffset now)
        {
            Decay(now);
            if (failure) _failed += 1;
        }

        private void Decay(DateTimeOffset now)
        {
            var f = Math.Exp(-Math.Max(0, (now - _at).TotalSeconds) / 2.0);
            _placed *= f;
            _failed *= f;
            _at = now;
        }
    }
}

/// <summary>
/// One call's media quality from Asterisk's RTCP summary: <c>CHANNEL(rtcp,all)</c> read while the call is up, or the
/// <c>RTPAUDIOQOS</c> variable Asterisk sets as the channel ends (fixtures a, f): "ssrc=…;lp=0;rxjitter=…;rxcount=351;…;rtt=0.000000;…".
/// <see cref="Received"/> and <see cref="Lost"/> are totals since the call began; rtt 0 means no receiver report came (no round trip known).
/// </summary>
public readonly record struct RtcpSummary(double RttMs, double Loss, double JitterMs, long Received, long Lost)
{
    public bool HasRtt => RttMs > 0;

    /// <summary>
    /// One RTP stream carries at most 100 packets a second (10 ms packets; 50 at the usual 20 ms). Asterisk counts the
    /// packets it expected from the far end's sequence numbers and adds a whole 65,536-packet cycle at every backward
    /// jump of more than 100 (res_rtp_asterisk.c): a far end that restarts its stream, or packets looping between two
    /// echoing peers (lab capture j: lp=19,628,890 beside rxcount=37,050 four seconds after the answer), read as ~100 %
    /// loss. A reading over this rate (plus <see cref="PacketSlack"/> for events seen late) is not a reading.
    /// </summary>
    public const double MaxPacketsPerSecond = 100;

    /// <summary>Ten seconds of 20 ms packets: how late the answer or the previous reading may have been seen.</summary>
    public const long PacketSlack = 500;

    /// <summary>
    /// What this reading adds to the one before it on the same call (<paramref name="previous"/>, null for the first),
    /// <paramref name="elapsed"/> after it (or after the call's media began): null when no packet arrived in between (the
    /// far end is gone and the figures are frozen), or when more packets were counted, received or lost, than one stream
    /// could carry in that time (Asterisk's sequence-jump artifact, <see cref="MaxPacketsPerSecond"/>).
    /// </summary>
    public RtcpSummary? Since(RtcpSummary? previous, TimeSpan elapsed)
    {
        var (rx, lost) = previous is { } p ? (Received - p.Received, Math.Max(0, Lost - p.Lost)) : (Received, Lost);
        if (rx <= 0) return null;
        if (elapsed != TimeSpan.MaxValue && rx + lost > MaxPacketsPerSecond * elapsed.TotalSeconds + PacketSlack) return null;
        return this with { Received = rx, Lost = lost, Loss = (double)lost / (lost + rx) };
    }

    /// <summary>Null when the text is not a summary or carries no packets yet (nothing to judge).</summary>
    public static RtcpSummary? Parse(string? all)
    {
        if (all is null) return null;
        double rtt = double.NaN, jitter = double.NaN, lost = double.NaN, received = double.NaN;
        foreach (var part in all.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            if (eq < 0 || !double.TryParse(part.AsSpan(eq + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) continue;
            switch (part[..eq])
            {
                case "rtt": rtt = v * 1000; break;
                case "rxjitter": jitter = v * 1000; break;
                case "lp": lost = v; break;
                case "rxcount": received = v; break;
            }
        }
        if (double.IsNaN(rtt) || double.IsNaN(lost) || double.IsNaN(received) || lost + received <= 0) return null;
        return new RtcpSummary(rtt, lost / (lost + received), jitter, (long)received, (long)lost);
    }
}
