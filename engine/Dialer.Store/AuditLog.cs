namespace Dialer.Store;

/// <summary>The audit log for callers outside the store (the API's alerts, their actions, campaign deletes): one row per entry, in its own transaction.</summary>
public sealed class AuditLog(StoreDb db)
{
    public void Write(string actor, string action, string entity, string? detail, DateTime utcNow) =>
        db.Write((c, tx) => { Audit.Write(c, tx, actor, action, entity, detail, utcNow); return 0; });
}
