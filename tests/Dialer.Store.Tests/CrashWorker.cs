using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Pacing;

namespace Dialer.Store.Tests;

/// <summary>
/// A campaign run in its own process for the crash test: the database hopper and attempt log, a scripted
/// telephony driver (every call is answered by a machine 2 s after it is placed, and the engine hangs up) and
/// virtual time. It prints "placed CHANNEL" as each call goes out, so the test knows when to kill it.
/// Usage: crash-worker DB CAMPAIGN_ID NODE START_UTC_TICKS REAL_MS_PER_STEP [LIVE_CHANNELS_FILE]  (DIALER_PII_KEY set)
/// </summary>
public static class CrashWorker
{
    public static int Main(string[] args)
    {
        if (args.Length < 6 || args[0] != "crash-worker") { Console.Error.WriteLine("usage: crash-worker DB CAMPAIGN NODE START_TICKS MS_PER_STEP [LIVE_FILE]"); return 2; }
        using var db = StoreDb.Open(args[1]);
        var campaignId = long.Parse(args[2]);
        var node = args[3];
        var now = new DateTime(long.Parse(args[4]), DateTimeKind.Utc);
        var sleep = int.Parse(args[5]);
        var live = args.Length > 6 ? File.ReadAllLines(args[6]).ToHashSet() : [];
        var campaigns = new Campaigns(db);
        var config = campaigns.Get(campaignId)!.Settings.ToConfig("crash");
        var pii = Pii.FromConfig(null);

        var log = new DbAttemptLog(db, campaignId, node);
        var r = log.Reconcile(live, now);
        Console.WriteLine($"reconciled closed={r.Closed} live={r.StillLive.Count} released={r.LeasesReleased}");
        var driver = new ScriptedDriver();
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = config,
            Agents = [],
            Trunks = [new TrunkConfig { Name = "t", Channels = 10, CallsPerSecond = 1000, RatePerMinute = new Dictionary<string, double> { ["+"] = 0.01 } }],
            Pacer = new FillChannels(),
            Control = driver,
            Leads = new DbLeadSource(db, pii, campaignId, config, node),
            Predictor = new NoPrediction(),
            Log = log,
            FirstCallId = log.ReserveCallIds(),
        }, now);

        while (true)
        {
            engine.Tick(now);
            while (driver.Due(now) is { } e) engine.Handle(e, now);
            if (engine.LiveCalls.Count == 0 && campaigns.Counts(campaignId).Pending == 0) break;
            now = now.AddMilliseconds(100);
            if (sleep > 0) Thread.Sleep(sleep);
        }
        Console.WriteLine("done");
        return 0;
    }

    private sealed class FillChannels : IPacer
    {
        public string Name => "fill";
        public bool ReactsToEvents => false;
        public PacingDecision Decide(DialerState state) => new(state.FreeChannels, state.Now + 0.1);
    }

    /// <summary>Machines answer after 2 s; a hang-up ends the call 0.1 s later.</summary>
    private sealed class ScriptedDriver : ICallControl
    {
        private readonly PriorityQueue<EngineEvent, DateTime> _events = new();
        private DateTime _now;

        public EngineEvent? Due(DateTime now)
        {
            _now = now;
            return _events.TryPeek(out _, out var at) && at <= now ? _events.Dequeue() : null;
        }

        public void Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout)
        {
            Console.WriteLine($"placed {call.ChannelId}");
            _events.Enqueue(EngineEvent.Answered(call.Id, human: false), call.PlacedAt.AddSeconds(2));
        }

        public void Hangup(Call call) => _events.Enqueue(EngineEvent.Ended(call.Id), _now.AddSeconds(0.1));
        public void Connect(Call call, Agent agent) => Hangup(call);
        public void SafeHarbor(Call call) => Hangup(call);
    }
}

/// <summary>Every call is a coin flip: these tests are about storage, not answer rates.</summary>
internal sealed class NoPrediction : IAnswerPredictor
{
    public float PredictLive(Lead lead, DateTime utcNow) => 0.5f;
    public void Observe(Lead lead, DateTime placedUtc, bool live) { }
}
