namespace Dialer.Ari.Client;

public sealed partial class AriClient
{
    /// <summary>DELETE /playbacks/{id}: stops a prompt (a key barged in). Gone already (404) is done.</summary>
    public async Task StopPlaybackAsync(string playbackId, CancellationToken ct = default)
    {
        try { await SendAsync<object>(HttpMethod.Delete, new Query($"playbacks/{Esc(playbackId)}"), null, null, ct); }
        catch (AriNotFoundException) { }
    }
}
