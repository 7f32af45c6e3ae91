using System.CommandLine;
using System.Text.Json;
using Dialer.Core.Hosting;

namespace Dialer.Store;

/// <summary>`dialer db migrate` and `dialer leads import`, for the CLI to add to its root command.</summary>
public static class StoreCommands
{
    public static IEnumerable<Command> Create() => [Db(), Leads(), PiiCommand()];

    /// <summary>The new key comes from the environment, never the command line (shell history, process lists).</summary>
    public const string NewKeyEnvVar = "DIALER_PII_NEW_KEY";

    private static Command PiiCommand()
    {
        var db = DbOption();
        var batch = new Option<int>("--batch") { Description = "cipher texts rewritten per transaction", DefaultValueFactory = _ => 5000 };
        var rotate = new Command("rotate", $"re-encrypt every phone and ID number from ${Pii.EnvVar} (old key) to ${NewKeyEnvVar} (new key), online, in batches; " +
            "afterwards only the new key opens the store") { db, batch };
        // Failures reach the CLI's one handler, which prints them and picks the exit code.
        rotate.SetAction(parse =>
        {
            if (parse.GetValue(batch) < 1) throw new ArgumentException("--batch: must be ≥ 1");
            using var store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            var report = new PiiRotation(store, Pii.FromConfig(null), Pii.FromConfig(null, NewKeyEnvVar)) { BatchSize = parse.GetValue(batch) }
                .Run(Console.WriteLine);
            Console.WriteLine($"rotated in {report.Seconds:0.0} s: {report.Rewritten} rewritten, {report.AlreadyCurrent} already on the new key, {report.Failed} unreadable");
            if (report.Failed > 0) Console.WriteLine($"  the old key still opens the store: fix or remove the unreadable rows and run rotate again");
            else Console.WriteLine($"  from now on set {Pii.EnvVar} to the new key; processes still running on the old one keep working until restarted");
            return report.Failed > 0 ? ExitCodes.BadInput : ExitCodes.Ok;
        });
        return new Command("pii", "personal-data keys") { rotate };
    }

    /// <summary>--db, shared by every store command.</summary>
    public static Option<string?> DbOption() => new("--db")
    {
        Description = $"database: sqlite:PATH or a PostgreSQL connection string (default: ${StoreDb.EnvVar}, else sqlite:dialer.db)",
    };

    private static Command Db()
    {
        var db = DbOption();
        var migrate = new Command("migrate", "apply the sql/ migrations the database has not seen yet") { db };
        migrate.SetAction(parse =>
        {
            using var store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            var applied = Migrator.Migrate(store);
            Console.WriteLine(applied.Count == 0 ? "database is up to date" : string.Join('\n', applied.Select(a => $"applied {a.Name}")));
            return ExitCodes.Ok;
        });
        return new Command("db", "database maintenance") { migrate };
    }

    private static Command Leads()
    {
        var campaign = new Option<string>("--campaign") { Description = "campaign to load into (created with default settings if new)", Required = true };
        var file = new Argument<FileInfo>("FILE") { Description = "Leads CSV: phone, region, timezone [, customer_id, name, policy_no, policy_expiry, premium, claims_3y, tags, id_number, priority]" };
        var json = new Option<bool>("--json") { Description = "print the report as JSON" };
        var db = DbOption();
        var import = new Command("import", "load leads; reports rows read, accepted / merged / rejected (exit 2 when rows were rejected, 7 when the file looks cut short)") { campaign, file, db, json };
        // Failures (a missing file, the database) reach the CLI's one handler, which prints them and picks the exit code.
        import.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists) throw new ArgumentException($"FILE: '{path.FullName}' does not exist");
            using var store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            // A store not migrated yet is migrated first (as `dialer db migrate` would): nothing else can be meant.
            foreach (var m in Migrator.Migrate(store)) Console.Error.WriteLine($"applied {m.Name}");
            var pii = Pii.FromConfig(null);
            var name = parse.GetValue(campaign)!;
            var now = DateTime.UtcNow;
            var campaigns = new Campaigns(store);
            var id = (campaigns.Find(name) ?? campaigns.Create(name, new CampaignSettings(), now)).Id;
            using var reader = new StreamReader(path.FullName);
            var report = new LeadImporter(store, pii).Import(id, name, reader, now);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, CampaignSettings.Json));
            else
            {
                Console.WriteLine($"{report.Campaign}: {report.Rows} rows, {report.Accepted} accepted, {report.Merged} merged ({report.Updated} stored leads changed), {report.Rejected} rejected");
                if (report.RuleTagsAdded.Count > 0) Console.WriteLine($"  rule tags added: {string.Join(", ", report.RuleTagsAdded.Select(kv => $"{kv.Key} {kv.Value}"))}");
                if (report.RuleTagsRemoved.Count > 0) Console.WriteLine($"  rule tags removed: {string.Join(", ", report.RuleTagsRemoved.Select(kv => $"{kv.Key} {kv.Value}"))}");
                foreach (var e in report.Errors) Console.WriteLine($"  row {e.Row}, {e.Field}: {e.Reason}");
                if (report.IgnoredColumns.Count > 0) Console.WriteLine($"  ignored columns: {string.Join(", ", report.IgnoredColumns)}");
                if (report.Interrupted is { } why) Console.WriteLine($"  cut short: {why}; rows 2–{report.LastRow} were processed");
            }
            return report.Interrupted is not null ? ExitCodes.CutShort : report.Rejected > 0 ? ExitCodes.BadInput : ExitCodes.Ok;
        });
        return new Command("leads", "lead lists") { import };
    }
}
