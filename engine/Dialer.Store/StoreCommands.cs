using Dialer.Core.Domain;
using Dialer.Core.Text;
using System.CommandLine;
using System.Text.Json;
using Dialer.Core.Hosting;

namespace Dialer.Store;

/// <summary>`dialer db migrate` and `dialer leads import`, for the CLI to add to its root command.</summary>
public static class StoreCommands
{
    public static IEnumerable<Command> Create() => [Db(), Leads(), PiiCommand(), DncCommand(), ComplianceCommand()];

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
            using var reader = path.OpenRead();
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
        return new Command("leads", "lead lists") { import, Why(), Customer() };
    }

    /// <summary>An instant given on the command line: ISO 8601 with an offset, or UTC when it has none.</summary>
    private static DateTime ParseInstant(string? text, string option)
    {
        if (text is null) return DateTime.UtcNow;
        if (!DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var t))
            throw new ArgumentException($"{option}: {Redact.Echo(text)} is not an ISO 8601 time (e.g. 2026-12-01T10:30:00+08:00)");
        return t.UtcDateTime;
    }

    private static Command Why()
    {
        var lead = new Option<long>("--lead") { Description = "the lead's id", Required = true };
        var at = new Option<string?>("--at") { Description = "the instant asked about, ISO 8601 (default: now); an attempt placed within a minute of it is the call asked about" };
        var json = new Option<bool>("--json") { Description = "print the answer as JSON" };
        var db = DbOption();
        var why = new Command("why", "why was this lead (not) called at this time: the attempt, or the rule (with its profile and version) that held it, from the store's audit trail") { lead, at, db, json };
        why.SetAction(parse =>
        {
            var when = ParseInstant(parse.GetValue(at), "--at");
            using var store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            var answer = new CustomerViews(store, Pii.FromConfig(null)).Why(parse.GetValue(lead), when)
                ?? throw new ArgumentException($"--lead: no lead {parse.GetValue(lead)}");
            if (parse.GetValue(json)) { Console.WriteLine(JsonSerializer.Serialize(answer, CampaignSettings.Json)); return ExitCodes.Ok; }
            Console.WriteLine($"lead {answer.LeadId} ({answer.Campaign}) at {answer.AtUtc:yyyy-MM-dd HH:mm:ss}Z, profile {answer.Profile}:");
            if (answer.Attempt is { } a)
                Console.WriteLine($"  called: attempt {a.AttemptNo} placed {a.PlacedUtc:yyyy-MM-dd HH:mm:ss}Z, outcome {a.Outcome ?? "(open)"}; " +
                                  (answer.Allowed ? "every rule allowed it" : $"the rules as they read now would have held it: {answer.Rule}: {answer.Reason}"));
            else if (answer.Allowed) Console.WriteLine("  not called then, though every rule allowed it (the hopper had other leads first, or the campaign was not running)");
            else Console.WriteLine($"  not called: {answer.Rule}: {answer.Reason}" + (answer.HeldUntilUtc is { } u ? $"; allowed again from {u:yyyy-MM-dd HH:mm}Z" : ""));
            if (answer.CustomerCall is { } cc)
                Console.WriteLine($"  the customer's lead {cc.LeadId} ({cc.Campaign}) was {cc.State} then" +
                                  (cc.SinceUtc is { } since ? $", placed {since:yyyy-MM-dd HH:mm:ss}Z" : "") + (cc.UntilUtc is { } end ? $", until {end:yyyy-MM-dd HH:mm:ss}Z" : ""));
            if (answer.LastHold is { } h) Console.WriteLine($"  the hopper's last hold: {h}");
            return ExitCodes.Ok;
        });
        return why;
    }

    private static Command Customer()
    {
        var lead = new Option<long?>("--lead") { Description = "a lead of the customer" };
        var customer = new Option<string?>("--customer") { Description = "the customer's id in the lead files (customer_id)" };
        var json = new Option<bool>("--json") { Description = "print the customer as JSON" };
        var db = DbOption();
        var show = new Command("customer", "one customer everywhere: numbers (masked), leads in every campaign, attempts, dispositions, consent, do-not-call blocks") { lead, customer, db, json };
        show.SetAction(parse =>
        {
            using var store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            var views = new CustomerViews(store, Pii.FromConfig(null));
            var record = (parse.GetValue(lead), parse.GetValue(customer)) switch
            {
                ({ } l, null) => views.ForLead(l, DateTime.UtcNow) ?? throw new ArgumentException($"--lead: no lead {l}"),
                (null, { } ext) => views.ForExternalId(ext, DateTime.UtcNow) ?? throw new ArgumentException($"--customer: no customer {Redact.Echo(ext)}"),
                _ => throw new ArgumentException("give one of --lead or --customer"),
            };
            if (parse.GetValue(json)) { Console.WriteLine(JsonSerializer.Serialize(record, CampaignSettings.Json)); return ExitCodes.Ok; }
            Console.WriteLine($"customer {record.CustomerId} ({record.ExternalId ?? "no external id"}){(record.IdNumber is { } idn ? $", ID {idn}" : "")}: numbers {string.Join(", ", record.Phones)}");
            foreach (var b in record.Blocks) Console.WriteLine($"  do-not-call: {b.Source} ({b.Reason}) since {b.AddedUtc:yyyy-MM-dd}{(b.ExpiresUtc is { } x ? $" until {x:yyyy-MM-dd}" : ", permanent")}");
            foreach (var l in record.Leads)
            {
                Console.WriteLine($"  lead {l.LeadId} in {l.Campaign}: {l.Phone}, {l.State}, {l.Attempts} attempts, last {l.LastOutcome ?? "none"}, policy {l.PolicyNo ?? "-"} expires {l.PolicyExpiry?.ToString("yyyy-MM-dd") ?? "-"}, " +
                                  $"consent {(l.ConsentUtc is { } cu ? $"{l.ConsentSource} {cu:yyyy-MM-dd}" : "none")}{(l.HeldBy is { } hb ? $", held by {hb}: {l.HeldReason}" : "")}");
                foreach (var a in l.AttemptHistory) Console.WriteLine($"    attempt {a.AttemptNo} {a.PlacedUtc:yyyy-MM-dd HH:mm:ss}Z {a.Outcome ?? "(open)"}{(a.Agent is { } ag ? $" agent {ag}" : "")}");
                foreach (var d in l.Dispositions) Console.WriteLine($"    disposition {d.Code} by {d.Agent} {d.AtUtc:yyyy-MM-dd HH:mm:ss}Z");
            }
            return ExitCodes.Ok;
        });
        return show;
    }

    private static Command DncCommand()
    {
        var source = new Option<string>("--list") { Description = $"the list: {Dnc.Internal} (the company's own), {Dnc.Refusal} (fed by dispositions) or an industry list's name", DefaultValueFactory = _ => Dnc.Internal };
        var expires = new Option<string?>("--expires") { Description = "when the entries lapse, ISO 8601 (default: never)" };
        var region = new Option<string>("--region") { Description = "the region of numbers written nationally (ISO 3166, e.g. CN)", DefaultValueFactory = _ => "CN" };
        var file = new Argument<FileInfo>("FILE") { Description = "CSV with a 'phone' column (optionally 'region'), one number per row" };
        var number = new Argument<string>("NUMBER") { Description = "the phone number (normalised as in a leads file)" };
        var json = new Option<bool>("--json") { Description = "print the report as JSON" };
        var db = DbOption();
        Dnc Open(ParseResult parse, out StoreDb store)
        {
            store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            foreach (var m in Migrator.Migrate(store)) Console.Error.WriteLine($"applied {m.Name}");
            return new Dnc(store, Pii.FromConfig(null));
        }
        string Normalised(ParseResult parse)
        {
            var r = PhoneNumbers.NormaliseRegion(parse.GetValue(region)!) ?? throw new ArgumentException("--region: not a known region (ISO 3166 code such as CN)");
            return PhoneNumbers.TryNormalise(parse.GetValue(number)!, r, out var e164, out var error) ? e164 : throw new ArgumentException($"NUMBER: {error}");
        }
        var import = new Command("import", "load a list file into --list (new numbers added, listed ones renewed); bad rows reported by row number") { file, source, expires, region, db, json };
        import.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists) throw new ArgumentException($"FILE: '{path.FullName}' does not exist");
            var until = parse.GetValue(expires) is { } x ? ParseInstant(x, "--expires") : (DateTime?)null;
            var dnc = Open(parse, out var store);
            using (store)
            {
                using var reader = path.OpenRead();
                var report = dnc.Import(parse.GetValue(source)!, reader, parse.GetValue(region)!, until, DateTime.UtcNow);
                if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, CampaignSettings.Json));
                else
                {
                    Console.WriteLine($"{report.Source}: {report.Rows} rows, {report.Stored} stored, {report.Rejected} rejected in {report.Seconds:0.0} s");
                    foreach (var e in report.Errors) Console.WriteLine($"  row {e.Row}, {e.Field}: {e.Reason}");
                }
                return report.Rejected > 0 ? ExitCodes.BadInput : ExitCodes.Ok;
            }
        });
        var add = new Command("add", "put one number on --list") { number, source, expires, region, db };
        add.SetAction(parse =>
        {
            var e164 = Normalised(parse);
            var until = parse.GetValue(expires) is { } x ? ParseInstant(x, "--expires") : (DateTime?)null;
            var dnc = Open(parse, out var store);
            using (store) dnc.Add(e164, "added by hand", until, DateTime.UtcNow, parse.GetValue(source)!);
            Console.WriteLine($"{Core.Text.Redact.Numbers(e164)} is on {parse.GetValue(source)}{(until is { } u ? $" until {u:yyyy-MM-dd}" : "")}");
            return ExitCodes.Ok;
        });
        var all = new Option<bool>("--all-lists") { Description = "remove the number from every list (default: only --list)" };
        var remove = new Command("remove", "take one number off --list") { number, source, all, region, db };
        remove.SetAction(parse =>
        {
            var e164 = Normalised(parse);
            var dnc = Open(parse, out var store);
            using (store)
            {
                var removed = dnc.Remove(e164, parse.GetValue(all) ? null : parse.GetValue(source));
                Console.WriteLine(removed ? $"{Core.Text.Redact.Numbers(e164)} removed" : $"{Core.Text.Redact.Numbers(e164)} was not on that list");
            }
            return ExitCodes.Ok;
        });
        var list = new Command("list", "the lists with their counts (the store holds only keyed hashes of the numbers)") { db, json };
        list.SetAction(parse =>
        {
            var dnc = Open(parse, out var store);
            using (store)
            {
                var lists = dnc.Lists(DateTime.UtcNow);
                if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(lists, CampaignSettings.Json));
                else foreach (var l in lists)
                    Console.WriteLine($"{l.Source}: {l.Entries} entries, {l.Active} in force, last added {l.LastAddedUtc:yyyy-MM-dd}{(l.HasPermanent ? ", some permanent" : "")}{(l.LastExpiryUtc is { } e ? $", last expiry {e:yyyy-MM-dd}" : "")}");
            }
            return ExitCodes.Ok;
        });
        return new Command("dnc", "do-not-call lists, shared by every campaign") { import, add, remove, list };
    }

    private static Command ComplianceCommand()
    {
        var json = new Option<bool>("--json") { Description = "print the profiles as JSON" };
        var profiles = new Command("profiles", "the shipped compliance profiles (a campaign names one in compliance_profile) with every rule and its source") { json };
        profiles.SetAction(parse =>
        {
            var all = Core.Compliance.ComplianceProfiles.Names.Select(n => Core.Compliance.ComplianceProfiles.Get(n)!).ToList();
            if (parse.GetValue(json)) { Console.WriteLine(JsonSerializer.Serialize(all, CampaignSettings.Json)); return ExitCodes.Ok; }
            foreach (var p in all)
            {
                Console.WriteLine($"{p.Id} v{p.Version} ({p.Country}): {p.Description}");
                Console.WriteLine($"  calling_hours {p.CallingHours.Start}-{p.CallingHours.End}: {p.CallingHours.Source}");
                foreach (var r in p.Regions) Console.WriteLine($"  calling_hours:{r.Region} {r.Start}-{r.End}: {r.Source}");
                if (p.Holidays is { } h)
                    Console.WriteLine($"  holiday ({(h.Calendar is { } cal && Core.Compliance.HolidayCalendars.Get(cal) is { } calendar ? $"calendar {cal}, {calendar.Years.Keys.First()}–{calendar.Years.Keys.Last()}; " : "")}{h.Dates.Count} own dates): {h.Source}");
                if (p.EarliestBeforeExpiry is { } e) Console.WriteLine($"  earliest_before_expiry {e.Days} days: {e.Source}");
                if (p.DailyCap is { } d) Console.WriteLine($"  daily_cap {d.Max}: {d.Source}");
                if (p.RefusalBlock is { } b) Console.WriteLine($"  refusal_block {b.Days} days: {b.Source}");
                if (p.Consent is { } c) Console.WriteLine($"  consent {(c.Required ? "required" : "not required")}: {c.Source}");
                if (p.RegisteredCallerId is { } cid) Console.WriteLine($"  registered_caller_id {(cid.Required ? "required" : "not required")}: {cid.Source}");
                if (p.Recording is { } rec) Console.WriteLine($"  recording kept {rec.Days} days: {rec.Source}");
            }
            return ExitCodes.Ok;
        });
        return new Command("compliance", "compliance profiles") { profiles };
    }
}
