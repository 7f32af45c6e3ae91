using Dapper;
using Dialer.Core.Domain;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>
/// Recordings past their campaign's retention (settings <c>recording_retention_days</c>, or the compliance profile's recording
/// rule when longer, from when the call was placed)
/// are deleted by a sweep of the recordings directory once an hour (and at start), with one audit row per campaign and
/// sweep giving the count; the API answers 410 Gone for them from the moment they expire, swept or not. The sweep lists
/// the files (one per recorded channel) rather than the attempts, so its cost follows the recordings kept. A file that
/// cannot be deleted (permissions, in use) is counted in the audit row and tried again at the next sweep; a sweep that
/// fails (the store down) is tried again an hour later (<see cref="LastError"/>).
/// </summary>
internal sealed class RecordingRetention(StoreDb db, Campaigns campaigns, AuditLog audit, string dir) : IAsyncDisposable
{
    public static readonly TimeSpan Every = TimeSpan.FromHours(1);
    private const int Batch = 500;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    /// <summary>Why the last sweep failed, numbers masked; null while none has.</summary>
    public string? LastError { get; private set; }

    public static bool Expired(CampaignSettings settings, long placedAtMs, DateTime utcNow) =>
        settings.RecordingKeptDays() is { } days && placedAtMs < new DateTimeOffset(utcNow.AddDays(-days), TimeSpan.Zero).ToUnixTimeMilliseconds();

    public void Start() => _loop = Task.Run(async () =>
    {
        using var timer = new PeriodicTimer(Every);
        do
        {
            try { Sweep(DateTime.UtcNow); LastError = null; }
            catch (Exception e) when (e is not OperationCanceledException) { LastError = Core.Text.Redact.Numbers(e.Message); }
        }
        while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false));
    });

    /// <summary>One sweep; the recordings deleted.</summary>
    public int Sweep(DateTime utcNow)
    {
        var kept = campaigns.List().Where(c => c.Settings.RecordingRetentionDays is not null).ToDictionary(c => c.Id);
        if (kept.Count == 0 || !Directory.Exists(dir)) return 0;
        var files = Directory.EnumerateFiles(dir)
            .Where(p => CallRecords.RecordingTypes.Any(t => p.EndsWith(t.Ext, StringComparison.OrdinalIgnoreCase)))
            .GroupBy(p => Path.GetFileNameWithoutExtension(p), StringComparer.Ordinal);
        var deleted = new Dictionary<long, (int Done, int Failed, string? Why)>();
        using var conn = db.Connect();
        foreach (var chunk in files.Chunk(Batch))
        {
            var byChannel = chunk.ToDictionary(g => g.Key, StringComparer.Ordinal);
            foreach (var (channel, campaignId, placedAt) in conn.Query<(string, long, long)>(
                         "SELECT channel_id, campaign_id, placed_at FROM attempts WHERE channel_id IN @ids", new { ids = byChannel.Keys.ToArray() }))
            {
                if (!kept.TryGetValue(campaignId, out var c) || !Expired(c.Settings, placedAt, utcNow)) continue;
                var (done, failed, why) = deleted.GetValueOrDefault(campaignId);
                foreach (var path in byChannel[channel])
                    try { File.Delete(path); done++; }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException) { failed++; why = e.Message; }
                deleted[campaignId] = (done, failed, why);
            }
        }
        foreach (var (campaignId, (done, failed, why)) in deleted)
            audit.Write("retention", "recordings deleted", $"campaign:{kept[campaignId].Name}",
                $"{done} past the retention of {kept[campaignId].Settings.RecordingKeptDays()} days" + (failed == 0 ? "" : $"; {failed} could not be deleted ({why}), tried again next sweep"), utcNow);
        return deleted.Values.Sum(d => d.Done);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
            try { await _loop.ConfigureAwait(false); }
            catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
