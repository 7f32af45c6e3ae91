using Dapper;
using Dialer.Core.Text;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>
/// Each trunk's loss and round trip over time, stored: the dashboard feed's once-a-second samples of what the driver
/// measures (<see cref="Core.Hosting.IRunningEngine.Media"/>), averaged per campaign, trunk and minute into
/// `trunk_quality` once the minute is over (one small write a minute, on the feed's thread, never the engine loop's).
/// Seconds with nothing measured are not counted; a minute with nothing measured is not written. A write that fails (the
/// store is down) keeps its rows for the next minute's try, at most <see cref="MaxPending"/> of them: older ones are
/// dropped and counted in <see cref="Dropped"/>. Not thread-safe: the feed calls it from its one thread.
/// </summary>
public sealed class TrunkQualityLog(StoreDb db, Campaigns campaigns, TimeProvider? time = null)
{
    public const long MinuteMs = 60_000;
    /// <summary>An hour of a 16-trunk campaign: enough to ride out a store restart, bounded when it stays down.</summary>
    public const int MaxPending = 960;

    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Dictionary<(string Campaign, int Trunk), Minute> _open = [];
    private readonly Dictionary<string, long> _ids = new(StringComparer.Ordinal);
    private readonly List<Row> _pending = [];
    private long _current = long.MinValue;

    /// <summary>Minutes given up because the store stayed down.</summary>
    public long Dropped { get; private set; }
    /// <summary>Why the last write failed, masked; null once one succeeds.</summary>
    public string? LastError { get; private set; }

    public sealed record Row(long CampaignId, int Trunk, string Name, long Minute, double? RttMs, double? Loss, int Samples);

    private sealed class Minute(long start, string name)
    {
        public long Start { get; } = start;
        public string Name { get; } = name;
        public double Rtt, Loss;
        public int RttN, LossN;
    }

    /// <summary>One second's sample of a campaign (<see cref="LiveFeed.Sampled"/>); null when its engine did not answer.</summary>
    public void Sample(string campaign, EngineSnapshot? s)
    {
        var minute = _time.GetUtcNow().ToUnixTimeMilliseconds() / MinuteMs * MinuteMs;
        if (minute != _current)
        {
            _current = minute;
            Flush(all: false); // the minutes before this one are over, whichever campaign they were of
        }
        if (s is null) return;
        for (var t = 0; t < s.Media.Length && t < s.Trunks.Length; t++)
        {
            var media = s.Media[t];
            if (double.IsNaN(media.RttMs) && double.IsNaN(media.Loss)) continue;
            if (!_open.TryGetValue((campaign, t), out var m)) _open[(campaign, t)] = m = new Minute(minute, s.Trunks[t].Name);
            if (!double.IsNaN(media.RttMs)) { m.Rtt += media.RttMs; m.RttN++; }
            if (!double.IsNaN(media.Loss)) { m.Loss += media.Loss; m.LossN++; }
        }
    }

    /// <summary>Writes the minutes that are over (<paramref name="all"/>: every open one too, at shutdown). Store failures are kept, never thrown.</summary>
    public void Flush(bool all)
    {
        foreach (var (key, m) in _open.Where(kv => all || kv.Value.Start < _current).ToList())
        {
            _open.Remove(key);
            if (CampaignId(key.Campaign) is not { } id) continue; // deleted, or the store down before its id was first read: that minute is lost
            _pending.Add(new Row(id, key.Trunk, m.Name, m.Start, m.RttN == 0 ? null : m.Rtt / m.RttN, m.LossN == 0 ? null : m.Loss / m.LossN, Math.Max(m.RttN, m.LossN)));
        }
        if (_pending.Count > MaxPending)
        {
            Dropped += _pending.Count - MaxPending;
            _pending.RemoveRange(0, _pending.Count - MaxPending);
        }
        if (_pending.Count == 0) return;
        try
        {
            // A minute written again after a failed batch stays one row (the upsert); a campaign deleted meanwhile takes none.
            db.Write((c, tx) => c.Execute("""
                INSERT INTO trunk_quality (campaign_id, trunk, name, minute, rtt_ms, loss, samples)
                SELECT @CampaignId, @Trunk, @Name, @Minute, @RttMs, @Loss, @Samples WHERE EXISTS (SELECT 1 FROM campaigns WHERE id = @CampaignId)
                ON CONFLICT (campaign_id, trunk, minute) DO UPDATE SET name = excluded.name, rtt_ms = excluded.rtt_ms, loss = excluded.loss, samples = excluded.samples
                """, _pending, tx));
            _pending.Clear();
            LastError = null;
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
        {
            LastError = Redact.Numbers(e.Message); // kept for the next minute's try
        }
    }

    private long? CampaignId(string name)
    {
        if (_ids.TryGetValue(name, out var id)) return id;
        try
        {
            if (campaigns.Find(name) is not { } c) return null;
            return _ids[name] = c.Id;
        }
        catch (Exception e) when (e is System.Data.Common.DbException or InvalidOperationException or TimeoutException)
        {
            LastError = Redact.Numbers(e.Message);
            return null;
        }
    }
}
