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
public sealed record Recovery(ReconcileReport Attempts, int Adopted, int HungUp);

public sealed partial class CampaignEngine
{
    /// <summary>A call found still bridged to an agent, with the open attempt it belongs to and Asterisk's time of its answer (null: not known).</summary>
    private sealed record Adoption(OpenAttempt Attempt, ChannelOwner Owner, int Agent, string Server, DateTime? AnsweredAt);

    /// <summary>
    /// Settles what <paramref name="owners"/> (this node, and the dead nodes whose campaign it takes over) left in Asterisk
    /// and in the store, before the first new call. From each server's channels and bridges: a customer call still in an
    /// agent's bridge with the agent's phone, whose attempt is open, is adopted (returned: engine and driver take it on; its
    /// attempt stays open and is closed with its outcome when it ends). Agent phones are left to the driver, which takes
    /// back every line still in its bridge (<see cref="AriDriver"/>'s reconciliation). Every other call channel of these
    /// owners is hung up: nobody can own it. One that was up outside any agent's bridge was a live callee nobody reached
    /// (waiting, in safe harbor, in AMD: counted the safe way): its attempt closes as abandoned, so the abandon ledger seeded
    /// from the store counts it. All other open attempts close as network trouble. Ids of other nodes and campaigns are never
    /// touched. A hang-up that fails is logged: the driver's reconciliation hangs up any channel of ours it does not follow.
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
        foreach (var s in servers)
        {
            var channels = (await s.ListChannelsAsync(ct)).ToDictionary(c => c.Id, StringComparer.Ordinal);
            var bridged = new Dictionary<string, int>(StringComparer.Ordinal); // call channel → the agent talking to it (-1: none left)
            foreach (var b in await s.ListBridgesAsync(ct))
            {
                if (!agentOfBridge.TryGetValue(b.Id, out var agent)) continue;
                var phoneUp = b.Channels.Any(id => channels.TryGetValue(id, out var ch) && ch.State == ChannelState.Up
                                                   && (owners.OwnerOf(id, out var p) is null || p.Kind == ChannelKind.Agent));
                foreach (var id in b.Channels)
                    if (owners.OwnerOf(id, out var p) is not null && p.Kind == ChannelKind.Call) bridged[id] = phoneUp ? agent : -1;
            }
            foreach (var ch in channels.Values)
            {
                if (owners.OwnerOf(ch.Id, out var parsed) is not { } owner || parsed.Kind is ChannelKind.Agent) continue;
                if (parsed.Kind == ChannelKind.Call && bridged.TryGetValue(ch.Id, out var agent) && agent >= 0 && open.TryGetValue(ch.Id, out var attempt)
                    && (uint)attempt.Trunk < (uint)telephony.Trunks.Count && driver.AgentServerId(agent) == s.ServerId && busy.Add(agent))
                {
                    adopt.Add(new Adoption(attempt, owner, agent, s.ServerId, await AnswerTimeAsync(s, ch.Id, log, ct)));
                    continue;
                }
                if (parsed.Kind == ChannelKind.Call && ch.State == ChannelState.Up && !bridged.ContainsKey(ch.Id)) abandoned.Add(ch.Id);
                try
                {
                    await s.HangupAsync(ch.Id, ct: ct);
                    hungUp++;
                }
                catch (AriException e) { log($"recovery: hanging up {ch.Id} on '{s.ServerId}' failed: {e.Message}"); }
            }
        }
        var kept = adopt.Select(a => a.Attempt.ChannelId).ToHashSet(StringComparer.Ordinal);
        var report = attempts.Reconcile(kept, config, DateTime.UtcNow, nodes, abandoned);
        return (new Recovery(report, adopt.Count, hungUp), adopt);
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
