using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;

namespace Dialer.Api;

/// <summary>One trunk as a campaign's engine uses it, by name.</summary>
public sealed record TrunkSnapshot(string Name, long Placed, long Live, long Machine, long Abandoned, int InUse, int Channels, bool Available, int[] ByPhase);

/// <summary>One agent seat: state, since when (seconds in it), why paused, and the preview offer open to them (id, lead, deadline).</summary>
public sealed record AgentSnapshot(string Id, AgentState State, double SecondsInState, string? PauseReason, (long Id, long Lead, DateTime Deadline)? Offer = null);

/// <summary>
/// What /metrics, the dashboard feed and the alert rules read from one engine, copied on its loop by a single
/// <see cref="Core.Hosting.EngineHost.QueryAsync{T}"/>: nothing here is shared with the engine afterwards.
/// </summary>
public sealed record EngineSnapshot(
    string Pacer, long CallsPlaced, long LiveAnswers, long MachineAnswers, long Abandoned,
    int Ringing, int Waiting, TrunkSnapshot[] Trunks, int[] Agents, AgentSnapshot[] Seats,
    double AbandonRateToday, double AbandonRate30, double AbandonCap, double DialLevel, long[] AnswerToAgentMs)
{
    /// <summary>How late safe-harbor messages started past the callee's deadline: 99th percentile since the engine started, ms.</summary>
    public double SafeHarborLateP99Ms { get; init; }

    /// <summary>The host's step times (pacing ticks [0], events [1]) in power-of-two microsecond bins, copied on the loop.</summary>
    public long[][] StepMicros { get; init; } = [];

    /// <summary>Each trunk's media quality as the telephony measured it (by trunk index; empty when the engine has no telephony here).</summary>
    public TrunkMedia[] Media { get; init; } = [];

    /// <summary>Calls a person (or machine) is on now, across trunks: by phase, <see cref="CallPhase"/> order.</summary>
    public int CallsIn(CallPhase phase) => Trunks.Sum(t => t.ByPhase[(int)phase]);

    public int AgentsIn(AgentState state) => Agents[(int)state];

    /// <summary>Live answers per call placed since the engine started; 0 before the first call.</summary>
    public double AnswerRate => CallsPlaced == 0 ? 0 : (double)LiveAnswers / CallsPlaced;

    /// <summary>One query on the engine's loop; null when it did not answer within <paramref name="timeout"/> (a stalled loop must not
    /// stall its reader) or stopped or faulted meanwhile.</summary>
    public static async Task<EngineSnapshot?> TryReadAsync(Core.Hosting.EngineHost host, TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try { return await host.QueryAsync(e => Read(e) with { StepMicros = [.. host.StepMicros.Select(b => (long[])b.Clone())] }, limit.Token); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return null; }
        catch (Exception e) when (e is System.Threading.Channels.ChannelClosedException or Core.Hosting.EngineUnavailableException) { return null; }
    }

    public static EngineSnapshot Read(DialerEngine e)
    {
        var stats = e.Stats;
        var byPhase = new int[e.Trunks.Count][];
        for (var t = 0; t < byPhase.Length; t++) byPhase[t] = new int[(int)CallPhase.Ended];
        foreach (var call in e.LiveCalls)
            if (call.Phase != CallPhase.Ended) byPhase[call.Trunk][(int)call.Phase]++;
        var trunks = new TrunkSnapshot[byPhase.Length];
        for (var t = 0; t < trunks.Length; t++)
            trunks[t] = new TrunkSnapshot(e.Trunks[t].Name, stats.TrunkPlaced[t], stats.TrunkLive[t], stats.TrunkMachine[t], stats.TrunkAbandoned[t],
                e.Trunks.InUse(t), e.Trunks[t].Channels, e.Trunks.IsAvailable(t), byPhase[t]);
        var s = e.State;
        var agents = new int[Enum.GetValues<AgentState>().Length];
        for (var a = 0; a < agents.Length; a++) agents[a] = s.Count((AgentState)a);
        var now = s.UtcNow;
        var seats = new AgentSnapshot[s.Agents.Count];
        for (var a = 0; a < seats.Length; a++)
        {
            var agent = s.Agents[a];
            seats[a] = new AgentSnapshot(agent.Id, agent.State, Math.Max(0, (now - agent.StateSince).TotalSeconds), agent.PauseReason);
        }
        foreach (var o in e.Offers) seats[o.Agent.Index] = seats[o.Agent.Index] with { Offer = (o.Id, o.Lead.Id, o.Deadline) };
        return new EngineSnapshot(e.PacerName, stats.CallsPlaced, stats.LiveAnswers, stats.MachineAnswers, stats.Abandoned,
            s.Ringing, s.Waiting, trunks, agents, seats, s.Ledger.RateToday, s.Ledger.Rate30, s.Config.AbandonCap, s.DialLevel,
            (long[])stats.AnswerToAgentMs.Clone()) { SafeHarborLateP99Ms = stats.SafeHarborLateness.Percentile(0.99) };
    }
}
