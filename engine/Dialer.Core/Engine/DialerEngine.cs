using Dialer.Core.Compliance;
using Dialer.Core.Domain;
using Dialer.Core.Metrics;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;

namespace Dialer.Core.Engine;

/// <summary>
/// The single owner of a campaign's live state. Events come in through <see cref="Handle"/> and
/// <see cref="Tick"/> with the time they happen; commands go out through <see cref="ICallControl"/>.
/// It never reads a clock, so the simulator and production run the very same code.
/// Not thread-safe by design: a host (the simulator's event queue, or the real-time loop reading a
/// channel) calls it from one place.
/// </summary>
public sealed partial class DialerEngine
{
    private readonly DialerState _s;
    private readonly IPacer _pacer;
    private readonly ICallControl _control;
    private readonly ILeadSource _leads;
    private readonly IAttemptLog? _log;
    private readonly IAnswerPredictor _predictor;
    private readonly TrunkRouter _trunks;
    private readonly AgentRouter _router;
    private readonly SkillBalancer _skills;
    private readonly Func<Lead, bool> _acceptLead;
    private float _acceptedP;
    // The last lead search passed a due lead over (no able agent free): an empty answer then does not mean the list ran dry.
    private bool _refused;
    private readonly Dictionary<long, Call> _calls = [];
    private readonly bool[] _logoutAfterCall;
    private readonly string?[] _pauseAfterCall;
    private long _nextCallId;
    private readonly ChannelOwner _owner;
    private readonly double _commandLead;
    private double _nextDecision;
    private double _retryPlacementAt = double.NegativeInfinity;
    private int _placementDay = int.MinValue;
    private double _rampFrom = double.NegativeInfinity;
    private DateTime _lastUtc;

    public DialerEngine(EngineSetup setup, DateTime epoch)
    {
        setup.Campaign.Validate();
        _pacer = setup.Pacer;
        _control = setup.Control;
        _leads = setup.Leads;
        _log = setup.Log;
        _predictor = setup.Predictor;
        _trunks = new TrunkRouter(setup.Trunks);
        _router = new AgentRouter(setup.Agents.Count);
        for (var i = 0; i < setup.Agents.Count; i++)
        {
            if (setup.Agents[i].Index != i) throw new ArgumentException($"agent '{setup.Agents[i].Id}': index {setup.Agents[i].Index} should be {i}");
            _router.Register(i, setup.Agents[i].Skills);
        }
        _logoutAfterCall = new bool[setup.Agents.Count];
        _pauseAfterCall = new string?[setup.Agents.Count];
        _skills = new SkillBalancer(_router);
        _acceptLead = AcceptLead;
        _s = new DialerState(setup.Campaign, setup.Agents, epoch, setup.Trunks.Sum(t => t.Channels)) { FreeChannels = _trunks.FreeChannels };
        Stats = new CampaignStats(setup.Campaign.TimeZone, setup.Trunks.Count, setup.Agents.Count);
        _nextCallId = setup.FirstCallId;
        _owner = setup.Owner;
        _desk = setup.Desk;
        _offerOf = new PreviewOffer?[setup.Agents.Count];
        if (_s.Config.Previews && _desk is null) throw new ArgumentException("a campaign with preview needs a preview desk (where offers go to agents)");
        _commandLead = setup.Control.CommandLead.TotalSeconds;
    }

    public DialerState State => _s;
    public CampaignStats Stats { get; }
    public TrunkRouter Trunks => _trunks;
    public string PacerName => _pacer.Name;
    /// <summary>When the engine next needs <see cref="Tick"/> even if no event arrives.</summary>
    // Rounded up a tick past the due time: rounding down would wake the engine just before it is due, forever.
    public DateTime NextWakeAt => _s.Epoch.AddTicks((long)Math.Ceiling(NextWake() * TimeSpan.TicksPerSecond) + 1);
    public IReadOnlyCollection<Call> LiveCalls => _calls.Values;
    /// <summary>
    /// Told on the loop whenever a call changes phase: ringing (originated), waiting or machine (answered: the AMD verdict),
    /// connected (bridged to its agent), safe harbor, ended. It runs on the hot path: it must only copy what it needs and queue it.
    /// </summary>
    public Action<Call>? PhaseChanged { get; set; }

    /// <summary>
    /// Called on the loop after every agent state change, whatever caused it (the API, the phone's keys or hang-up, a
    /// call's end, wrap-up's timer); it must only copy what it needs (it runs on the hot path).
    /// </summary>
    public Action<Agent>? AgentStateChanged { get; set; }
    /// <summary>Set by <see cref="Halt"/>: no call is placed any more, and a live callee goes to safe harbor.</summary>
    public bool Halted { get; private set; }
    /// <summary>
    /// Seconds a restart ramps up over after telephony comes back (a trunk back in service): placements are held to
    /// one call per ready agent at first and reach the pacer's full figure by the end, so a pacer that learned from
    /// failed calls cannot over-dial the moment they stop failing.
    /// </summary>
    public double RecoveryRampSeconds { get; init; } = 30;

    /// <summary>
    /// Handles one event. <paramref name="utcNow"/> is the loop's (monotonic) time; the event's own <see cref="EngineEvent.At"/>
    /// (when it happened, never later than now) dates what it reports, so a callee's 2 s run from the answer, not from the dequeue.
    /// </summary>
    public void Handle(in EngineEvent e, DateTime utcNow)
    {
        var now = Advance(ref utcNow);
        var at = e.At == default || e.At > utcNow ? utcNow : e.At;
        ExpireWaiting(now, utcNow); // deadlines are checked between events, not only on the ticks
        switch (e.Kind)
        {
            case EventKind.CallAnswered: OnAnswered(e.CallId, e.Human, now, utcNow, at); break;
            case EventKind.CallEnded: OnEnded(e.CallId, e.Outcome, e.Cause, now, at); break;
            case EventKind.AgentLogin: OnAgentAvailable(e.Agent, now, login: true); break;
            case EventKind.AgentReady: OnAgentAvailable(e.Agent, now, login: false); break;
            case EventKind.AgentPause: OnAgentPause(e.Agent, e.Reason ?? "", now); break;
            case EventKind.AgentLogout: OnAgentLogout(e.Agent, now); break;
            case EventKind.TrunkState: OnTrunkState(e.Trunk, e.Available, now); break;
            case EventKind.TrunkShare: OnTrunkShare(e.Trunk, e.Share); break;
            case EventKind.CommandFailed: OnCommandFailed(e, now, utcNow, at); break;
            case EventKind.AttemptStored: OnStored(e.CallId, now, utcNow); break;
            case EventKind.PreviewDecision: OnPreviewDecision(e, now, utcNow); break;
            case EventKind.ScriptDone: OnScriptDone(e.CallId, e.Script, now, utcNow, at); break;
            case EventKind.LeadsStocked: _retryPlacementAt = double.NegativeInfinity; break; // the second's wait for leads is over
        }
        // Leads back in stock: the calls the last decision could not place go out now, whatever the pacer's rhythm (session 15:
        // 0, 6, 10, 20, 70 calls placed in the first seconds, one look a second, before).
        if (_pacer.ReactsToEvents || e.Kind == EventKind.LeadsStocked) Pace(now, utcNow, force: true);
        else Offer(now, utcNow); // an agent free or an offer decided: offers do not wait for a pacer that decides on its ticks
    }

    public void Tick(DateTime utcNow)
    {
        var now = Advance(ref utcNow);
        ExpireWaiting(now, utcNow);
        Pace(now, utcNow, force: false);
    }

    /// <summary>
    /// Before the first call of a start or a takeover: the campaign's recent attempts (oldest first, from the store) teach the
    /// forecasts what the last owner had learned (the answer-rate predictor, live and other ring times, talk times), and the
    /// calibration is set from the trained predictor's own predictions on those calls, so its factor starts near 1 and sure.
    /// Without it every takeover paced from priors (ClusterTests: a prior of 0.2 live answers a call against a real 0.4 made
    /// the new owner over-dial: 3 of 36 live answers abandoned).
    /// </summary>
    public void Learn(IReadOnlyList<PastAttempt> history)
    {
        // A predictor reads the lead's attempt count as the engine keeps it: at an attempt's end it includes the attempt,
        // when one is placed only those before it.
        foreach (var a in history)
        {
            a.Lead.Attempts = a.Attempt;
            _predictor.Observe(a.Lead, a.PlacedAt, a.Live);
            if (a.Live && a.AnsweredAt is { } answered) _s.LiveAnswerDelay.Observe((answered - a.PlacedAt).TotalSeconds);
            else if (!a.Live) _s.OtherRingTime.Observe(((a.AnsweredAt ?? a.EndedAt) - a.PlacedAt).TotalSeconds); // a machine's verdict, else the end
            if (a.Outcome == CallOutcome.Human && a.ConnectedAt is { } connected) _s.TalkTime.Observe((a.EndedAt - connected).TotalSeconds);
        }
        double promised = 0, lives = 0, lastEnded = double.NegativeInfinity;
        foreach (var a in history)
        {
            lastEnded = Math.Max(lastEnded, Seconds(a.EndedAt));
            a.Lead.Attempts = a.Attempt - 1;
            var p = Math.Clamp(_predictor.PredictLive(a.Lead, a.PlacedAt), 0f, 1f);
            promised += p;
            if (a.Live) lives++;
            _s.RecentLiveP = double.IsNaN(_s.RecentLiveP) ? p : 0.98 * _s.RecentLiveP + 0.02 * p; // as Place keeps it
        }
        _s.Calibration.Learn(history.Count, promised, lives, lastEnded);
    }

    /// <summary>
    /// Ramps up over <see cref="RecoveryRampSeconds"/> from now, as after an outage: for a takeover, whose first decisions
    /// have every agent ready at once, no call ringing and forecasts learned from another process's calls.
    /// </summary>
    public void RampUp(DateTime utcNow) => _rampFrom = Advance(ref utcNow);

    /// <summary>
    /// At stop, after the driver hung everything up: every call still open is closed as if its hang-up had come back (an
    /// end event lost on the way must not leave an attempt open or a lead leased). One never originated keeps its attempt.
    /// </summary>
    public void EndAll(DateTime utcNow)
    {
        var now = Advance(ref utcNow);
        foreach (var call in _calls.Values.ToList())
        {
            if (call.AwaitingStore)
            {
                call.AwaitingStore = false;
                call.NeverPlaced = true;
            }
            call.Cancelled |= call.Phase == CallPhase.Ringing;
            OnEnded(call.Id, CallOutcome.None, 16, now, utcNow);
        }
    }

    /// <summary>
    /// Recovery after a restart: a call the last engine placed, still bridged to <paramref name="agent"/> in Asterisk, goes on
    /// here as a connected call (the agent logged in and talking) and closes normally when its end comes. It was counted
    /// (placed, live) by the engine that placed it, so it is not counted again. <paramref name="owner"/> is the one in its
    /// channel id: this node, or a dead one whose campaign this engine took over.
    /// </summary>
    public Call AdoptCall(long callId, ChannelOwner owner, Lead lead, int attempt, int trunk, DateTime placedAt, DateTime answeredAt, int agent, DateTime utcNow)
    {
        if ((uint)agent >= (uint)_s.Agents.Count) throw new ArgumentOutOfRangeException(nameof(agent), agent, "no such agent");
        if ((uint)trunk >= (uint)_trunks.Count) throw new ArgumentOutOfRangeException(nameof(trunk), trunk, "no such trunk");
        if (_s.AgentStates[agent] == AgentState.Talking) throw new InvalidOperationException($"agent '{_s.Agents[agent].Id}' is already on a call");
        var now = Advance(ref utcNow);
        var call = new Call { Id = callId, Owner = owner, Lead = lead, Attempt = attempt, Trunk = trunk, TrunkName = _trunks[trunk].Name, PlacedAt = placedAt, PLive = 0 };
        call.AnsweredAt = answeredAt < placedAt ? placedAt : answeredAt;
        call.ConnectedAt = call.AnsweredAt;
        call.Phase = CallPhase.Connected;
        _calls.Add(callId, call);
        _trunks.Occupy(trunk);
        _s.FreeChannels--;
        _router.Remove(agent);
        SetAgentState(agent, AgentState.Talking, now);
        var a = _s.Agents[agent];
        a.CurrentCall = call;
        call.Agent = a;
        return call;
    }

    /// <summary>Closes the books: agent time up to <paramref name="utcNow"/> is added to the stats.</summary>
    public void Close(DateTime utcNow)
    {
        var now = Advance(ref utcNow);
        for (var a = 0; a < _s.Agents.Count; a++) Account(a, now);
    }

    /// <summary>
    /// Stops dialing for good (the host found the loop in a state it cannot vouch for): no new call, ringing calls hung up,
    /// callees waiting for an agent sent to safe harbor now rather than left in silence. Events are still handled, so the
    /// calls up end and their attempts are closed.
    /// </summary>
    public void Halt(DateTime utcNow)
    {
        var now = Advance(ref utcNow);
        Halted = true;
        while (_s.WaitingCalls.Count > 0) SendToSafeHarbor(_s.WaitingCalls[0], now, utcNow);
        CancelRinging();
        WithdrawAllOffers("the campaign stopped", now);
    }

    // Engine time never goes back: a wall-clock step back holds it where it is until the clock catches up.
    private double Advance(ref DateTime utcNow)
    {
        if (utcNow < _lastUtc) utcNow = _lastUtc;
        _lastUtc = utcNow;
        var now = (utcNow - _s.Epoch).TotalSeconds;
        _s.Now = now;
        _s.Ledger.Roll(utcNow);
        return now;
    }

    private double NextWake()
    {
        // Halted, only deadlines wake it; preview only, no pacer decides (offers and their time-outs do).
        var wake = Halted || _s.Config.Mode == Modes.DialingMode.Preview ? double.PositiveInfinity : _nextDecision;
        if (_s.WaitingCalls.Count > 0) wake = Math.Min(wake, Deadline(_s.WaitingCalls[0]));
        if (_retryPlacementAt > _s.Now && !Halted) wake = Math.Min(wake, _retryPlacementAt);
        wake = Math.Min(wake, NextOfferWake());
        return Math.Clamp(wake, _s.Now, _s.Now + 3600); // nothing due (halted): the host wakes it anyway
    }

    // The send-by moment of the safe-harbor message: the 2 s (from the answer, or from an agentless transfer's key) less what
    // the telephony needs to start it.
    private double Deadline(Call c) => Seconds(HeardFrom(c)) + Math.Max(0, _s.Config.SafeHarborSeconds - _commandLead);
    private double Seconds(DateTime utc) => (utc - _s.Epoch).TotalSeconds;

    // ---- pacing and placement ------------------------------------------------------------------

    private void Pace(double now, DateTime utcNow, bool force)
    {
        Offer(now, utcNow);
        // Preview only: nothing is dialed without an agent's yes.
        if (Halted || _s.Config.Mode == Modes.DialingMode.Preview || (!force && now < _nextDecision)) return;
        _s.LeadStock = _leads.Stock(utcNow);
        var d = _pacer.Decide(_s);
        _nextDecision = Math.Max(d.NextDecisionAt, now);
        var n = Math.Min(Ramp(d.CallsToPlace, now), _s.FreeChannels);
        if (n <= 0 || now < _retryPlacementAt) return;
        if (_log is { Accepting: false })
        {
            _retryPlacementAt = now + 0.1; // the store is behind: no call may leave without its row, look again shortly
            Stats.PlacementsHeldForStore++;
            return;
        }
        if (!_trunks.AnyInService)
        {
            _retryPlacementAt = now + 1; // no trunk can take a call: no lead is touched; a trunk back (OnTrunkState) ends the wait
            return;
        }
        _skills.Begin(_s);
        _heldThisRound = 0;
        for (var i = 0; i < n; i++)
            if (!PlaceOne(now, utcNow)) break;
    }

    /// <summary>
    /// How long a lead waits, out of the order, when every trunk that can carry it is out while others are in service: about
    /// a breaker's first cool-down (the ARI driver's is 30 s), after which it is tried again.
    /// </summary>
    public const double TrunkOutHoldSeconds = 30;
    /// <summary>Leads held back in one round because their trunks are out; past these the round ends (each is a store write).</summary>
    private const int HeldPerRound = 64;
    private int _heldThisRound;

    private bool PlaceOne(double now, DateTime utcNow)
    {
        while (true)
        {
            _refused = false;
            var lead = _leads.Next(utcNow, _acceptLead);
            if (lead is null)
            {
                if (!_refused && _heldThisRound == 0) _s.LeadsRanOutAt = now;
                _retryPlacementAt = now + 1; // nothing due (or nothing the free agents can take): look again in a second
                return false;
            }
            var trunk = _trunks.TryTake(lead.Phone, now);
            if (trunk >= 0)
            {
                Place(lead, trunk, _acceptedP, now, utcNow, reservedFor: null);
                return true;
            }
            if (!_trunks.InService(lead.Phone))
            {
                // Its trunks are out (breaker open) or none prices it: it is held back and the leads behind it go on. Given
                // back at the head of the order with the round ended, it held every other lead back until its trunk's next
                // probe, the engine retrying every millisecond meanwhile (real Asterisk, session 11). Held out of the order, not
                // set aside for the round: given back, such leads piled up in the outbox's prefetch as the good ones went, and
                // soon filled it.
                _leads.Reschedule(lead, utcNow.AddSeconds(TrunkOutHoldSeconds), callback: false, utcNow);
                Stats.LeadsHeldForTrunk++;
                if (++_heldThisRound < HeldPerRound) continue;
                _retryPlacementAt = now + 1;
                return false;
            }
            // Its trunks are full or out of tokens: the round ends, the order kept, until one of them can take it (+∞: until a
            // channel is freed). Not a retry a millisecond later because another trunk, no route of this lead, has a token.
            _leads.Release(lead, utcNow);
            _retryPlacementAt = _trunks.NextTokenAt(lead.Phone, now);
            return false;
        }
    }

    /// <summary>
    /// One call on its trunk, written before it exists. A preview call (<paramref name="reservedFor"/>) belongs to its agent:
    /// it is kept out of the pacer's ringing table and calibration, which forecast callees the pool must take.
    /// </summary>
    private void Place(Lead lead, int trunk, float p, double now, DateTime utcNow, Agent? reservedFor)
    {
        CountPlacementDay(utcNow);
        lead.Attempts++;
        lead.LastAttemptAt = utcNow;
        var call = new Call { Id = _nextCallId++, Owner = _owner, Lead = lead, Attempt = lead.Attempts, Trunk = trunk, TrunkName = _trunks[trunk].Name, PlacedAt = utcNow, PLive = p };
        call.ReservedFor = reservedFor;
        if (reservedFor is not null) reservedFor.CurrentCall = call;
        _calls.Add(call.Id, call);
        if (reservedFor is null)
        {
            _s.AddRinging(call, now);
            _s.Calibration.Placed(now, p);
            _s.RecentLiveP = double.IsNaN(_s.RecentLiveP) ? p : 0.98 * _s.RecentLiveP + 0.02 * p;
        }
        _s.FreeChannels--;
        _s.PlacedLastMinute.Add((long)now);
        _s.CallsToday++;
        Stats.CallsPlaced++;
        Stats.TrunkPlaced[trunk]++;
        _log?.Placed(call); // before the call exists in the world: a crash can always be reconciled
        if (_log is { Deferred: true }) call.AwaitingStore = true; // originated when the outbox says the row is durable
        else Originate(call);
    }

    private void Originate(Call call)
    {
        _control.Originate(call, _trunks[call.Trunk], TimeSpan.FromSeconds(_s.Config.RingTimeoutSeconds));
        PhaseChanged?.Invoke(call); // ringing: it left for the network
    }

    private void SetPhase(Call call, CallPhase phase)
    {
        call.Phase = phase;
        PhaseChanged?.Invoke(call);
    }

    /// <summary>The outbox wrote the attempt row: the call may leave now, unless it was called off meanwhile (then it never existed in the world).</summary>
    private void OnStored(long id, double now, DateTime utcNow)
    {
        if (!_calls.TryGetValue(id, out var call) || !call.AwaitingStore) return;
        call.AwaitingStore = false;
        if (call.Cancelled || Halted)
        {
            call.NeverPlaced = true;
            OnEnded(id, CallOutcome.None, 0, now, utcNow);
        }
        else Originate(call);
    }

    /// <summary>While ramping up after an outage: at most one call in flight per ready agent at first, the pacer's full figure by the end.</summary>
    private int Ramp(int calls, double now)
    {
        var f = (now - _rampFrom) / RecoveryRampSeconds;
        if (f >= 1) return calls;
        var cap = _s.Count(AgentState.Ready) - _s.InFlight + (int)(Math.Max(f, 0) * calls);
        return Math.Min(calls, Math.Max(cap, 0));
    }

    private void OnTrunkState(int trunk, bool available, double now)
    {
        if ((uint)trunk >= (uint)_trunks.Count) return;
        if (available && !_trunks.IsAvailable(trunk))
        {
            _rampFrom = now;
            _retryPlacementAt = double.NegativeInfinity; // placements may go on now
        }
        _trunks.SetAvailable(trunk, available);
    }

    private void OnTrunkShare(int trunk, double share)
    {
        if ((uint)trunk >= (uint)_trunks.Count) return;
        _trunks.SetShare(trunk, share);
        _retryPlacementAt = double.NegativeInfinity; // a lead waiting for a channel of it may have one now
    }

    private bool AcceptLead(Lead lead)
    {
        if (_s.Config.PreviewTag is not null && _s.Config.IsPreview(lead)) return false; // an agent sees it first
        // No trunk in service carries it: taken only to be held back (PlaceOne), so it is no call of this dial for the balancer;
        // refused here, its whole queue would be (LeadOrder).
        if (!_trunks.InService(lead.Phone)) return true;
        _acceptedP = Math.Clamp(_predictor.PredictLive(lead, _s.UtcNow), 0f, 1f);
        var accepted = _skills.Accept(lead, _acceptedP);
        _refused |= !accepted;
        return accepted;
    }

    private void CountPlacementDay(DateTime utcNow)
    {
        var day = TimeZoneInfo.ConvertTimeFromUtc(utcNow, _s.Config.TimeZone).Date.Subtract(DateTime.UnixEpoch).Days;
        if (day == _placementDay) return;
        _placementDay = day;
        _s.CallsToday = 0;
    }

    // ---- calls ---------------------------------------------------------------------------------

    private void OnAnswered(long id, bool human, double now, DateTime utcNow, DateTime at)
    {
        if (!_calls.TryGetValue(id, out var call) || call.Phase != CallPhase.Ringing || call.AwaitingStore) return;
        _s.RemoveRinging(call);
        _predictor.Observe(call.Lead, call.PlacedAt, human);
        if (at < call.PlacedAt) at = call.PlacedAt;
        call.AnsweredAt = at;
        var ring = (at - call.PlacedAt).TotalSeconds;
        if (call.ReservedFor is not null)
        {
            AnsweredForAgent(call, human, now, utcNow, at);
            return;
        }
        if (_s.Config.Agentless && (human || _s.Config.Script!.Machine == Modes.MachineAction.LeaveMessage) && !Halted)
        {
            if (human) CountLiveAnswer(call, ring, at); // reached at once, by the script's voice: nobody is left in silence
            else
            {
                call.AnsweredByMachine = true;
                Stats.MachineAnswers++;
                Stats.TrunkMachine[call.Trunk]++;
            }
            StartScript(call, machine: !human);
            return;
        }
        if (!human)
        {
            SetPhase(call, CallPhase.Machine);
            Stats.MachineAnswers++;
            Stats.TrunkMachine[call.Trunk]++;
            _s.OtherRingTime.Observe(ring);
            HangUp(call);
            return;
        }
        CountLiveAnswer(call, ring, at);
        RouteToAgent(call, now, utcNow);
    }

    /// <summary>A person answered a call the pool may have to take: forecasts, stats and the abandon ledger hear of it.</summary>
    private void CountLiveAnswer(Call call, double ring, DateTime at)
    {
        _s.LiveAnswerDelay.Observe(ring);
        _s.Calibration.Live(Seconds(call.PlacedAt));
        Stats.CountLive(at);
        Stats.TrunkLive[call.Trunk]++;
        _s.Ledger.Live(at);
    }

    /// <summary>A live callee wants an agent: the longest-idle able one now, else the wait (2 s), or safe harbor when halted.</summary>
    private void RouteToAgent(Call call, double now, DateTime utcNow)
    {
        if (Halted)
        {
            SendToSafeHarbor(call, now, utcNow);
            return;
        }
        var agent = _router.PickLongestIdle(call.Lead.Requirement);
        if (agent >= 0) Connect(call, agent, now, utcNow);
        else Wait(call, now, utcNow);
    }

    /// <summary>The callee waits for an agent, in answer order (events may come in slightly out of it), until their 2 s are up.</summary>
    private void Wait(Call call, double now, DateTime utcNow)
    {
        SetPhase(call, CallPhase.Waiting);
        var w = _s.WaitingCalls;
        var i = w.Count;
        while (i > 0 && HeardFrom(w[i - 1]) > HeardFrom(call)) i--;
        w.Insert(i, call);
        ExpireWaiting(now, utcNow);
    }

    private void Connect(Call call, int agent, double now, DateTime utcNow)
    {
        _router.Remove(agent);
        SetAgentState(agent, AgentState.Talking, now);
        var a = _s.Agents[agent];
        a.CurrentCall = call;
        call.Agent = a;
        SetPhase(call, CallPhase.Connected);
        call.ConnectedAt = utcNow;
        Stats.CountConnect((utcNow - HeardFrom(call)).TotalSeconds);
        _control.Connect(call, a);
    }

    private void ExpireWaiting(double now, DateTime utcNow)
    {
        var w = _s.WaitingCalls;
        while (w.Count > 0 && Deadline(w[0]) <= now) SendToSafeHarbor(w[0], now, utcNow);
    }

    /// <summary>Nobody can take this live callee in time: the safe-harbor message, counted as abandoned, and how late past the 2 s it went.</summary>
    private void SendToSafeHarbor(Call call, double now, DateTime utcNow)
    {
        if (call.Phase == CallPhase.Waiting)
        {
            _s.WaitingCalls.Remove(call);
            Stats.SafeHarborLateness.Add(Math.Max(0, now - Deadline(call)) * 1000);
        }
        SetPhase(call, CallPhase.SafeHarbor);
        CountAbandon(call, now, utcNow);
        _control.SafeHarbor(call);
    }

    private void HangUp(Call call)
    {
        call.HangupsSent++;
        _control.Hangup(call);
    }

    /// <summary>A command the driver could not carry out: decide so that no callee is left in silence.</summary>
    private void OnCommandFailed(in EngineEvent e, double now, DateTime utcNow, DateTime at)
    {
        Stats.CommandFailures[(int)e.Command]++;
        if (!_calls.TryGetValue(e.CallId, out var call)) return; // already over
        switch (e.Command)
        {
            case CallCommand.Originate when call.Phase == CallPhase.Ringing:
                // It never reached the network: Asterisk's trouble, not the lead's, so the attempt is given back.
                call.NeverPlaced = true;
                _s.Calibration.Unplaced(Seconds(call.PlacedAt), call.PLive);
                OnEnded(call.Id, CallOutcome.Congestion, 0, now, at);
                break;
            case CallCommand.Continue when call.Phase == CallPhase.Ringing:
                // AMD never gave its verdict: whoever answered may be a person, so treat them as one.
                OnAnswered(call.Id, human: true, now, utcNow, at);
                break;
            case CallCommand.Connect when call.Phase == CallPhase.Connected:
                Reconnect(call, now, utcNow);
                break;
            case CallCommand.SafeHarbor when call.Phase == CallPhase.SafeHarbor:
                HangUp(call); // no message could be played: end it now (it already counts as abandoned)
                break;
            case CallCommand.Hangup:
                if (call.HangupsSent < MaxHangups) HangUp(call);
                else Stats.HangupsGivenUp++; // the driver's reconciliation ends it when Asterisk shows it gone
                break;
        }
    }

    /// <summary>Hang-up commands sent per call before the engine leaves it to the driver's reconciliation.</summary>
    public const int MaxHangups = 3;

    /// <summary>Bridges tried again to the same agent, when no other is free, before the callee waits for one (a failure past
    /// the client's own retries is most often Asterisk's passing trouble, not the agent's line).</summary>
    public const int MaxBridgeRetries = 3;

    /// <summary>
    /// The bridge to the reserved agent failed: another free agent within the callee's 2 s, else the same one again (a few
    /// times), else the callee waits for one until the deadline, then safe harbor.
    /// </summary>
    private void Reconnect(Call call, double now, DateTime utcNow)
    {
        var failed = call.Agent!.Index;
        Stats.UncountConnect((call.ConnectedAt!.Value - HeardFrom(call)).TotalSeconds);
        call.Agent.CurrentCall = null;
        call.Agent = null;
        call.ConnectedAt = null;
        // The agent never talked: back to ready (a dead line is the driver's to log out), for this callee only if no one else is free;
        // one who asked to pause or leave after this call goes now.
        var leaving = _logoutAfterCall[failed] || _pauseAfterCall[failed] is not null;
        if (leaving) EndTalk(failed, now);
        else SetAgentState(failed, AgentState.Ready, now);
        var inTime = Deadline(call) > now;
        var agent = inTime ? _router.PickLongestIdle(call.Lead.Requirement) : -1;
        if (!leaving) _router.MarkReady(failed, now);
        if (agent < 0 && inTime && !leaving && ++call.BridgesFailed <= MaxBridgeRetries) agent = failed;
        if (agent >= 0) Connect(call, agent, now, utcNow);
        else if (Deadline(call) > now) Wait(call, now, utcNow);
        else SendToSafeHarbor(call, now, utcNow);
    }

    private void CountAbandon(Call call, double now, DateTime utcNow)
    {
        Stats.CountAbandoned(utcNow);
        Stats.TrunkAbandoned[call.Trunk]++;
        // A preview call's answer never entered the ledger (only a failed bridge can strand its callee): neither does this.
        if (call.ReservedFor is null) _s.Ledger.Abandoned(utcNow);
        _s.DroppedLastMinute.Add((long)now);
    }

    private void OnEnded(long id, CallOutcome unanswered, int cause, double now, DateTime utcNow)
    {
        if (!_calls.TryGetValue(id, out var call) || call.AwaitingStore) return; // its row is not written yet: it ends once it is
        _calls.Remove(id);
        var floor = call.ConnectedAt ?? call.AnsweredAt ?? call.PlacedAt;
        if (utcNow < floor) utcNow = floor;
        call.Cause = cause;
        call.EndedAt = utcNow;
        CallOutcome outcome;
        switch (call.Phase)
        {
            case CallPhase.Ringing:
                _s.RemoveRinging(call);
                if (call.NeverPlaced)
                {
                    // Called off, or refused, before it reached the network: the lead keeps its attempt.
                    call.NeverPlaced = true;
                    call.Lead.Attempts--;
                    call.Lead.AttemptsToday--;
                    outcome = CallOutcome.Congestion;
                    break;
                }
                if (unanswered == CallOutcome.Abandoned)
                {
                    // The driver saw the callee answer (Asterisk's fact) before any answer reached the engine: in AMD when a
                    // command failed or the stop came, called off or not. They heard nobody: a live answer, abandoned.
                    call.AnsweredAt = utcNow;
                    _predictor.Observe(call.Lead, call.PlacedAt, true);
                    if (call.ReservedFor is null) CountLiveAnswer(call, (utcNow - call.PlacedAt).TotalSeconds, utcNow);
                    else
                    {
                        Stats.CountLive(utcNow); // a preview call's answer stays out of the ledger and forecasts, as when it is bridged
                        Stats.TrunkLive[call.Trunk]++;
                    }
                    CountAbandon(call, now, utcNow);
                    outcome = CallOutcome.Abandoned;
                    break;
                }
                if (!call.Cancelled) _predictor.Observe(call.Lead, call.PlacedAt, false);
                outcome = call.Cancelled ? CallOutcome.NoAnswer
                    : unanswered is CallOutcome.None or CallOutcome.Human ? CallOutcomes.FromQ850(cause) : unanswered;
                if (call.ReservedFor is null) _s.OtherRingTime.Observe((utcNow - call.PlacedAt).TotalSeconds);
                break;
            case CallPhase.Script:
                _s.InScript--;
                outcome = call.AnsweredByMachine ? CallOutcome.Machine : CallOutcome.Human; // a message left on a machine is a machine answer
                break;
            case CallPhase.Waiting: // the callee gave up before anyone reached them
                _s.WaitingCalls.Remove(call);
                CountAbandon(call, now, utcNow);
                outcome = CallOutcome.Abandoned;
                break;
            case CallPhase.Connected:
                // The driver saw the callee go without ever reaching the agent's bridge, or reach it past their 2 s (a slow
                // or failing Asterisk): an abandoned call by the rule, counted now.
                outcome = unanswered == CallOutcome.Abandoned ? CallOutcome.Abandoned : CallOutcome.Human;
                if (outcome == CallOutcome.Abandoned) CountAbandon(call, now, utcNow);
                _s.TalkTime.Observe((utcNow - call.ConnectedAt!.Value).TotalSeconds);
                EndTalk(call.Agent!.Index, now);
                break;
            case CallPhase.SafeHarbor:
                outcome = CallOutcome.Abandoned;
                break;
            default:
                outcome = CallOutcome.Machine;
                break;
        }
        // A preview call that never reached its agent (no answer, busy, machine) frees them.
        if (call.ReservedFor is { } reserved && reserved.State == AgentState.Previewing && reserved.CurrentCall == call) ReadyAgain(reserved.Index, now);
        SetPhase(call, CallPhase.Ended);
        call.Outcome = outcome;
        _trunks.Release(call.Trunk);
        if (double.IsPositiveInfinity(_retryPlacementAt)) _retryPlacementAt = double.NegativeInfinity; // the channel a lead waited for
        _s.FreeChannels++;
        if (call.AnsweredAt is { } answered)
            call.Cost = _trunks.RateOf(call.Trunk, call.Lead.Phone) / 60 * (utcNow - answered).TotalSeconds;
        Stats.Outcomes[(int)outcome]++;
        if (call.Script is { } script) Stats.CountScript(script);
        Stats.TrunkCalls[call.Trunk]++;
        Stats.TrunkCost[call.Trunk] += call.Cost;
        call.Lead.LastOutcome = outcome;
        _leads.Finished(call.Lead, outcome, utcNow);
        _log?.Finished(call);
    }

    // ---- agents --------------------------------------------------------------------------------

    private void EndTalk(int agent, double now)
    {
        _s.Agents[agent].CurrentCall = null;
        if (_logoutAfterCall[agent])
        {
            _logoutAfterCall[agent] = false;
            _pauseAfterCall[agent] = null;
            _s.Leaving[agent] = false;
            SetAgentState(agent, AgentState.LoggedOut, now);
        }
        else SetAgentState(agent, AgentState.WrapUp, now);
    }

    private void OnAgentAvailable(int agent, double now, bool login)
    {
        if ((uint)agent >= (uint)_s.Agents.Count) return;
        var st = _s.AgentStates[agent];
        if (login && _logoutAfterCall[agent])
        {
            _logoutAfterCall[agent] = false; // logged back in before the call ended: the logout never happens
            _s.Leaving[agent] = _pauseAfterCall[agent] is not null;
            return;
        }
        if (!login && st == AgentState.WrapUp && _pauseAfterCall[agent] is { } reason)
        {
            OnAgentPause(agent, reason, now); // wrap-up done, the requested break starts
            return;
        }
        // Login only from logged out; ready only from wrap-up or pause. Anything else is a stale event.
        if (login ? st != AgentState.LoggedOut : st is not (AgentState.WrapUp or AgentState.Paused)) return;
        if (st == AgentState.WrapUp) _s.WrapTime.Observe(now - _s.AgentSince[agent]);
        if (st == AgentState.Paused) _s.PauseTime.Observe(now - _s.AgentSince[agent]);
        var utcNow = _s.UtcNow;
        // A live callee already waiting gets this agent at once, oldest first.
        foreach (var call in _s.WaitingCalls)
        {
            if (!_router.CanTake(agent, call.Lead.Requirement)) continue;
            _s.WaitingCalls.Remove(call);
            _router.MarkReady(agent, now); // Connect expects a ready agent
            Connect(call, agent, now, utcNow);
            return;
        }
        SetAgentState(agent, AgentState.Ready, now);
        _router.MarkReady(agent, now);
    }

    private void OnAgentPause(int agent, string reason, double now)
    {
        if ((uint)agent >= (uint)_s.Agents.Count) return;
        var st = _s.AgentStates[agent];
        if (st == AgentState.LoggedOut || LeavePreview(agent, logout: false, reason, now)) return;
        if (st == AgentState.Talking)
        {
            // "Pause after this call": taken when wrap-up ends; meanwhile the agent is no longer supply.
            _pauseAfterCall[agent] = reason;
            _s.Leaving[agent] = true;
            return;
        }
        if (st == AgentState.WrapUp) _s.WrapTime.Observe(now - _s.AgentSince[agent]);
        _pauseAfterCall[agent] = null;
        _s.Leaving[agent] = _logoutAfterCall[agent];
        _router.Remove(agent);
        _s.Agents[agent].PauseReason = reason;
        SetAgentState(agent, AgentState.Paused, now);
    }

    private void OnAgentLogout(int agent, double now)
    {
        if ((uint)agent >= (uint)_s.Agents.Count) return;
        var st = _s.AgentStates[agent];
        if (st == AgentState.LoggedOut) return;
        if (LeavePreview(agent, logout: true, null, now)) { }
        else if (st == AgentState.Talking) _logoutAfterCall[agent] = _s.Leaving[agent] = true;
        else
        {
            _router.Remove(agent);
            SetAgentState(agent, AgentState.LoggedOut, now);
        }
        if (StayingAgents() == 0 && !_s.Config.Agentless) CancelRinging(); // agentless calls need no agent (a transfer finds none, or waits)
    }

    private int StayingAgents()
    {
        var n = _s.LoggedIn;
        foreach (var leaving in _logoutAfterCall)
            if (leaving) n--;
        return n;
    }

    /// <summary>The last agent is leaving: a callee who answered now would meet nobody, so stop the ringing calls.</summary>
    private void CancelRinging()
    {
        for (var i = 0; i < _s.Ringing; i++)
        {
            var call = _s.RingingCalls[i];
            if (call.Cancelled) continue;
            call.Cancelled = true;
            if (!call.AwaitingStore) HangUp(call); // one not yet originated ends when its row is stored
        }
    }

    private void SetAgentState(int agent, AgentState to, double now)
    {
        Account(agent, now);
        var a = _s.Agents[agent];
        a.State = to;
        a.StateSince = _s.Epoch.AddSeconds(now);
        if (to != AgentState.Paused) a.PauseReason = null;
        _s.SetAgentState(agent, to, now);
        AgentStateChanged?.Invoke(a);
    }

    /// <summary>Adds the time since the agent's last change to the stats, and restarts the interval.</summary>
    private void Account(int agent, double now)
    {
        var st = _s.AgentStates[agent];
        var dt = now - _s.AgentSince[agent];
        Stats.AgentSeconds[(int)st] += dt;
        if (st != AgentState.LoggedOut) Stats.AgentLoggedInSeconds[agent] += dt;
        _s.AgentSince[agent] = now;
    }
}

/// <summary>What an engine is built from.</summary>
public sealed class EngineSetup
{
    public required CampaignConfig Campaign { get; init; }
    public required IReadOnlyList<Agent> Agents { get; init; }
    public required IReadOnlyList<TrunkConfig> Trunks { get; init; }
    public required IPacer Pacer { get; init; }
    public required ICallControl Control { get; init; }
    public required ILeadSource Leads { get; init; }
    public required IAnswerPredictor Predictor { get; init; }
    public IAttemptLog? Log { get; init; }
    /// <summary>First call id; a restarted engine continues after the highest id its store knows.</summary>
    public long FirstCallId { get; init; } = 1;
    /// <summary>Node and campaign, carried in every channel id (the ARI driver's must be the same).</summary>
    public ChannelOwner Owner { get; init; } = ChannelOwner.Default;
    /// <summary>Where preview offers go; required when the campaign previews leads.</summary>
    public IPreviewDesk? Desk { get; init; }
}
