using Dapper;
using Dialer.Core.Domain;
using Dialer.Emulator;
using Dialer.Store;

namespace Dialer.Runtime.Tests;

/// <summary>
/// A run judged from the callee's side, as the emulator heard it: the live answers and abandons the store counts; the
/// callees who heard nothing for over 4 s (the rule's 2 s, and room for a retried command on a loaded machine); and the
/// attempts closed against what their callee lived: one who heard no agent within 2 s of the answer (or was hung up in
/// silence) must be abandoned, one bridged in time a conversation.
/// </summary>
internal sealed record Callees(long Live, long Abandoned, IReadOnlyList<Silence> Silent, IReadOnlyList<string> Wrong)
{
    public static Callees Judge(AriEmulator emu, StoreDb db)
    {
        using var c = db.Connect();
        var rows = c.Query<(string Channel, long Id, string? Outcome, long? Answered, long? Connected, long? Ended)>(
            "SELECT channel_id, id, outcome, answered_at, connected_at, ended_at FROM attempts").ToDictionary(r => r.Channel);
        var wrong = new List<string>();
        foreach (var s in emu.Silences.Where(s => s.How != SilenceEnd.Dialplan))
        {
            if (!rows.TryGetValue(s.ChannelId, out var r)) continue; // an agent's line, not a call
            var reached = s.How == SilenceEnd.Agent && s.Seconds <= 2;
            if (reached ? r.Outcome != "human" : r.Outcome != "abandoned")
                wrong.Add($"closed as {r.Outcome ?? "nothing"}: {s.How} after {s.Seconds:0.00} s ({s.ChannelId}, attempt {r.Id}: connected {r.Connected - r.Answered} ms, ended {r.Ended - r.Answered} ms after the answer)");
        }
        var live = rows.Values.Count(r => r.Outcome is "human" or "abandoned");
        var abandoned = rows.Values.Count(r => r.Outcome == "abandoned");
        return new Callees(live, abandoned, [.. emu.Silences.Where(s => s.Seconds > 4)], wrong);
    }

    /// <summary>Whether a channel id is a call to a customer (not an agent's line, a transfer or a bridge).</summary>
    public static bool IsCall(string channelId) => ChannelIds.TryParse(channelId, out var p) && p.Kind == ChannelKind.Call;

    /// <summary>The callee's longest spell in silence and the 99th percentile, in seconds.</summary>
    public static (double Longest, double P99) Spells(AriEmulator emu)
    {
        var sorted = emu.Silences.Select(s => s.Seconds).Order().ToList();
        return sorted.Count == 0 ? (0, 0) : (sorted[^1], sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(0.99 * sorted.Count))]);
    }
}
