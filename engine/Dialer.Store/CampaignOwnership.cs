using System.Data.Common;
using System.Text.Json;
using Dapper;

namespace Dialer.Store;

/// <summary>
/// A node's hold on a campaign: the fencing epoch, the previous owner it took over from (null if none), and every owner
/// before it since the campaign was last handed back (<see cref="TakenOver"/>, the most recent first, never this node): what
/// they left on Asterisk (agent lines taken back from one owner to the next keep their first id) is this owner's to clean.
/// </summary>
public sealed record CampaignLease(long CampaignId, string Node, long Epoch, DateTime Until, string? TakenFrom, IReadOnlyList<string> TakenOver);

/// <summary>A write refused by its fence: another node took the campaign over (the message names the epoch that holds it).</summary>
public sealed class CampaignFencedException(string message) : Exception(message);

/// <summary>
/// Fencing by write: the epoch of the lease a node's engine runs under, checked inside every write that engine makes to
/// its campaign's attempts and leads (<see cref="StoreDb.Write{T}(CampaignFence, Func{DbConnection, DbTransaction, T})"/>).
/// The check reads the owner row with a share lock, so a takeover (which updates the row) waits for a write already past
/// its check, and every write after the takeover sees the new epoch and is refused whole: an owner paused or cut off past
/// its lease writes nothing once another node holds the campaign, whatever its own clock says. The first refusal is
/// raised (<see cref="Refused"/>) so the node stops the campaign at once.
/// </summary>
public sealed class CampaignFence(long campaignId, long epoch)
{
    private int _refused;

    public long CampaignId => campaignId;
    public long Epoch => epoch;
    /// <summary>Whether a write was refused (the campaign is another node's now).</summary>
    public bool WasRefused => Volatile.Read(ref _refused) == 1;
    /// <summary>Raised once, on the thread of the first refused write, with why.</summary>
    public event Action<string>? Refused;

    internal void Check(DbConnection c, DbTransaction tx, SqlDialect dialect) =>
        Verify(c.QuerySingleOrDefault<(long Epoch, string Node)?>(OwnerQuery(dialect), new { campaignId }, tx));

    /// <summary>The campaign's owner row (epoch, node), share-locked; its one parameter is <c>@campaignId</c>.</summary>
    internal static string OwnerQuery(SqlDialect dialect) => "SELECT epoch, node FROM campaign_owners WHERE campaign_id = @campaignId" + dialect.ShareLock;

    /// <summary>Passes when <paramref name="owner"/> (what <see cref="OwnerQuery"/> read, null: no row) holds this epoch, else refuses.</summary>
    internal void Verify((long Epoch, string Node)? owner)
    {
        if (owner is { } o && o.Epoch == epoch) return;
        var why = owner is { } now
            ? $"fenced: the store refused a write of epoch {epoch}: node {now.Node} holds the campaign under epoch {now.Epoch}"
            : $"fenced: the store refused a write of epoch {epoch}: the campaign's lease was released";
        Refuse(why);
        throw new CampaignFencedException(why);
    }

    /// <summary>The campaign is another node's now (a write was refused, or a renewal found the epoch moved on): raised once.</summary>
    public void Refuse(string why)
    {
        if (Interlocked.Exchange(ref _refused, 1) == 0) Refused?.Invoke(why);
    }
}

/// <summary>A campaign could not be taken: another live node holds its ownership lease (the message names it).</summary>
public sealed class CampaignHeldException(string message) : Exception(message);

/// <summary>
/// One pacing owner per campaign, elected through the store with a lease row (campaign_owners): a node takes a campaign
/// whose row is free or whose lease ran out, renews well inside the lease, and releases it to hand the campaign over.
/// Every change of owner increments the epoch, so an owner that lost its lease (paused past it, cut off) finds out at its
/// next renewal and must stop placing calls. A node restarted under the same name takes its campaigns back at once:
/// node names are unique per machine (the process before it is gone), and waiting out the lease would leave agents idle.
/// If the store is unreachable, <see cref="TryAcquire"/> and <see cref="Renew"/> throw; the caller treats an owner it
/// could not renew before <see cref="CampaignLease.Until"/> as lost.
/// </summary>
public sealed class CampaignOwnership(StoreDb db, string node)
{
    /// <summary>This process: a restart under the same node name is a new instance.</summary>
    private readonly string _instance = Guid.NewGuid().ToString("N");

    public string Node => node;

    /// <summary>
    /// The most owners a lease remembers (<see cref="CampaignLease.TakenOver"/>): one per node of a cluster that never hands the
    /// campaign back; beyond it the oldest is forgotten (its lines would have been taken back by a later owner, under its id).
    /// </summary>
    public const int MaxTakenOver = 32;

    /// <summary>Takes <paramref name="campaignId"/> if it is free, its lease ran out, or this node owned it; null if another live node holds it.</summary>
    public CampaignLease? TryAcquire(long campaignId, TimeSpan lease, DateTime utcNow) => db.Write((c, tx) =>
    {
        var before = c.QuerySingleOrDefault<(string Node, string Instance, string? TakenOver)?>(
            "SELECT node, instance, taken_over FROM campaign_owners WHERE campaign_id = @campaignId", new { campaignId }, tx);
        // Every owner before this one, since the campaign was last handed back (a release deletes the row: the drain hung up what it had).
        var chain = before is not { } b ? []
            : (b.Instance == _instance ? Owners(b.TakenOver) : Owners(b.TakenOver).Prepend(b.Node)).Where(n => n != node).Distinct().Take(MaxTakenOver).ToList();
        var now = Time.Ms(utcNow);
        var epoch = c.QuerySingleOrDefault<long?>("""
            INSERT INTO campaign_owners (campaign_id, node, instance, epoch, lease_until, acquired_at, taken_over)
            VALUES (@campaignId, @node, @instance, 1, @until, @now, @takenOver)
            ON CONFLICT (campaign_id) DO UPDATE SET
                epoch = CASE WHEN campaign_owners.instance = excluded.instance THEN campaign_owners.epoch ELSE campaign_owners.epoch + 1 END,
                node = excluded.node, instance = excluded.instance, lease_until = excluded.lease_until, taken_over = excluded.taken_over,
                acquired_at = CASE WHEN campaign_owners.instance = excluded.instance THEN campaign_owners.acquired_at ELSE excluded.acquired_at END
            WHERE campaign_owners.lease_until < @now OR campaign_owners.node = @node
            RETURNING epoch
            """, new { campaignId, node, instance = _instance, until = now + (long)lease.TotalMilliseconds, now, takenOver = JsonSerializer.Serialize(chain) }, tx);
        if (epoch is null) return null;
        var from = before is { } was && was.Instance != _instance ? was.Node : null;
        return new CampaignLease(campaignId, node, epoch.Value, utcNow + lease, from, chain);
    });

    private static string[] Owners(string? json) => json is null ? [] : JsonSerializer.Deserialize<string[]>(json) ?? [];

    /// <summary>Extends the lease; null when it was lost (another node took the campaign over): stop placing calls at once.</summary>
    public CampaignLease? Renew(CampaignLease held, TimeSpan lease, DateTime utcNow)
    {
        var until = utcNow + lease;
        var n = db.Write((c, tx) => c.Execute(
            "UPDATE campaign_owners SET lease_until = @until WHERE campaign_id = @CampaignId AND instance = @instance AND epoch = @Epoch",
            new { until = Time.Ms(until), held.CampaignId, instance = _instance, held.Epoch }, tx));
        return n == 1 ? held with { Until = until, TakenFrom = null } : null;
    }

    /// <summary>Hands the campaign back (drain or move on purpose): the next node to ask takes it at once.</summary>
    public void Release(CampaignLease held) => db.Write((c, tx) => c.Execute(
        "DELETE FROM campaign_owners WHERE campaign_id = @CampaignId AND instance = @instance AND epoch = @Epoch",
        new { held.CampaignId, instance = _instance, held.Epoch }, tx));

    /// <summary>Whether <paramref name="fence"/>'s epoch still holds the campaign (nobody took it over), its lease run out or not.</summary>
    public bool StillHolds(CampaignFence fence)
    {
        using var c = db.Connect();
        return c.QuerySingleOrDefault<long?>("SELECT epoch FROM campaign_owners WHERE campaign_id = @CampaignId", new { fence.CampaignId }) == fence.Epoch;
    }

    /// <summary>Who holds the campaign now (null if nobody, or the lease ran out).</summary>
    public string? Owner(long campaignId, DateTime utcNow)
    {
        using var c = db.Connect();
        return c.QuerySingleOrDefault<string?>("SELECT node FROM campaign_owners WHERE campaign_id = @campaignId AND lease_until >= @now",
            new { campaignId, now = Time.Ms(utcNow) });
    }
}
