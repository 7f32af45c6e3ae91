using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Modes;
using Dialer.Core.Pacing;
using Dialer.Core.Routing;

namespace Dialer.Sim;

/// <summary>
/// The simulated telephony world in virtual time: carriers, callees and agents as a discrete-event queue,
/// driving the very same <see cref="DialerEngine"/> production runs. It implements <see cref="ICallControl"/>
/// (the engine's commands) and posts <see cref="EngineEvent"/>s back, single-threaded and deterministic.
/// </summary>
public sealed class SimWorld : ICallControl, IPreviewDesk
{
    private enum Kind : byte { Answer, Fail, GiveUp, Hangup, Login, Logout, WrapDone, PauseDone, NewDay, AskPause, PromptDone, KeyPressed, KeyTimeout, ScriptHangup, PreviewDecide }
    private enum Leg : byte { Ringing, Waiting, Connected, Done, Script }

    private sealed class SimCall(Call call, Fate fate)
    {
        public Call Call { get; } = call;
        public Fate Fate { get; } = fate;
        public Leg Leg { get; set; }
        public int Agent { get; set; } = -1;
        public ScriptRun? Run { get; set; }
        /// <summary>The script turn the pending prompt or time-out belongs to.</summary>
        public int Turn { get; set; }
        public char Key { get; set; }
        /// <summary>Questions asked so far (each asking draws its own answer).</summary>
        public int Asked { get; set; }
    }

    private sealed class SimAgent(AgentGroup group)
    {
        public AgentGroup Group { get; } = group;
        public int Calls { get; set; }
        public int Pauses { get; set; }
        public DateTime PauseDue { get; set; } = DateTime.MaxValue;
        public bool PauseAsked { get; set; }
        public DateTime ShiftEnd { get; set; }
        public int Offers { get; set; }
    }

    private readonly PriorityQueue<(Kind Kind, long Id), (DateTime At, long Seq)> _queue = new();
    private readonly Dictionary<long, SimCall> _calls = [];
    private readonly SimAgent[] _agents;
    private readonly Scenario _scenario;
    private readonly ulong _seed;
    private long _seq;
    private DateTime _now;
    private readonly Dictionary<string, Lead>? _callees;
    private readonly Dictionary<long, (PreviewOffer Offer, PreviewChoice Choice)> _offers = [];
    private readonly Action<Call, DateTime>? _refused;

    /// <param name="leadSource">Where leads come from (e.g. the database hopper), given the start time and the
    /// best-time predictor (null unless <paramref name="bestTimeToCall"/>); by default an in-memory hopper over <see cref="Leads"/>.</param>
    /// <param name="firstCallId">First call id (a database attempt log reserves a block).</param>
    /// <param name="resumeAt">Start at this virtual time instead of the first shift's start, as an engine restarted
    /// mid-campaign does: shifts already begun log their agents in at once.</param>
    /// <param name="refused">Sees each refusal the simulated callees give (the call, when), beside the hopper.</param>
    public SimWorld(Scenario scenario, ulong seed, IPacer pacer, IAnswerPredictor predictor, IAttemptLog? log,
        bool bestTimeToCall = false, Func<DateTime, IAnswerPredictor?, ILeadSource>? leadSource = null, long firstCallId = 1, DateTime? resumeAt = null,
        Action<Call, DateTime>? refused = null)
    {
        _scenario = scenario;
        _seed = seed;
        _refused = refused;
        var people = LeadFactory.Create(scenario, seed);
        Callees = new CalleeModel(scenario, seed);
        Leads = people;

        var agents = new List<Agent>();
        var sim = new List<SimAgent>();
        foreach (var g in scenario.Agents)
            for (var i = 0; i < g.Count; i++)
            {
                agents.Add(new Agent { Index = agents.Count, Id = $"{g.Name}-{i + 1:D3}", Skills = g.Skills });
                sim.Add(new SimAgent(g));
            }
        _agents = [.. sim];
        Start = LocalToUtc(scenario.StartDate, scenario.Agents.Min(g => g.ShiftStart));
        if (resumeAt > Start) Start = resumeAt.Value;
        End = LocalToUtc(scenario.StartDate.AddDays(scenario.Days - 1), scenario.Agents.Max(g => g.ShiftEnd));
        _now = Start;
        var bestTime = bestTimeToCall ? predictor : null;
        // The in-memory hopper holds the leads as the importer would store them (tags by the campaign's rules), so a lead's
        // order, routing and features are the store's; the person answering is the one generated.
        LeadSource = leadSource?.Invoke(Start, bestTime) ?? new MemoryHopper(scenario.Campaign, LeadFactory.Imported(scenario, people, Start), Start, bestTime: bestTime);
        // Leads from the store carry the importer's ids: the person answering is the one at the number.
        if (leadSource is not null) _callees = people.GroupBy(l => l.Phone, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        Engine = new DialerEngine(new EngineSetup
        {
            Campaign = scenario.Campaign,
            Agents = agents,
            Trunks = scenario.Trunks,
            Pacer = pacer,
            Control = this,
            Leads = LeadSource,
            Predictor = predictor,
            Log = log,
            FirstCallId = firstCallId,
            Desk = scenario.Preview is null ? null : this,
        }, Start);
        ScheduleShifts();
    }

    public DialerEngine Engine { get; }
    public ILeadSource LeadSource { get; }
    public CalleeModel Callees { get; }
    public IReadOnlyList<Lead> Leads { get; }
    public DateTime Start { get; }
    /// <summary>End of the last shift of the last day; calls still up then are played out, nothing new is dialed.</summary>
    public DateTime End { get; }
    public DateTime Now => _now;

    /// <summary>
    /// Who answers a lead's number: the simulated person it was generated as. A store's copy of the lead has its own id
    /// and the tags the importer gave it, but the callee's behaviour (and so every pacer's traffic) must not depend on that.
    /// </summary>
    public Lead CalleeOf(Lead lead) => _callees is null ? Leads[(int)lead.Id - 1] : _callees.TryGetValue(lead.Phone, out var person) ? person : lead;

    /// <summary>Runs until <paramref name="until"/> (or the end of the last shift).</summary>
    public void RunUntil(DateTime until)
    {
        until = until > End ? End : until;
        while (true)
        {
            var wake = Engine.NextWakeAt;
            var hasEvent = _queue.TryPeek(out _, out var key);
            if (wake <= until && (!hasEvent || wake < key.At))
            {
                _now = wake > _now ? wake : _now;
                Engine.Tick(_now);
                continue;
            }
            if (!hasEvent || key.At > until) break;
            Step();
        }
        if (until > _now) _now = until;
    }

    /// <summary>Plays out the calls still up after the end, then closes the books.</summary>
    public void Finish()
    {
        RunUntil(End);
        while (_queue.TryPeek(out _, out _)) Step();
        Engine.Close(_now);
    }

    private void Step()
    {
        _queue.TryDequeue(out var ev, out var key);
        _now = key.At;
        var (kind, id) = ev;
        switch (kind)
        {
            // A call we hung up while it rang is gone before its fate comes.
            case Kind.Answer: if (_calls.TryGetValue(id, out var answered)) Answer(answered); break;
            case Kind.Fail: if (_calls.TryGetValue(id, out var failed)) EndCall(failed, failed.Fate.Outcome, failed.Fate.Cause); break;
            case Kind.GiveUp:
                if (_calls.TryGetValue(id, out var waiting) && waiting.Leg == Leg.Waiting) EndCall(waiting, CallOutcome.None, 16);
                break;
            case Kind.Hangup: if (_calls.TryGetValue(id, out var up)) Hangup(up); break;
            case Kind.Login: Post(EngineEvent.Login((int)id)); break;
            case Kind.Logout: Post(EngineEvent.Logout((int)id)); break;
            case Kind.WrapDone: WrapDone((int)id); break;
            case Kind.PauseDone: Post(EngineEvent.Ready((int)id)); break;
            case Kind.NewDay: ArmShift((int)id); break;
            case Kind.AskPause:
                _agents[id].PauseAsked = true;
                Post(EngineEvent.Pause((int)id, "break"));
                break;
            case Kind.PromptDone: if (InScript(id) is { } played) Do(played, played.Run!.PromptDone()); break;
            case Kind.KeyPressed: if (InScript(id) is { } pressed) Do(pressed, pressed.Run!.Key(pressed.Key)); break;
            case Kind.KeyTimeout: if (InScript(id) is { } silent) Do(silent, silent.Run!.Timeout(silent.Turn)); break;
            case Kind.ScriptHangup:
                if (InScript(id) is { } gone)
                {
                    gone.Run!.HungUp();
                    Post(EngineEvent.ScriptOver(id, gone.Run.Result));
                    EndCall(gone, CallOutcome.None, 16);
                }
                break;
            case Kind.PreviewDecide:
                if (_offers.Remove(id, out var decided))
                    Post(EngineEvent.Preview(decided.Offer.Agent.Index, id, decided.Choice, "simulated",
                        _now.AddSeconds(_scenario.Preview!.CallbackAfterSeconds)));
                break;
        }
    }

    private SimCall? InScript(long id) => _calls.TryGetValue(id, out var c) && c.Leg == Leg.Script ? c : null;

    /// <summary>Carries out a script action in virtual time; the callee's answers come from the scenario's survey shares.</summary>
    private void Do(SimCall c, ScriptAction a)
    {
        var id = c.Call.Id;
        switch (a.Kind)
        {
            case ScriptActionKind.Play:
                c.Turn = a.Turn;
                At(_now.AddSeconds(a.Prompt!.Seconds), Kind.PromptDone, id);
                break;
            case ScriptActionKind.Listen:
                c.Turn = a.Turn;
                Listen(c, a.Seconds);
                break;
            case ScriptActionKind.Transfer:
                // Waiting for an agent now: patience runs from the key press (the engine's Connect ends the wait).
                c.Leg = Leg.Waiting;
                At(_now.AddSeconds(c.Fate.PatienceSeconds), Kind.GiveUp, id);
                Post(EngineEvent.ScriptOver(id, c.Run!.Result));
                break;
            case ScriptActionKind.HangUp:
                Post(EngineEvent.ScriptOver(id, c.Run!.Result));
                EndCall(c, CallOutcome.None, 16);
                if (c.Run.Result.End == ScriptEnd.OptOut) Refuse(c.Call);
                break;
        }
    }

    private void Listen(SimCall c, double timeout)
    {
        var sv = _scenario.Survey!;
        var stream = Crn.Survey + 3 * Math.Min(c.Asked++, 70);
        double U(int j) => Crn.Uniform(_seed, CalleeOf(c.Call.Lead).Id, c.Call.Attempt, stream + j);
        var u = U(0);
        var think = sv.ThinkSeconds.Sample(U(1));
        if (u < sv.HangUp)
        {
            At(_now.AddSeconds(Math.Min(think, timeout)), Kind.ScriptHangup, c.Call.Id);
            return;
        }
        var key = u < sv.HangUp + sv.NoInput ? (char?)null
            : u < sv.HangUp + sv.NoInput + sv.OptOut ? _scenario.Campaign.Script!.OptOutKey
            : DrawKey(c.Run!.StepId, U(2));
        if (key is null || think >= timeout)
        {
            At(_now.AddSeconds(timeout), Kind.KeyTimeout, c.Call.Id);
            return;
        }
        c.Key = key.Value;
        At(_now.AddSeconds(think), Kind.KeyPressed, c.Call.Id);
    }

    /// <summary>A key by the question's share in the scenario, or any allowed key alike when the scenario gives none.</summary>
    private char DrawKey(string question, double u)
    {
        if (_scenario.Survey!.Answers.TryGetValue(question, out var shares))
        {
            var x = u * shares.Sum(kv => kv.Value);
            foreach (var (key, share) in shares)
                if ((x -= share) < 0) return key;
            return shares[^1].Key;
        }
        var keys = _scenario.Campaign.Script!.Steps[question].Keys.Keys.ToList();
        return keys[Math.Min((int)(u * keys.Count), keys.Count - 1)];
    }

    private void Answer(SimCall c)
    {
        if (c.Fate.Outcome == CallOutcome.Human)
        {
            c.Leg = Leg.Waiting;
            At(_now.AddSeconds(c.Fate.PatienceSeconds), Kind.GiveUp, c.Call.Id);
        }
        Post(EngineEvent.Answered(c.Call.Id, c.Fate.Outcome == CallOutcome.Human));
    }

    private void Hangup(SimCall c)
    {
        var agent = c.Agent;
        EndCall(c, CallOutcome.None, 16);
        if (agent < 0) return;
        if (Crn.Uniform(_seed, CalleeOf(c.Call.Lead).Id, c.Call.Attempt, Crn.Refuse) < _scenario.Callees.RefuseShare) Refuse(c.Call);
        var a = _agents[agent];
        var wrap = a.Group.WrapSeconds.Sample(Crn.Uniform(_seed, -1 - agent, a.Calls++, Crn.Wrap));
        At(_now.AddSeconds(wrap), Kind.WrapDone, agent);
    }

    /// <summary>Wrap-up is done: ready again, or the break asked for during the call begins (the engine knows which).</summary>
    private void WrapDone(int agent)
    {
        var a = _agents[agent];
        if (_now >= a.ShiftEnd) return;
        Post(EngineEvent.Ready(agent));
        if (!a.PauseAsked) return;
        a.PauseAsked = false;
        var minutes = a.Group.PauseMinutes.Sample(Crn.Uniform(_seed, -1 - agent, a.Pauses++, Crn.Pause));
        a.PauseDue = _now.AddMinutes(a.Group.PauseEveryMinutes);
        At(_now.AddMinutes(minutes), Kind.PauseDone, agent);
    }

    private void EndCall(SimCall c, CallOutcome outcome, int cause)
    {
        c.Leg = Leg.Done;
        _calls.Remove(c.Call.Id);
        Post(EngineEvent.Ended(c.Call.Id, outcome, cause));
    }

    /// <summary>
    /// The callee refused further calls (the agent's refusal disposition, or the script's opt-out key): the in-memory hopper
    /// puts the number, and the customer, on its refusal list for the campaign's refusal period, as the store's dispositions do.
    /// A store's hopper learns of none here (the store takes dispositions from agents through its API).
    /// </summary>
    private void Refuse(Call call)
    {
        _refused?.Invoke(call, _now);
        (LeadSource as MemoryHopper)?.Refused(call.Lead, _now.AddDays(_scenario.Settings.RefusalBlockDays()));
    }

    private void Post(EngineEvent e) => Engine.Handle(e, _now);

    // Only a resumed world schedules anything in its past (logins of shifts already begun): that happens now.
    private void At(DateTime at, Kind kind, long id) => _queue.Enqueue((kind, id), (at < _now ? _now : at, _seq++));

    private void ScheduleShifts()
    {
        for (var day = 0; day < _scenario.Days; day++)
        {
            var date = _scenario.StartDate.AddDays(day);
            for (var i = 0; i < _agents.Length; i++)
            {
                var g = _agents[i].Group;
                At(LocalToUtc(date, g.ShiftStart), Kind.Login, i);
                At(LocalToUtc(date, g.ShiftEnd), Kind.Logout, i);
            }
        }
        ArmShift(0);
    }

    /// <summary>Each day's shift end and first break are set when the agent logs in.</summary>
    private void ArmShift(int day)
    {
        var date = _scenario.StartDate.AddDays(day);
        for (var i = 0; i < _agents.Length; i++)
        {
            var a = _agents[i];
            a.ShiftEnd = LocalToUtc(date, a.Group.ShiftEnd);
            if (a.Group.PauseEveryMinutes > 0)
                a.PauseDue = LocalToUtc(date, a.Group.ShiftStart).AddMinutes(a.Group.PauseEveryMinutes * (0.5 + Crn.Uniform(_seed, -1 - i, day, Crn.Pause + 100)));
        }
        if (day + 1 < _scenario.Days) At(LocalToUtc(date.AddDays(1), TimeOnly.MinValue), Kind.NewDay, day + 1);
    }

    private DateTime LocalToUtc(DateOnly date, TimeOnly time) =>
        TimeZoneInfo.ConvertTimeToUtc(date.ToDateTime(time), _scenario.Campaign.TimeZone);

    // ---- ICallControl: the engine's commands -----------------------------------------------------

    void ICallControl.Originate(Call call, TrunkConfig trunk, TimeSpan ringTimeout)
    {
        var fate = Callees.Draw(CalleeOf(call.Lead), call.Attempt, _now, call.Trunk, ringTimeout.TotalSeconds);
        var c = new SimCall(call, fate);
        _calls.Add(call.Id, c);
        var answers = fate.Outcome is CallOutcome.Human or CallOutcome.Machine;
        At(_now.AddSeconds(fate.At), answers ? Kind.Answer : Kind.Fail, call.Id);
    }

    void ICallControl.Connect(Call call, Agent agent)
    {
        var c = _calls[call.Id];
        c.Leg = Leg.Connected;
        c.Agent = agent.Index;
        At(_now.AddSeconds(c.Fate.TalkSeconds), Kind.Hangup, call.Id);
        // A break that is due is asked for during the call ("pause after this call"), as agents do.
        if (_now >= _agents[agent.Index].PauseDue) At(_now, Kind.AskPause, agent.Index);
    }

    void ICallControl.SafeHarbor(Call call)
    {
        // The callee hung up as their 2 s ran out (after the last shift no tick marks the deadline, so the hang-up event
        // finds it first): there is nobody to play the message to, and the end event on its way closes the call.
        if (!_calls.TryGetValue(call.Id, out var c)) return;
        c.Leg = Leg.Connected; // the callee hears the message; patience no longer matters
        At(_now.AddSeconds(_scenario.Callees.SafeHarborMessageSeconds), Kind.Hangup, call.Id);
    }

    void ICallControl.Hangup(Call call) => At(_now, Kind.Hangup, call.Id);

    void ICallControl.RunScript(Call call, ScriptRun run)
    {
        var c = _calls[call.Id];
        c.Leg = Leg.Script; // the callee's patience is for waiting on an agent, not for a script
        c.Run = run;
        Do(c, run.Start());
    }

    // ---- IPreviewDesk: agents decide on offers ----------------------------------------------------------

    void IPreviewDesk.Offer(PreviewOffer offer)
    {
        var p = _scenario.Preview!;
        var agent = offer.Agent.Index;
        var n = _agents[agent].Offers++;
        var u = Crn.Uniform(_seed, -1 - agent, n, Crn.Preview);
        var decide = p.DecideSeconds.Sample(Crn.Uniform(_seed, -1 - agent, n, Crn.PreviewTime));
        var timeout = (offer.Deadline - offer.OfferedAt).TotalSeconds;
        PreviewChoice? choice = u < p.Accept ? PreviewChoice.Accept : u < p.Accept + p.Skip ? PreviewChoice.Skip
            : u < p.Accept + p.Skip + p.Callback ? PreviewChoice.Callback : null;
        if (choice is null || decide >= timeout)
        {
            // Away from the desk: the engine pauses them at the time-out; they are back a minute after it.
            At(offer.Deadline.AddMinutes(1), Kind.PauseDone, agent);
            return;
        }
        _offers[offer.Id] = (offer, choice.Value);
        At(_now.AddSeconds(decide), Kind.PreviewDecide, offer.Id);
    }

    void IPreviewDesk.Withdraw(PreviewOffer offer, string reason) => _offers.Remove(offer.Id);
}
