using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Dialer.Emulator;

/// <summary>
/// How the emulated world behaves. With no <see cref="Mix"/>, callees follow the number-prefix rules of the
/// lab the fixtures were captured in (486… busy, 503… congestion, 180… rings forever, 2… hangs up 6 s after
/// answering, 7… human and 8… machine for AMD, 9… never answers the INVITE at all, anything else answers at once). With a mix, each number's
/// fate is drawn from it, reproducibly from <see cref="Seed"/> and the number.
/// </summary>
public sealed class EmulatorScenario
{
    /// <summary>Asterisk's id in events (asterisk_id) and the name of its endpoints.</summary>
    public string AsteriskId { get; set; } = "02:fc:00:00:00:01";
    public string User { get; set; } = "dialer";
    public string Password { get; set; } = "dialer";
    /// <summary>Further ARI users with the same password (one per engine node, so a test can tell whose request was whose).</summary>
    public List<string> OtherUsers { get; set; } = [];
    /// <summary>PJSIP endpoints that are carrier trunks (dialed as PJSIP/{number}@{trunk}).</summary>
    public List<string> Trunks { get; set; } = ["carrier-a", "carrier-b"];
    /// <summary>PJSIP endpoints whose name starts with this are agent phones: they answer at once and stay up.</summary>
    public string PhonePrefix { get; set; } = "agent";
    /// <summary>Multiplies every emulated delay (ring, talk, AMD, timeouts): 0.05 runs the world 20× faster.</summary>
    public double TimeScale { get; set; } = 1;
    public int Seed { get; set; } = 1;
    public CalleeMix? Mix { get; set; }
    /// <summary>Share of calls a trunk fails with 503 → cause 34 (e.g. carrier-a: 1.0 for a dead carrier).</summary>
    public Dictionary<string, double> TrunkFailureRate { get; set; } = [];
    /// <summary>RTCP round-trip time a trunk's calls report (CHANNEL(rtcp,…)) and its qualify RTT (ContactStatusChange).</summary>
    public Dictionary<string, double> TrunkRttMs { get; set; } = [];
    /// <summary>Share of RTP packets a trunk's calls lose (RTCP <c>lp</c> in CHANNEL(rtcp,all) and RTPAUDIOQOS).</summary>
    public Dictionary<string, double> TrunkLoss { get; set; } = [];
    /// <summary>
    /// Trunks whose far end jumps its RTP sequence numbers back (a restarted stream, or packets looping between two echoing
    /// peers): Asterisk adds a 65,536-packet cycle to the expected count at each jump, so <c>lp</c> reads as ~100 % loss
    /// (lab capture j). Emulated as one jump per second of the call.
    /// </summary>
    public List<string> TrunkSequenceJumps { get; set; } = [];
    /// <summary>After a (re)start every trunk endpoint reads offline until its first qualify this many (scaled) seconds later (1.2 on a real Asterisk); 0 = online at once.</summary>
    public double BootQualifySeconds { get; set; }
    /// <summary>Every this many (scaled) seconds each trunk reports a ContactStatusChange; 0 = never.</summary>
    public double QualifySeconds { get; set; }
    /// <summary>A call whose media stopped (its carrier died) is hung up this many (scaled) seconds later, cause 44 (pjsip rtp_timeout); 0 = never.</summary>
    public double RtpTimeoutSeconds { get; set; }
    /// <summary>How long a played sound lasts (safe-harbor message), in seconds.</summary>
    public double PlaybackSeconds { get; set; } = 3;
    /// <summary>
    /// Callees who answer agentless scripts by key: number (or "*" for every callee) → prompt media → the keys pressed
    /// after each hearing of it, in order ('-' for silence), e.g. {"+8613800000001": {"sound:q1": "-2"}}.
    /// </summary>
    public Dictionary<string, Dictionary<string, string>> CalleeKeys { get; set; } = [];
    /// <summary>How long after a prompt ends a scripted callee presses its key, in seconds.</summary>
    public double KeySeconds { get; set; } = 0.5;
    /// <summary>How long a machine's greeting goes on after AMD's verdict (WaitForSilence in [dialer-amd] when DIALER_MACHINE_WAIT=1).</summary>
    public double GreetingSeconds { get; set; } = 4;
    /// <summary>Fault injection: every REST reply waits this long (ms), and this share fails with 503.</summary>
    public double RestDelayMs { get; set; }
    public double RestFailureRate { get; set; }

    public static EmulatorScenario Load(string path)
    {
        var yaml = File.ReadAllText(path);
        var d = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build();
        var s = d.Deserialize<EmulatorScenario?>(yaml) ?? new EmulatorScenario();
        s.Validate(path);
        return s;
    }

    public void Validate(string where = "scenario")
    {
        if (!(TimeScale > 0)) throw new ArgumentException($"{where}: time_scale must be > 0");
        if (Trunks.Count == 0) throw new ArgumentException($"{where}: trunks: at least one trunk is needed");
        foreach (var (t, p) in TrunkFailureRate)
            if (p is < 0 or > 1) throw new ArgumentException($"{where}: trunk_failure_rate.{t}: {p} is outside 0..1");
        foreach (var (t, p) in TrunkLoss)
            if (p is < 0 or > 1) throw new ArgumentException($"{where}: trunk_loss.{t}: {p} is outside 0..1");
        if (RestFailureRate is < 0 or > 1) throw new ArgumentException($"{where}: rest_failure_rate: {RestFailureRate} is outside 0..1");
        Mix?.Validate(where);
    }
}

/// <summary>Shares of callee fates (they need not sum to 1) and their timings, in seconds.</summary>
public sealed class CalleeMix
{
    public double Human { get; set; } = 0.35;
    public double Machine { get; set; } = 0.15;
    public double Busy { get; set; } = 0.1;
    public double NoAnswer { get; set; } = 0.3;
    public double Congestion { get; set; } = 0.05;
    public double BadNumber { get; set; } = 0.05;
    public double RingMinSeconds { get; set; } = 3;
    public double RingMaxSeconds { get; set; } = 12;
    public double TalkMinSeconds { get; set; } = 20;
    public double TalkMaxSeconds { get; set; } = 120;
    /// <summary>How long AMD listens before it decides.</summary>
    public double AmdSeconds { get; set; } = 1.8;

    internal void Validate(string where)
    {
        if (new[] { Human, Machine, Busy, NoAnswer, Congestion, BadNumber }.Any(x => x < 0) || Human + Machine + Busy + NoAnswer + Congestion + BadNumber <= 0)
            throw new ArgumentException($"{where}: mix: shares must be ≥ 0 and not all 0");
        if (RingMinSeconds < 0 || RingMaxSeconds < RingMinSeconds) throw new ArgumentException($"{where}: mix: ring_min_seconds..ring_max_seconds is empty");
        if (TalkMinSeconds < 0 || TalkMaxSeconds < TalkMinSeconds) throw new ArgumentException($"{where}: mix: talk_min_seconds..talk_max_seconds is empty");
    }
}
