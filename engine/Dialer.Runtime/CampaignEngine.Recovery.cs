using System.Globalization;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Store;

namespace Dialer.Runtime;

/// <summary>What start-up recovery did with what the last process (or the dead nodes taken over) left behind.</summary>
/// <param name="Attempts">The open attempts settled: closed (call gone or hung up now), kept open (adopted), leases freed.</param>
/// <param name="Adopted">Customer calls still bridged to an agent: they go on, and close normally when they end.</param>
/// <param name="HungUp">Channels nobody can own (callees without an agent, half-set-up calls, inter-server legs), hung up.</param>
/// <param name="BridgesDeleted">Bridges of these owners left holding nothing kept (a dead owner's inter-server and agent bridges), deleted.</param>
public sealed record Recovery(ReconcileReport Attempts, int Adopted, int HungUp, int BridgesDeleted);

public sealed partial class CampaignEngine
{
    /// <summary>A call found still bridged to an agent, with the open attempt it belongs to and Asterisk's time of its answer (null: not known).</summary>
    private sealed record Adoption(OpenAttempt Attempt, ChannelOwner Owner, int Agent, string Server, DateTime? AnsweredAt);

    /// <summary>
    /// Settles what <paramref name="owners"/> (this node, and the dead nodes whose campaign it takes over) left in Asterisk
    /// and in the store, before the first new call. From each server's channels and bridges: a customer call still in an
    /// agent's bridge with the agent's phone, whose attempt is open, is adopted (returned: engine and driver take it on; its
    /// attempt stays open and is closed with its outcome when it ends). So is a customer call in its own bridge with an
    /// inter-server leg, whose agent (named by the leg) is still up in their bridge on their server beside that leg: the leg is
    /// kept with it. Agent phones are left to the driver, which takes
    /// back every line still in its bridge (<see cref="AriDriver"/>'s reconciliation). Every other call channel of these
    /// owners is hung up: nobody can own it. One that was up outside any agent's bridge was a live callee nobody reached
    /// (waiting, in safe harbor, in AMD: counted the safe way): its attempt closes as abandoned, so the abandon ledger seeded
    /// from the store counts it. All other open attempts close as network trouble. Ids of other nodes and campaigns are never
    /// touched. A hang-up that fails is logged: the driver's reconciliation hangs up any channel of ours it does not follow.
    /// Bridges of these owners that hold nothing left (Asterisk keeps an ARI bridge until it is deleted: a dead owner's
    /// inter-server bridges stayed empty after every node stopped) are deleted, but for this node's own agent bridges, which
    /// its agents' lines use again; one with a channel still in it (an agent line to take back, a call kept) stays.
    /// </summary>
    private static async Task<(Recovery Report, List<Adoption> Adopt)> ReconcileAsync(DbAttemptLog attempts, CampaignConfig config, Telephony telephony,
        AriDriver driver, IReadOnlyList<AriClient> servers, ChannelOwners owners, Action<string> log, CancellationToken ct)
    {
        var agents = telephony.Agents;
        var nodes = owners.All.Select(o => o.Node).ToList();
        var open = attempts.Open(nodes).ToDictionary(a => a.ChannelId, StringComparer.Ordinal);
        var agentOfBridge = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var o in owners.All)
            foreach (var a in agents) agentOfBridge[o.AgentBridge(a.Id)] = a.Index;
        var adopt = new List<Adoption>();
        var busy = new HashSet<int>();
        var abandoned = new HashSet<string>(StringComparer.Ordinal);
        var hungUp = 0;
        var bridgesDeleted = 0;
        var seen = new List<(AriClient Server, Dictionary<string, AriChannel> Channels, IReadOnlyList<AriBridge> Bridges)>(servers.Count);
        foreach (var s in servers)
            seen.Add((s, (await s.ListChannelsAsync(ct)).ToDictionary(c => c.Id, StringComparer.Ordinal), await s.ListBridgesAsync(ct)));
        // Agents whose phone is up in their bridge beside another channel up that is none of our calls: on a call through an
        // inter-server leg from the server of its callee.
        var talkingOverLeg = new HashSet<int>();
        foreach (var (s, channels, bridges) in seen)
            foreach (var b in bridges)
                if (agentOfBridge.TryGetValue(b.Id, out var agent) && driver.AgentServerId(agent) == s.ServerId
                    && b.Channels.Count(id => channels.TryGetValue(id, out var ch) && ch.State == ChannelState.Up
                                              && (owners.OwnerOf(id, out var p) is null || p.Kind == ChannelKind.Agent)) >= 2)
                    talkingOverLeg.Add(agent);
        foreach (var (s, channels, bridges) in seen)
        {
            var bridged = new Dictionary<string, int>(StringComparer.Ordinal); // call channel → the agent talking to it (-1: none left)
            var legs = new HashSet<string>(StringComparer.Ordinal); // inter-server legs of calls kept
            foreach (var b in bridges)
            {
                if (agentOfBridge.TryGetValue(b.Id, out var agent))
                {
                    var phoneUp = b.Channels.Any(id => channels.TryGetValue(id, out var ch) && ch.State == ChannelState.Up
                                                       && (owners.OwnerOf(id, out var p) is null || p.Kind == ChannelKind.Agent));
                    var here = driver.AgentServerId(agent) == s.ServerId; // a bridge of theirs left on another server holds no conversation of theirs
                    foreach (var id in b.Channels)
                        if (owners.OwnerOf(id, out var p) is not null && p.Kind == ChannelKind.Call) bridged[id] = phoneUp && here ? agent : -1;
                }
                else if (owners.OwnerOf(b.Id, out var xb) is { } owner && xb.Kind == ChannelKind.XferBridge
                         && await FarAgentAsync(s, b, channels, owner.Call(xb.CallId), owner.Xfer(xb.CallId), agents, log, ct) is { } far)
                {
                    // The callee with the leg to an agent on another server: kept while that agent is still on it there.
                    bridged[owner.Call(xb.CallId)] = talkingOverLeg.Contains(far) && driver.AgentServerId(far) != s.ServerId ? far : -1;
                    legs.Add(owner.Xfer(xb.CallId));
                }
            }
            var keep = new HashSet<string>(StringComparer.Ordinal); // the calls adopted here, and their inter-server legs
            foreach (var ch in channels.Values)
                if (owners.OwnerOf(ch.Id, out var parsed) is { } owner && parsed.Kind == ChannelKind.Call && bridged.TryGetValue(ch.Id, out var agent) && agent >= 0
                    && open.TryGetValue(ch.Id, out var attempt) && (uint)attempt.Trunk < (uint)telephony.Trunks.Count && busy.Add(agent))
                {
                    adopt.Add(new Adoption(attempt, owner, agent, s.ServerId, await AnswerTimeAsync(s, ch.Id, log, ct)));
                    keep.Add(ch.Id);
                    if (legs.Contains(owner.Xfer(parsed.CallId))) keep.Add(owner.Xfer(parsed.CallId));
                }
            var gone = new HashSet<string>(StringComparer.Ordinal);
            foreach (var ch in channels.Values)
            {
                if (owners.OwnerOf(ch.Id, out var parsed) is null || parsed.Kind is ChannelKind.Agent || keep.Contains(ch.Id)) continue;
                if (parsed.Kind == ChannelKind.Call && ch.State == ChannelState.Up && !bridged.ContainsKey(ch.Id)) abandoned.Add(ch.Id);
                gone.Add(ch.Id);
                try
                {
                    await s.HangupAsync(ch.Id, ct: ct);
                    hungUp++;
                }
                catch (AriException e) { log($"recovery: hanging up {ch.Id} on '{s.ServerId}' failed: {e.Message}"); }
            }
            foreach (var b in bridges)
            {
                if (owners.OwnerOf(b.Id, out var parsed) is not { } owner || owner == owners.Self && parsed.Kind == ChannelKind.AgentBridge
                    || b.Channels.Any(id => channels.ContainsKey(id) && !gone.Contains(id))) continue;
                try
                {
                    await s.DeleteBridgeAsync(b.Id, ct);
                    bridgesDeleted++;
                }
                catch (AriException e) { log($"recovery: deleting bridge {b.Id} on '{s.ServerId}' failed: {e.Message}"); }
            }
        }
        var kept = adopt.Select(a => a.Attempt.ChannelId).ToHashSet(StringComparer.Ordinal);
        var report = attempts.Reconcile(kept, config, DateTime.UtcNow, nodes, abandoned);
        return (new Recovery(report, adopt.Count, hungUp, bridgesDeleted), adopt);
    }

    /// <summary>
    /// The agent a callee in its own bridge is talking to over an inter-server leg: the callee and the leg both up in it, and the
    /// leg's <see cref="AriDriver.XferAgentVariable"/> naming a configured agent. Null for anything else (a leg still ringing,
    /// the callee alone, the variable unreadable).
    /// </summary>
    private static async Task<int?> FarAgentAsync(AriClient server, AriBridge bridge, Dictionary<string, AriChannel> channels, string call, string leg,
        IReadOnlyList<Agent> agents, Action<string> log, CancellationToken ct)
    {
        bool Up(string id) => bridge.Channels.Contains(id) && channels.TryGetValue(id, out var ch) && ch.State == ChannelState.Up;
        if (!Up(call) || !Up(leg)) return null;
        string? agentId;
        try { agentId = await server.GetVariableAsync(leg, AriDriver.XferAgentVariable, ct); }
        catch (AriException e)
        {
            log($"recovery: the agent of inter-server leg {leg} on '{server.ServerId}' could not be read ({e.Message}): its callee is hung up");
            return null;
        }
        return agents.FirstOrDefault(a => a.Id == agentId)?.Index;
    }

    /// <summary>
    /// Asterisk's time of the channel's answer: its CDR's (<c>CDR(answer,u)</c>, epoch seconds with microseconds), as the
    /// channel list says nothing of it. Null when it cannot say (the read failed, no CDR module, zero): the adoption's time stands in.
    /// </summary>
    private static async Task<DateTime?> AnswerTimeAsync(AriClient server, string channelId, Action<string> log, CancellationToken ct)
    {
        string? raw;
        try { raw = await server.GetVariableAsync(channelId, "CDR(answer,u)", ct); }
        catch (AriException e)
        {
            log($"recovery: the answer time of {channelId} on '{server.ServerId}' could not be read ({e.Message}): the adoption's time stands in");
            return null;
        }
        return decimal.TryParse(raw, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var epoch) && epoch > 0
            ? DateTime.UnixEpoch.AddTicks((long)(epoch * TimeSpan.TicksPerSecond)) : null;
    }

    /// <summary>
    /// The engine and the driver take on the calls recovery found still bridged: connected, their agents talking; each attempt
    /// row gets its answer (and connect) time and agent now, not only when the call ends. A store failing that write fails the
    /// start, as the reconciliation's own write does.
    /// </summary>
    private static void Adopt(DialerEngine engine, AriDriver driver, DbLeadSource leads, DbAttemptLog attempts, IReadOnlyList<Agent> agents, List<Adoption> adopt,
        DateTime utcNow)
    {
        var byId = leads.Load(adopt.Select(a => a.Attempt.LeadId).ToList());
        var calls = new List<Call>(adopt.Count);
        foreach (var a in adopt)
        {
            var lead = byId[a.Attempt.LeadId]; // an attempt's lead always exists (foreign key)
            var call = engine.AdoptCall(a.Attempt.Id, a.Owner, lead, a.Attempt.AttemptNo, a.Attempt.Trunk, a.Attempt.PlacedAt, a.AnsweredAt ?? utcNow, a.Agent, utcNow);
            engine.State.Ledger.Live(utcNow); // the store had no outcome for it yet: the ledger seeded from it did not count this live answer
            driver.AdoptCall(call, agents[a.Agent], a.Server);
            calls.Add(call);
        }
        attempts.Adopted(calls);
    }
}
