using System.Collections.Concurrent;
using System.Text.Json;
using Dialer.Core.Domain;
using Dialer.Core.Hosting;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>
/// The dashboard's one reader of the engines: once a second it reads every engine on this node (one query on its loop,
/// whatever the number of browsers) and publishes a `stats` event on the stream; browsers only listen. It keeps the
/// last hour of samples and the campaign list in memory, so opening or refreshing the dashboard costs the database
/// nothing: the campaign list is re-read from the store every <see cref="CampaignsEvery"/> and on each campaign event.
/// Each sample is handed to <see cref="Sampled"/> (the alert rules). An engine that does not answer within 2 s shows as
/// `engine: "stalled"`; one that stopped or faulted shows its status and why. With the store, the dashboard's report
/// charts come the same way: every <see cref="ReportsEvery"/> (and after a campaign's status changes) each running campaign's `calls` report by hour since its
/// local midnight (<see cref="Reports.Run"/>, the API's own path) is read once and published as a `report` event, and
/// kept for a freshly opened page: one grouped query a minute per campaign, whatever the number of browsers.
/// </summary>
public sealed class LiveFeed : IAsyncDisposable
{
    public const int HistoryLength = 3600;

    private readonly EngineRegistry _engines;
    private readonly EventHub _hub;
    private readonly Campaigns _campaigns;
    private readonly TimeProvider _time;
    private readonly StoreDb? _db;
    private readonly ConcurrentDictionary<string, object> _today = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Queue<HistoryPoint>> _history = new(StringComparer.Ordinal);
    private volatile IReadOnlyList<CampaignRow> _list = [];
    private volatile Dictionary<string, object> _last = [];
    private Task? _loop;
    private long _refreshes, _reportReads;
    private int _reportsDue;
    private int _disposed;

    public LiveFeed(EngineRegistry engines, EventHub hub, Campaigns campaigns, TimeProvider? time = null, StoreDb? db = null)
    {
        _db = db;
        _engines = engines;
        _hub = hub;
        _campaigns = campaigns;
        _time = time ?? TimeProvider.System;
    }

    public TimeSpan Every { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan CampaignsEvery { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan QueryTimeout { get; init; } = TimeSpan.FromSeconds(2);
    public TimeSpan ReportsEvery { get; init; } = TimeSpan.FromMinutes(1);
    /// <summary>Store reads of the day's report since start (one per running campaign per <see cref="ReportsEvery"/>).</summary>
    public long ReportReads => Interlocked.Read(ref _reportReads);
    /// <summary>Store reads of the campaign list since start (the dashboard's only database cost).</summary>
    public long CampaignListReads => Interlocked.Read(ref _refreshes);

    /// <summary>Why the last round failed, masked; null while none has.</summary>
    public string? LastError { get; private set; }

    /// <summary>Each engine's sample, on the feed's thread: campaign, snapshot (null when the engine did not answer), engine status.</summary>
    public event Action<string, EngineSnapshot?, EngineStatus>? Sampled;

    public sealed record CampaignRow(string Name, string Status);
    public sealed record HistoryPoint(long T, double AbandonToday, double Abandon30, int Ringing, int Waiting, int Connected, double AnswerRate, double DialLevel);

    public void Start()
    {
        RefreshCampaigns();
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>The recent alerts, for a freshly opened dashboard.</summary>
    public Func<IReadOnlyList<AlertEvent>> Alerts { get; set; } = () => [];

    /// <summary>Everything a freshly opened dashboard needs, from memory.</summary>
    public object State() => new
    {
        campaigns = _list,
        alerts = Alerts(),
        live = _last,
        history = _history.ToDictionary(kv => kv.Key, kv => { lock (kv.Value) return kv.Value.ToArray(); }),
        reports = _today.ToDictionary(kv => kv.Key, kv => kv.Value),
        last_event_id = _hub.LastId,
    };

    /// <summary>A campaign was created, started, paused, stopped or deleted: read the list again, and the day's reports at the next second.</summary>
    public void CampaignsChanged()
    {
        RefreshCampaigns();
        Interlocked.Exchange(ref _reportsDue, 1);
    }

    private void RefreshCampaigns()
    {
        try
        {
            _list = [.. _campaigns.List().Select(c => new CampaignRow(c.Name, c.Status.ToString().ToLowerInvariant()))];
            Interlocked.Increment(ref _refreshes);
        }
        catch (Exception) { } // the store is down: the dashboard keeps the last list; the next refresh tries again
    }

    private async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(Every, _time);
        var lastList = _time.GetTimestamp();
        long? lastReports = null;
        while (await Tick(timer, ct))
        {
            if (_time.GetElapsedTime(lastList) >= CampaignsEvery) { RefreshCampaigns(); lastList = _time.GetTimestamp(); }
            if (Interlocked.Exchange(ref _reportsDue, 0) == 1 || lastReports is not { } at || _time.GetElapsedTime(at) >= ReportsEvery)
            {
                ReadReports();
                lastReports = _time.GetTimestamp();
            }
            try { await SampleAsync(ct); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) { LastError = Core.Text.Redact.Numbers(e.Message); } // one bad round (an alert action that threw): the next second tries again
        }
    }

    /// <summary>Each running campaign's calls by hour since its local midnight, published as a `report` event; a store failure keeps the last.</summary>
    internal void ReadReports()
    {
        if (_db is null) return;
        var now = _time.GetUtcNow();
        foreach (var name in _engines.All.Select(e => e.Key).ToList())
        {
            try
            {
                if (_campaigns.Find(name) is not { } c) continue;
                var zone = TimeZoneInfo.FindSystemTimeZoneById(c.Settings.TimeZone);
                var local = TimeZoneInfo.ConvertTime(now, zone);
                var midnight = new DateTimeOffset(local.Date, local.Offset).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
                var args = new Dictionary<string, string>(StringComparer.Ordinal) { ["campaign"] = name, ["by"] = "hour", ["from"] = midnight };
                var (table, _) = Reports.Run(_db, _campaigns, "calls", args.GetValueOrDefault, utcNow: now.UtcDateTime);
                Interlocked.Increment(ref _reportReads);
                if (table is null) continue;
                table.Header["abandon_cap"] = c.Settings.AbandonCap;
                var doc = table.Document();
                _today[name] = doc;
                _hub.Publish("report", doc);
            }
            catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException or TimeZoneNotFoundException)
            {
                LastError = Core.Text.Redact.Numbers(e.Message); // the page keeps the last chart; the next minute tries again
            }
        }
        foreach (var gone in _today.Keys.Where(k => _engines.Find(k) is null)) _today.TryRemove(gone, out _);
    }

    private static async Task<bool> Tick(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>One round: read every engine, publish one `stats` event when any runs here.</summary>
    internal async Task SampleAsync(CancellationToken ct)
    {
        var running = _engines.All.ToList();
        var names = running.Select(r => r.Key).ToHashSet();
        foreach (var gone in _history.Keys.Where(k => !names.Contains(k))) _history.TryRemove(gone, out _);
        if (running.Count == 0)
        {
            if (_last.Count > 0) { _last = []; _hub.Publish("stats", new { at = _time.GetUtcNow(), campaigns = _last }); }
            return;
        }
        var reads = await Task.WhenAll(running.Select(r => EngineSnapshot.TryReadAsync(r.Value, QueryTimeout, ct)));
        var now = _time.GetUtcNow();
        var figures = new Dictionary<string, object>(StringComparer.Ordinal);
        for (var i = 0; i < running.Count; i++)
        {
            var (name, host) = running[i];
            var s = reads[i];
            if (s is not null && _engines.Started(name) is { } run) s = s with { Media = [.. Enumerable.Range(0, s.Trunks.Length).Select(run.Media)] };
            figures[name] = s is null ? Unavailable(host) : Figures(s);
            if (s is not null) Remember(name, now, s);
            Sampled?.Invoke(name, s, host.Status);
        }
        _last = figures;
        _hub.Publish("stats", new { at = now, campaigns = figures });
    }

    private static object Unavailable(EngineHost host) => new
    {
        engine = host.Status == EngineStatus.Running ? "stalled" : host.Status.ToString().ToLowerInvariant(),
        error = host.Fault,
    };

    /// <summary>The live figures of one campaign as the dashboard shows them (snake_case, trunks and agents by name).</summary>
    public static object Figures(EngineSnapshot s) => new
    {
        engine = "running",
        pacer = s.Pacer,
        calls_placed = s.CallsPlaced,
        live_answers = s.LiveAnswers,
        machine_answers = s.MachineAnswers,
        abandoned = s.Abandoned,
        answer_rate = s.AnswerRate,
        dial_level = s.DialLevel,
        ringing = s.Ringing,
        waiting = s.Waiting,
        connected = s.CallsIn(CallPhase.Connected),
        safe_harbor = s.CallsIn(CallPhase.SafeHarbor),
        calls_up = s.Trunks.Sum(t => t.ByPhase.Sum()),
        agents = EventHub.AgentStates.Select((n, i) => (n, i)).ToDictionary(x => x.n, x => s.Agents[x.i]),
        abandon_rate_today = s.AbandonRateToday,
        abandon_rate_30d = s.AbandonRate30,
        abandon_cap = s.AbandonCap,
        trunks = s.Trunks.Select((t, i) => new
        {
            name = t.Name, channels = t.Channels, in_use = t.InUse, available = t.Available, placed = t.Placed, live = t.Live, abandoned = t.Abandoned,
            rtt_ms = Measured(i < s.Media.Length ? s.Media[i].RttMs : double.NaN, 1), loss = Measured(i < s.Media.Length ? s.Media[i].Loss : double.NaN, 4),
        }),
        seats = s.Seats.Select(a => new
        {
            id = a.Id, state = EventHub.AgentStates[(int)a.State], seconds = Math.Round(a.SecondsInState, 1), pause_reason = a.PauseReason,
            offer = a.Offer is { } o ? new { offer_id = o.Id, lead_id = o.Lead, deadline = o.Deadline } : null,
        }),
    };

    /// <summary>A measurement rounded for the page; null (not NaN, which JSON has no word for) when nothing was measured.</summary>
    private static double? Measured(double x, int digits) => double.IsNaN(x) ? null : Math.Round(x, digits);

    private void Remember(string name, DateTimeOffset at, EngineSnapshot s)
    {
        var q = _history.GetOrAdd(name, _ => new Queue<HistoryPoint>());
        lock (q)
        {
            q.Enqueue(new HistoryPoint(at.ToUnixTimeMilliseconds(), s.AbandonRateToday, s.AbandonRate30, s.Ringing, s.Waiting,
                s.CallsIn(CallPhase.Connected), s.AnswerRate, s.DialLevel));
            while (q.Count > HistoryLength) q.Dequeue();
        }
    }

    /// <summary>Stops the loop; the app calls it when it stops, the container again when it goes.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stop.CancelAsync();
        if (_loop is not null) await _loop;
        _stop.Dispose();
    }
}
