using Dapper;
using Dialer.Core.Domain;
using Dialer.Store;

namespace Dialer.RealAsterisk.Tests;

/// <summary>
/// The product's store on a fresh SQLite file for one survey run: a campaign, one lead row for the attempt to refer to,
/// and the DbAttemptLog the engine writes through; then the attempt's row and survey_answers read back as stored.
/// </summary>
internal sealed class SurveyStore : IDisposable
{
    private readonly string _path;
    private readonly StoreDb _db;
    public DbAttemptLog Log { get; }
    public long LeadId { get; }

    private SurveyStore(string path, StoreDb db, DbAttemptLog log, long leadId) => (_path, _db, Log, LeadId) = (path, db, log, leadId);

    public static SurveyStore Create()
    {
        var path = Path.Combine(Path.GetTempPath(), $"dialer-real-survey-{Guid.NewGuid():N}.db");
        var db = StoreDb.Open("sqlite:" + path);
        Migrator.Migrate(db);
        var campaign = new Campaigns(db).Create("real-survey", new CampaignSettings(), DateTime.UtcNow);
        // The lead as a row only (the attempt's foreign key): the call itself dials the lab's survey phone, not this number.
        var leadId = db.Write((c, tx) =>
        {
            c.Execute("INSERT INTO customers (id, phone_hash, created_at) VALUES (1, x'00', 0)", transaction: tx);
            c.Execute("INSERT INTO leads (id, campaign_id, customer_id, phone_enc, phone_hash, region, timezone, due_at, created_at) VALUES (1, @campaign, 1, x'00', x'00', 'lab', 'UTC', 0, 0)",
                new { campaign = campaign.Id }, tx);
            return 1L;
        });
        return new SurveyStore(path, db, new DbAttemptLog(db, campaign.Id, "real"), leadId);
    }

    /// <summary>survey_answers of the run's attempts, by question: (question, answer, tries).</summary>
    public List<(string, string, long)> Answers()
    {
        using var c = _db.Connect();
        return [.. c.Query<(string, string, long)>("SELECT question, answer, tries FROM survey_answers ORDER BY question")];
    }

    /// <summary>The one attempt's row: (script_end, outcome).</summary>
    public (string, string) Attempt()
    {
        using var c = _db.Connect();
        return c.QuerySingle<(string, string)>("SELECT script_end, outcome FROM attempts WHERE ended_at IS NOT NULL");
    }

    public void Dispose()
    {
        _db.Dispose();
        foreach (var f in new[] { _path, _path + "-wal", _path + "-shm" }) File.Delete(f);
    }
}
