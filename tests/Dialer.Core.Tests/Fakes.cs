using System.Collections.Concurrent;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Core.Tests;

/// <summary>Records the engine's commands instead of carrying them out. The log is a concurrent queue because the host
/// tests read it while the engine loop appends to it on another thread.</summary>
internal sealed class RecordingControl : ICallControl
{
    public ConcurrentQueue<string> Log { get; } = [];
    public List<Call> Originated { get; } = [];
    public TimeSpan CommandLead { get; init; }

    public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout)
    {
        Originated.Add(call);
        Log.Enqueue($"originate {call.Id} via {trunk.Name}");
    }

    public void Connect(Call call, Agent agent) => Log.Enqueue($"connect {call.Id} to {agent.Id}");
    public void SafeHarbor(Call call) => Log.Enqueue($"safe-harbor {call.Id}");
    public void Hangup(Call call) => Log.Enqueue($"hangup {call.Id}");
    public Dictionary<long, Dialer.Core.Modes.ScriptRun> Scripts { get; } = [];

    public void RunScript(Call call, Dialer.Core.Modes.ScriptRun run)
    {
        Scripts[call.Id] = run;
        Log.Enqueue($"script {call.Id}{(run.TransferOffered ? " +transfer" : "")}");
    }
}

/// <summary>Keeps the offers the engine makes, as an agent's screen would.</summary>
internal sealed class RecordingDesk : IPreviewDesk
{
    public List<PreviewOffer> Offered { get; } = [];
    public List<(PreviewOffer Offer, string Reason)> Withdrawn { get; } = [];
    public void Offer(PreviewOffer offer) => Offered.Add(offer);
    public void Withdraw(PreviewOffer offer, string reason) => Withdrawn.Add((offer, reason));
}

/// <summary>A pacer that places exactly what the test says.</summary>
internal sealed class ScriptedPacer : IPacer
{
    private int _next;
    /// <summary>Calls the next decision asks for; taken atomically, since tests set it while the loop decides.</summary>
    public int Next { get => Volatile.Read(ref _next); set => Volatile.Write(ref _next, value); }
    /// <summary>Seconds until it asks to decide again (0: at every tick).</summary>
    public double Interval { get; set; }
    public string Name => "scripted";
    public bool ReactsToEvents => true;
    /// <summary>Every decision asks for <see cref="Next"/> (not the next one only): calls the engine could not place are asked for again.</summary>
    public bool Steady { get; set; }

    public PacingDecision Decide(DialerState s)
    {
        var n = Steady ? Next : Interlocked.Exchange(ref _next, 0);
        return new(n, s.Now + Interval);
    }
}

internal sealed class FixedPredictor(float p) : IAnswerPredictor
{
    public float PredictLive(Lead lead, DateTime utcNow) => p;
    public void Observe(Lead lead, DateTime placedUtc, bool live) { }
}

internal static class Make
{
    public static readonly DateTime T0 = new(2026, 11, 23, 2, 0, 0, DateTimeKind.Utc); // 10:00 in Shanghai
    public static readonly TimeZoneInfo Shanghai = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");

    public static Lead Lead(long id, string phone = "+8613800000000", int priority = 0, string region = "bj", TimeZoneInfo? zone = null, DateOnly? expiry = null) =>
        new() { Id = id, Phone = phone, Region = region, TimeZone = zone ?? Shanghai, Priority = priority, PolicyExpiry = expiry };

    public static TrunkConfig Trunk(string name, int channels = 100, double cps = 100, params (string Prefix, double Rate)[] rates) =>
        new()
        {
            Name = name,
            Channels = channels,
            CallsPerSecond = cps,
            RatePerMinute = (rates.Length == 0 ? [("+86", 0.01)] : rates).ToDictionary(r => r.Prefix, r => r.Rate),
        };

    public static (DialerEngine Engine, RecordingControl Control, ScriptedPacer Pacer, MemoryHopper Hopper) Engine(
        int agents, IEnumerable<Lead> leads, CampaignConfig? campaign = null, SkillSet[]? skills = null, IAttemptLog? log = null, TrunkConfig[]? trunks = null,
        IPreviewDesk? desk = null, IPacer? pacer = null, TimeSpan commandLead = default)
    {
        campaign ??= new CampaignConfig { TimeZone = Shanghai };
        var control = new RecordingControl { CommandLead = commandLead };
        var scripted = new ScriptedPacer();
        var hopper = new MemoryHopper(campaign, leads, T0);
        var list = Enumerable.Range(0, agents).Select(i => new Agent { Index = i, Id = $"a{i}", Skills = skills?[i] ?? new SkillSet() }).ToList();
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign,
            Agents = list,
            Trunks = trunks ?? [Trunk("t1")],
            Pacer = pacer ?? scripted,
            Control = control,
            Leads = hopper,
            Predictor = new FixedPredictor(0.3f),
            Log = log,
            Desk = desk,
        }, T0);
        return (engine, control, scripted, hopper);
    }
}
