using System.Globalization;
using Dialer.Ari.Client;
using Dialer.Ari.Driver;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Core.Pacing;

namespace Dialer.Ari.Cli;

/// <summary>What the engine is built from, as the engine's config loader produces it (everything but the control).</summary>
public sealed record EngineParts(
    CampaignConfig Campaign,
    IReadOnlyList<Agent> Agents,
    IReadOnlyList<TrunkConfig> Trunks,
    IPacer Pacer,
    ILeadSource Leads,
    IAnswerPredictor Predictor,
    IAttemptLog? Log = null);

/// <summary><c>dialer run</c>: the engine in real time on one or more Asterisk servers, with a live status line.</summary>
public static class AriRunner
{
    public static async Task RunAsync(RunConfig config, TextWriter output, TimeSpan statusEvery, CancellationToken ct)
    {
        var parts = config.Engine;
        var clients = config.Servers.Select(o => new AriClient(o) { Log = m => output.WriteLine(m) }).ToList();
        EngineHost? host = null;
        var driver = new AriDriver(config.Driver, clients, parts.Trunks, parts.Agents,
            e => host!.PostAsync(e),
            (t, on) => _ = host!.QueryAsync(e => { e.Trunks.SetAvailable(t, on); return 0; }))
        { Log = m => output.WriteLine(m) };
        var engine = new DialerEngine(new EngineSetup
        {
            Campaign = parts.Campaign, Agents = parts.Agents, Trunks = parts.Trunks, Pacer = parts.Pacer, Control = driver,
            Leads = parts.Leads, Predictor = parts.Predictor, Log = parts.Log,
        }, DateTime.UtcNow);
        host = new EngineHost(engine, TimeProvider.System);
        output.WriteLine($"dialer run: campaign '{parts.Campaign.Name}', pacer {parts.Pacer.Name}, {parts.Agents.Count} agents, " +
                         $"{parts.Trunks.Count} trunks; connecting to ARI {string.Join(", ", clients.Select(c => $"{c.ServerId}={c.Options.BaseUri}"))}");
        await driver.StartAsync(ct); // no call before the events flow: its first events would be lost
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var loop = Task.Run(() => host.RunAsync(stop.Token));
        try
        {
            using var timer = new PeriodicTimer(statusEvery);
            while (await timer.WaitForNextTickAsync(ct))
                output.WriteLine(await host.QueryAsync(e => StatusLine(e, driver, clients), ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        // Stop deciding first (no call may be placed while we hang up), then hang up every call and agent line.
        await stop.CancelAsync();
        try { await loop; }
        catch (OperationCanceledException) { }
        output.WriteLine(StatusLine(engine, driver, clients));
        output.WriteLine($"dialer run: stopping: hanging up {driver.LiveCalls} calls and {driver.AgentsConnected} agent lines");
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5))) await driver.StopAsync(grace.Token);
        await driver.DisposeAsync();
    }

    /// <summary>One line of live status: dial level, calls in flight, agents by state, abandon rate, ARI health.</summary>
    public static string StatusLine(DialerEngine e, AriDriver driver, IReadOnlyList<AriClient> servers)
    {
        var s = e.State;
        var st = e.Stats;
        var ready = s.Count(AgentState.Ready);
        var dialLevel = s.Ringing / (double)Math.Max(1, ready + s.Count(AgentState.Talking) + s.Count(AgentState.WrapUp));
        var abandonRate = st.LiveAnswers == 0 ? 0 : (double)st.Abandoned / st.LiveAnswers;
        var trunks = string.Join(" ", Enumerable.Range(0, e.Trunks.Count).Select(t =>
            $"{e.Trunks[t].Name}:{e.Trunks.InUse(t)}{(e.Trunks.IsAvailable(t) ? "" : "(out)")}"));
        var ari = string.Join(" ", servers.Select(c => $"{c.ServerId}:{(c.IsConnected ? "up" : "DOWN")}"));
        return string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.UtcNow:HH:mm:ss} dial level {dialLevel:0.00} | in flight {s.InFlight} (ringing {s.Ringing}, waiting {s.Waiting}) | " +
            $"agents ready {ready} talking {s.Count(AgentState.Talking)} wrap {s.Count(AgentState.WrapUp)} paused {s.Count(AgentState.Paused)} " +
            $"out {s.Count(AgentState.LoggedOut)} | placed {st.CallsPlaced} live {st.LiveAnswers} abandoned {st.Abandoned} ({abandonRate:P2}) | " +
            $"trunks {trunks} | ari {ari} | answer→bridge p99 {driver.Stats.AnswerToBridge.Percentile(0.99):0.00} ms");
    }
}
