using BenchmarkDotNet.Attributes;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;
using Dialer.Core.Pacing;

namespace Dialer.Bench;

/// <summary>
/// Issue 9: what the engine loop does for one event, each kind alone (<see cref="DialerEngine.Handle"/>, the work
/// EngineHost runs per event), on a floor of <see cref="Agents"/> agents. Goal: 0 B per event — the loop must allocate
/// nothing, or its collections pause every campaign's loop at 500 calls/s. The call control stands in for the ARI driver's
/// loop side: it finds each call's leg by its channel id, as <c>AriDriver</c> does for every command (the REST request
/// itself runs off the loop and is not measured). Placing a call (a new <see cref="Call"/>, its lead) is no event: each
/// iteration's setup places the calls its events need.
/// Run: dotnet run -c Release --project bench/Dialer.Bench -- --filter '*LoopEvent*'
/// </summary>
[MemoryDiagnoser, MinColumn, MedianColumn]
[InvocationCount(Events), WarmupCount(3), IterationCount(15)]
public class LoopEventBenchmarks
{
    private const int Events = 1024, Agents = 2 * Events;
    private readonly DateTime _start = new(2026, 12, 2, 12, 0, 0, DateTimeKind.Utc);
    private DialerEngine _engine = null!;
    private readonly LegTable _control = new();
    private readonly OnDemandPacer _pacer = new();
    private DateTime _now;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        var campaign = new CampaignConfig { Name = "bench", WindowStart = TimeOnly.MinValue, WindowEnd = TimeOnly.MaxValue, RingTimeoutSeconds = 30, RetryDelaySeconds = new Dictionary<CallOutcome, double>() };
        var catalog = new SkillCatalog();
        var agents = Enumerable.Range(0, Agents).Select(i => new Agent { Index = i, Id = $"agent{i + 1}", Skills = SkillSet.From(catalog, []) }).ToList();
        var trunk = new TrunkConfig { Name = "carrier-a", Channels = 100_000, CallsPerSecond = 1e9, RatePerMinute = new Dictionary<string, double> { [""] = 0.01 } };
        // Enough leads for every iteration of one benchmark: each is dialed once.
        var leads = Enumerable.Range(1, 200 * Events).Select(i => new Lead { Id = i, Phone = $"+1212{2_000_000 + i}", Region = "US-NY", TimeZone = TimeZoneInfo.Utc });
        _engine = new DialerEngine(new EngineSetup
        {
            Campaign = campaign, Agents = agents, Trunks = [trunk], Pacer = _pacer, Control = _control,
            Leads = new MemoryHopper(campaign, leads, _start), Predictor = new LoadRig.Flat(), Owner = new ChannelOwner("bench", "loop"),
        }, _start);
        _now = _start;
        for (var a = 0; a < Agents; a++) Handle(EngineEvent.Login(a));
    }

    // ---- the state each event needs, made before its iteration and undone after ------------------------------------

    [IterationSetup(Targets = [nameof(CallAnswered), nameof(MachineAnswered), nameof(NoAnswer)])]
    public void Ringing() => Place();

    [IterationSetup(Target = nameof(HungUp))]
    public void Talking()
    {
        Place();
        foreach (var call in _control.Placed) Handle(EngineEvent.Answered(call.Id, human: true));
    }

    [IterationSetup(Target = nameof(AgentReady))]
    public void WrappingUp()
    {
        Talking();
        foreach (var call in _control.Placed) Handle(EngineEvent.Ended(call.Id));
    }

    /// <summary>After each iteration: every call ended, every agent ready again.</summary>
    [IterationCleanup]
    public void Idle()
    {
        foreach (var call in _control.Placed) Handle(EngineEvent.Ended(call.Id, CallOutcome.NoAnswer));
        for (var a = 0; a < Agents; a++) Handle(EngineEvent.Ready(a));
    }

    private void Place()
    {
        _control.Placed.Clear();
        _control.ByChannel.Clear();
        _pacer.Want = Events;
        _now = _now.AddSeconds(1);
        _engine.Tick(_now);
        if (_control.Placed.Count != Events) throw new InvalidOperationException($"placed {_control.Placed.Count} of {Events} calls");
        _next = 0;
    }

    private void Handle(in EngineEvent e)
    {
        _now = _now.AddTicks(100); // 10 µs an event: an iteration's calls stay well inside their ring time
        _engine.Handle(e, _now);
    }

    // ---- one event each ---------------------------------------------------------------------------------------------

    /// <summary>A person answered: an agent is free, the engine bridges them (the leg found by its channel id).</summary>
    [Benchmark]
    public void CallAnswered() => Handle(EngineEvent.Answered(_control.Placed[_next++].Id, human: true));

    /// <summary>A machine answered: hung up.</summary>
    [Benchmark]
    public void MachineAnswered() => Handle(EngineEvent.Answered(_control.Placed[_next++].Id, human: false));

    /// <summary>A ringing call ended unanswered: the trunk's channel and the lead go back.</summary>
    [Benchmark]
    public void NoAnswer() => Handle(EngineEvent.Ended(_control.Placed[_next++].Id, CallOutcome.NoAnswer, cause: 19));

    /// <summary>A conversation ended (either side hung up): the attempt closes, the agent goes to wrap-up.</summary>
    [Benchmark]
    public void HungUp() => Handle(EngineEvent.Ended(_control.Placed[_next++].Id));

    /// <summary>An agent's wrap-up is over: ready for the next callee.</summary>
    [Benchmark]
    public void AgentReady() => Handle(EngineEvent.Ready(_control.Placed[_next++].Agent!.Index));

    /// <summary>Places what it is asked for at the next decision, then nothing: the events are measured alone.</summary>
    private sealed class OnDemandPacer : IPacer
    {
        public int Want;
        public string Name => "on-demand";
        public bool ReactsToEvents => false;

        public PacingDecision Decide(DialerState state)
        {
            var n = Want;
            Want = 0;
            return new PacingDecision(n, state.Now);
        }
    }

    /// <summary>The driver's loop side: a leg per call, found by its channel id for every command.</summary>
    private sealed class LegTable : ICallControl
    {
        public readonly Dictionary<string, Call> ByChannel = new(StringComparer.Ordinal);
        public readonly List<Call> Placed = new(Events);
        public long Found;

        public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout)
        {
            ByChannel[call.ChannelId] = call;
            Placed.Add(call);
        }

        public void Connect(Call call, Agent agent) => Find(call);
        public void SafeHarbor(Call call) => Find(call);
        public void Hangup(Call call) => Find(call);
        public void RunScript(Call call, ScriptRun run) => Find(call);

        private void Find(Call call)
        {
            if (ByChannel.TryGetValue(call.ChannelId, out _)) Found++;
        }
    }
}
