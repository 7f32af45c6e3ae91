using Dialer.Core.Domain;
using Dialer.Core.Text;
using System.Data.Common;
using System.Globalization;
using System.IO.Pipelines;
using Dapper;

namespace Dialer.Store;

/// <summary>One problem with one row (row 1 is the header) or with the file (row 0).</summary>
public sealed record ImportError(long Row, string Field, string Reason);

public sealed class ImportReport
{
    public required string Campaign { get; init; }
    public long Rows { get; set; }
    /// <summary>Rows that created a new lead.</summary>
    public long Accepted { get; set; }
    /// <summary>Rows folded into an existing lead of the same customer (same phone or customer id).</summary>
    public long Merged { get; set; }
    public long Rejected { get; set; }
    /// <summary>Stored leads whose columns the merged rows changed (re-running the same file: 0).</summary>
    public long Updated { get; set; }
    /// <summary>Tag → leads the campaign's tag rules newly gave it (beside the file's own tags).</summary>
    public SortedDictionary<string, long> RuleTagsAdded { get; } = new(StringComparer.Ordinal);
    /// <summary>Tag → stored leads that lost it because its rule no longer holds.</summary>
    public SortedDictionary<string, long> RuleTagsRemoved { get; } = new(StringComparer.Ordinal);
    /// <summary>The first <see cref="LeadImporter.MaxReportedErrors"/> rejections, in row order.</summary>
    public List<ImportError> Errors { get; } = [];
    public List<string> IgnoredColumns { get; } = [];
    /// <summary>The line of the last row read whole: rows 2..LastRow were processed, nothing after them was read.</summary>
    public long LastRow { get; set; }
    /// <summary>Why the file looks cut short (input broke off, or the last line stops mid-row), if it does; the rows counted above were still processed.</summary>
    public string? Interrupted { get; set; }
}

/// <summary>The file itself cannot be read as a Leads CSV (no header, missing required columns): nothing was imported.</summary>
public sealed class LeadImportException(string message) : Exception(message);

/// <summary>
/// Streams a Leads CSV into a campaign: each row validated (E.164 phone, known region, IANA time zone,
/// dates, numbers), rows of one customer merged into one lead, and each batch of accepted rows committed in its
/// own transaction, in file order, so an error later in the file loses nothing. The file's tags and priority are
/// kept as given; the campaign's tag rules add their tags beside them, and a lead whose file gives no priority gets
/// the sum of its tags' rule priorities. Merging is deterministic (soonest expiry, highest figures and priority given,
/// every tag), so importing the same file again changes nothing.
/// </summary>
public sealed class LeadImporter(StoreDb db, Pii pii)
{
    public const int MaxReportedErrors = 1000;
    private const int MaxIgnoredColumns = 32;
    private static readonly string[] Required = ["phone", "region", "timezone"];
    private static readonly string[] Optional = ["customer_id", "name", "policy_no", "policy_expiry", "premium", "claims_3y", "tags", "id_number", "priority", "consent_source", "consent_at"];
    private static readonly string[] LeadColumns =
        ["id", "campaign_id", "customer_id", "phone_enc", "phone_hash", "region", "timezone", "policy_no", "policy_expiry", "premium", "claims_3y",
         "tags", "priority", "rule_tags", "file_priority", "consent_source", "consent_at", "due_at", "created_at"];
    private static readonly string[] CustomerColumns =
        ["id", "external_id", "phone_hash", "name", "id_number_enc", "id_number_hash", "id_number_masked", "created_at"];

    public const int DefaultBatchSize = 5000;
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary><see cref="ImportAsync"/> of a file or an in-memory CSV, for callers without a request to keep free (the CLI, a run config, tests).</summary>
    public ImportReport Import(long campaignId, string campaignName, Stream input, DateTime utcNow) =>
        CsvReader.Run(input, pipe => ImportAsync(campaignId, campaignName, pipe, utcNow));

    /// <summary>
    /// Reads the CSV from <paramref name="input"/> (a file's or a request body's pipe) without blocking a thread on it.
    /// A read that fails (the upload limit, a client gone) ends the import there: every whole row before it is kept
    /// and the report says so (<see cref="ImportReport.Interrupted"/>).
    /// </summary>
    public async Task<ImportReport> ImportAsync(long campaignId, string campaignName, PipeReader input, DateTime utcNow, CancellationToken ct = default)
    {
        var report = new ImportReport { Campaign = campaignName };
        // On PostgreSQL no foreign key guards leads (sql/postgres/002): the campaign is checked here, once.
        pii.Bind(db); // the key check, before a row is read
        var rules = new Campaigns(db).Get(campaignId)?.Settings.TagRules
            ?? throw new LeadImportException($"leads import: campaign '{campaignName}' (id {campaignId}) does not exist");
        var csv = new CsvReader(input);
        var record = new List<string>();
        if (!await csv.ReadAsync(record, ct)) throw new LeadImportException("leads csv: the file is empty; a header row is required (phone, region, timezone, ...)");
        var columns = ReadHeader(csv.Malformed is null ? record : throw new LeadImportException($"leads csv: header (line 1): {csv.Malformed}"), report);
        var zones = new Dictionary<string, string>(StringComparer.Ordinal);
        var regions = new Dictionary<string, string>(StringComparer.Ordinal);
        var tagLists = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var batch = new Batch();
        // This thread reads, validates and looks up the next batch while the previous one is written: on two cores
        // the parsing, hashing, encryption and the lookup's round trip hide behind the database's insert work. One
        // batch in flight at a time keeps the batches (and the report's errors) in file order.
        var writing = Task.FromResult(new List<Known>());
        async Task Hand()
        {
            var full = batch;
            batch = new Batch();
            // The batch before the one in flight is committed, so this lookup sees it; what the batch in flight
            // writes comes back from it as its customers' final state, which wins over whatever the lookup saw.
            var found = full.Drafts.Count > 0 ? await Task.Run(() => Lookup(campaignId, full.Drafts, LeadRules.NeedAnswerTimes(rules)), ct) : [];
            var inFlight = await writing;
            writing = Task.Run(() => Commit(campaignId, rules, full, inFlight, found, report, utcNow), ct);
        }
        try
        {
            try
            {
                var broken = false;
                while (await csv.ReadAsync(record, ct))
                {
                    report.Rows++;
                    report.LastRow = csv.Row;
                    var errors = batch.Errors.Count;
                    if (csv.Malformed is { } bad) batch.Reject(csv.Row, "*", bad);
                    else if (Parse(csv.Row, record, columns, zones, regions, tagLists, batch) is { } draft) batch.Drafts.Add(draft);
                    broken = batch.Errors.Count > errors;
                    if (batch.Drafts.Count + batch.Errors.Count >= BatchSize) await Hand();
                }
                // A last line that is rejected and has no line break after it is where a copy or download stopped.
                if (broken && csv.EndedWithoutLineBreak)
                    report.Interrupted = $"the file ends in the middle of row {csv.Row} (no line break after it, and the row is rejected): it looks cut short";
            }
            catch (IOException e)
            {
                // The input broke off (upload limit, client gone): every whole row read so far is still kept.
                report.Interrupted = e.Message;
            }
            await Hand();
        }
        finally { await writing; } // the report is complete, or the write's failure is what surfaces
        return report;
    }

    /// <summary>Consecutive rows of the file: the valid ones, and the rejections among them in row order.</summary>
    private sealed class Batch
    {
        public List<LeadDraft> Drafts { get; } = [];
        public List<ImportError> Errors { get; } = [];
        public void Reject(long row, string field, string reason) => Errors.Add(new ImportError(row, field, reason));
    }

    /// <summary>Where each column sits in a record, -1 when the file has none: looked up once, not per row.</summary>
    private sealed record Columns(int Count, int Phone, int Region, int TimeZone, int CustomerId, int Name, int PolicyNo,
        int PolicyExpiry, int Premium, int Claims, int Tags, int IdNumber, int Priority, int ConsentSource, int ConsentAt);

    private static Columns ReadHeader(IReadOnlyList<string> header, ImportReport report)
    {
        // A file without a header has data in its first line: no header cell is echoed unless it is a column we know,
        // or looks like a column name (a short word, no digits run), so no phone or ID number reaches the message.
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim().ToLowerInvariant();
            var known = Required.Contains(name) || Optional.Contains(name);
            if (!columns.TryAdd(name, i))
                throw new LeadImportException($"leads csv: header: column {i + 1} repeats {(known ? $"'{name}'" : $"column {columns[name] + 1}")}");
            if (!known && report.IgnoredColumns.Count < MaxIgnoredColumns) report.IgnoredColumns.Add(LooksLikeName(name) ? name : $"column {i + 1}");
        }
        var missing = Required.Where(r => !columns.ContainsKey(r)).ToList();
        if (missing.Count > 0)
            throw new LeadImportException($"leads csv: header (line 1) is missing required column(s) {string.Join(", ", missing)}; it has {header.Count} column(s), " +
                "none shown (a file without a header has a customer's data there)");
        int At(string name) => columns.TryGetValue(name, out var i) ? i : -1;
        static bool LooksLikeName(string n) => n.Length is > 0 and <= 40 && char.IsLetter(n[0]) && n.Count(char.IsDigit) <= 2;
        return new Columns(columns.Count, At("phone"), At("region"), At("timezone"), At("customer_id"), At("name"), At("policy_no"),
            At("policy_expiry"), At("premium"), At("claims_3y"), At("tags"), At("id_number"), At("priority"), At("consent_source"), At("consent_at"));
    }

    /// <summary>How many distinct regions and tag lists a file's rows keep read (a file names a handful; past this each is read again).</summary>
    private const int MaxCached = 4096;

    private LeadDraft? Parse(long row, List<string> record, Columns columns, Dictionary<string, string> zones, Dictionary<string, string> regions,
        Dictionary<string, string[]> tagLists, Batch batch)
    {
        void Reject(string field, string reason) => batch.Reject(row, field, reason);
        string? Get(int i) => i >= 0 && record[i].Length > 0 ? record[i] : null;

        if (record.Count != columns.Count) { Reject("*", $"has {record.Count} fields, the header has {columns.Count}"); return null; }
        var rawRegion = record[columns.Region];
        // Like the zones: each valid region is normalised once, and every lead shares its one string.
        if (!regions.TryGetValue(rawRegion, out var region))
        {
            if (PhoneNumbers.NormaliseRegion(rawRegion) is not { } normal) { Reject("region", $"{Redact.Echo(rawRegion)} is not a known region (ISO 3166 code such as CN or CN-GD)"); return null; }
            region = normal;
            if (regions.Count < MaxCached) regions[rawRegion] = normal;
        }
        if (!PhoneNumbers.TryNormalise(record[columns.Phone], region, out var phone, out var phoneError)) { Reject("phone", phoneError); return null; }
        var tzName = record[columns.TimeZone];
        // A file names a handful of zones: each valid one is checked once, and every lead shares its one string.
        if (!zones.TryGetValue(tzName, out var zone))
        {
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(tzName, out var tz) || !tz.HasIanaId) { Reject("timezone", $"{Redact.Echo(tzName)} is not a known IANA time zone"); return null; }
            zones[tzName] = zone = tzName;
        }

        DateOnly? expiry = null;
        if (Get(columns.PolicyExpiry) is { } exp)
        {
            if (!DateOnly.TryParseExact(exp, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)) { Reject("policy_expiry", $"{Redact.Echo(exp)} is not a date (yyyy-MM-dd)"); return null; }
            expiry = d;
        }
        double? premium = null;
        if (Get(columns.Premium) is { } pr)
        {
            if (!double.TryParse(pr, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p < 0 || !double.IsFinite(p)) { Reject("premium", $"{Redact.Echo(pr)} is not a non-negative number"); return null; }
            premium = p;
        }
        int? claims = null;
        if (Get(columns.Claims) is { } cl)
        {
            if (!int.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) { Reject("claims_3y", $"{Redact.Echo(cl)} is not a non-negative whole number"); return null; }
            claims = n;
        }
        int? priority = null;
        if (Get(columns.Priority) is { } pri)
        {
            if (!int.TryParse(pri, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) || Math.Abs(n) > 1_000_000) { Reject("priority", $"{Redact.Echo(pri)} is not a whole number within ±1000000"); return null; }
            priority = n;
        }
        DateTime? consentAt = null;
        if (Get(columns.ConsentAt) is { } ca)
        {
            if (!DateOnly.TryParseExact(ca, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)) { Reject("consent_at", $"{Redact.Echo(ca)} is not a date (yyyy-MM-dd)"); return null; }
            consentAt = d.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
        }
        var consentSource = Get(columns.ConsentSource);
        if ((consentAt is null) != (consentSource is null)) { Reject(consentAt is null ? "consent_at" : "consent_source", "consent needs both its source and its date"); return null; }
        var idNumber = Get(columns.IdNumber);
        if (idNumber is not null && (idNumber.Length is < 4 or > 32 || !idNumber.All(char.IsAsciiLetterOrDigit)))
        {
            Reject("id_number", "must be 4–32 letters or digits"); // never echo the value: it is PII
            return null;
        }
        var tags = new HashSet<string>(StringComparer.Ordinal);
        if (Get(columns.Tags) is { } tagList)
        {
            // A file repeats a few tag lists: each is split once, and its leads share the tags' strings.
            if (!tagLists.TryGetValue(tagList, out var split))
            {
                split = tagList.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (tagLists.Count < MaxCached) tagLists[tagList] = split;
            }
            foreach (var t in split) tags.Add(t);
        }
        // Hashed and encrypted here, on the reading thread, to keep the writing thread (the slower one) short.
        var hash = pii.Hash(phone);
        return new LeadDraft
        {
            Row = row, PhoneEnc = pii.Encrypt(phone, PiiColumn.Phone, hash), PhoneHash = hash, Region = region, TimeZone = zone,
            CustomerExt = Get(columns.CustomerId), Name = Get(columns.Name), PolicyNo = Get(columns.PolicyNo), Expiry = expiry,
            Premium = premium, Claims = claims, Priority = priority, IdNumber = idNumber, Tags = tags, ConsentAt = consentAt, ConsentSource = consentSource,
        };
    }

    /// <summary>A customer already stored (or written by the batch before), with its lead in this campaign if it has one.</summary>
    private sealed class Known
    {
        public long Id { get; set; }
        public string? ExternalId { get; init; }
        public required byte[] PhoneHash { get; init; }
        /// <summary>The customer's further numbers (customer_phones): they find the customer as its own number does.</summary>
        public List<byte[]> OtherPhones { get; } = [];
        public string? LastOutcome { get; init; }
        /// <summary>Local times of the live answers of the customer's stored lead (read only when a rule needs them).</summary>
        public List<TimeOnly> AnswerTimes { get; } = [];
        public long? LeadId { get; set; }
        /// <summary>The stored lead's merged columns (with <see cref="LeadId"/>).</summary>
        public LeadDraft? Lead { get; set; }
        /// <summary>While a batch commits: the lead it gives the customer (a new one, or the stored one with its rows folded in); a field, not a dictionary keyed by customer, whose hashing showed in the profile.</summary>
        public LeadDraft? Pending { get; set; }
    }

    /// <summary>
    /// One transaction per batch, set-based: each row is resolved in memory against the customers the lookup found
    /// and those the batch before wrote (the same rules on both databases), then new customers and new leads go in
    /// by bulk insert and the merged leads are bulk-loaded into a staging table and updated by one statement.
    /// Returns the customers the batch wrote, in their final state, for the next batch to resolve against.
    /// </summary>
    private List<Known> Commit(long campaignId, IReadOnlyList<TagRule> rules, Batch batch, List<Known> before, List<Known> found, ImportReport report, DateTime utcNow)
    {
        var today = DateOnly.FromDateTime(utcNow);
        var at = Time.Ms(utcNow);
        var rejected = batch.Errors;
        var accepted = 0L;
        var merged = 0L;
        var leads = new List<Known>(); // the customers the batch gives a lead (Known.Pending), in the order the file names them
        var ruleAdded = new Dictionary<string, long>(StringComparer.Ordinal);
        var ruleRemoved = new Dictionary<string, long>(StringComparer.Ordinal);
        var updated = 0;
        static void Count(Dictionary<string, long> counts, string tag) => counts[tag] = counts.GetValueOrDefault(tag) + 1;
        if (batch.Drafts.Count > 0) db.Write((c, tx) =>
        {
            // The keyed hash is uniformly random and secret, so its first bytes make a fine, collision-proof dictionary hash.
            var byHash = new Dictionary<byte[], Known>(HashKey.Comparer);
            var byExt = new Dictionary<string, Known>(StringComparer.Ordinal);
            void Index(Known cu)
            {
                byHash.TryAdd(cu.PhoneHash, cu);
                foreach (var other in cu.OtherPhones) byHash.TryAdd(other, cu);
                if (cu.ExternalId is not null) byExt.TryAdd(cu.ExternalId, cu);
            }
            // The batch before may not have been committed when the lookup ran: its own record of a customer comes first.
            var written = before.ToDictionary(cu => cu.Id);
            foreach (var cu in before) Index(cu);
            foreach (var cu in found)
            {
                if (!written.TryGetValue(cu.Id, out var mine)) { Index(cu); continue; }
                // That batch may not have looked this customer's further numbers up: the lookup's are still theirs.
                foreach (var other in cu.OtherPhones)
                    if (byHash.TryAdd(other, mine)) mine.OtherPhones.Add(other);
            }

            var newCustomers = new List<(Known Row, LeadDraft Draft)>();
            var newPhones = new List<(Known Customer, LeadDraft Draft)>();
            foreach (var d in batch.Drafts)
            {
                byHash.TryGetValue(d.PhoneHash, out var byPhone);
                Known? byId = null;
                if (d.CustomerExt is not null) byExt.TryGetValue(d.CustomerExt, out byId);
                // One record per customer here, so the same object means the same customer (new ones have no id yet).
                if (byPhone is not null && byId is not null && !ReferenceEquals(byPhone, byId))
                {
                    rejected.Add(new ImportError(d.Row, "customer_id", "names another customer than the one this row's phone number belongs to"));
                    continue;
                }
                var customer = byId ?? byPhone;
                if (customer is null)
                {
                    customer = new Known { ExternalId = d.CustomerExt, PhoneHash = d.PhoneHash };
                    newCustomers.Add((customer, d));
                    Index(customer);
                }
                else if (byPhone is null) // a known customer, named by id, with a number not on record: keep it
                {
                    customer.OtherPhones.Add(d.PhoneHash);
                    byHash.TryAdd(d.PhoneHash, customer);
                    newPhones.Add((customer, d));
                }
                d.LastOutcome = customer.LastOutcome;
                if (customer.Pending is { } lead) { lead.Absorb(d); merged++; }
                else
                {
                    leads.Add(customer);
                    if (customer.Lead is { } stored) { customer.Pending = stored.MergedWith(d); merged++; }
                    else { customer.Pending = d; accepted++; }
                }
            }

            if (newCustomers.Count > 0)
            {
                var first = StoreDb.Reserve(c, tx, "customer", newCustomers.Count);
                for (var i = 0; i < newCustomers.Count; i++) newCustomers[i].Row.Id = first + i;
                db.Dialect.BulkInsert(c, tx, "customers", CustomerColumns, newCustomers, (w, nc) =>
                {
                    var idn = nc.Draft.IdNumber;
                    w.Write(nc.Row.Id); w.Write(nc.Row.ExternalId); w.Write(nc.Row.PhoneHash); w.Write(nc.Draft.Name);
                    var idHash = idn is null ? null : pii.Hash(idn);
                    w.Write(idn is null ? null : pii.Encrypt(idn, PiiColumn.IdNumber, idHash)); w.Write(idHash); w.Write(idn is null ? null : Pii.Mask(idn));
                    w.Write(at);
                });
            }
            if (newPhones.Count > 0)
                db.Dialect.BulkInsert(c, tx, "customer_phones", PhoneColumns, newPhones, (w, np) =>
                {
                    w.Write(np.Draft.PhoneHash); w.Write(np.Customer.Id); w.Write(np.Draft.PhoneEnc); w.Write(at);
                });
            var fresh = new List<(Known Customer, LeadDraft Lead)>();
            var stale = new List<(Known Customer, LeadDraft Lead)>();
            foreach (var cu in leads)
            {
                var d = cu.Pending!;
                d.RuleTags = LeadRules.Apply(rules, d.Tags, new LeadFacts(d.Premium, d.Claims, d.Expiry, d.LastOutcome, cu.AnswerTimes), today);
                d.Effective = d.Priority ?? LeadRules.DefaultPriority(rules, d.Tags, d.RuleTags);
                var stored = cu.LeadId is null ? null : cu.Lead!;
                foreach (var tag in d.RuleTags) if (stored is null || !stored.RuleTags.Contains(tag)) Count(ruleAdded, tag);
                if (stored is not null) foreach (var tag in stored.RuleTags) if (!d.RuleTags.Contains(tag) && !d.Tags.Contains(tag)) Count(ruleRemoved, tag);
                if (stored is null) fresh.Add((cu, d));
                else if (!d.SameColumns(stored)) stale.Add((cu, d)); // a row that changes nothing writes nothing
            }
            if (fresh.Count > 0)
            {
                var firstLead = StoreDb.Reserve(c, tx, "lead", fresh.Count);
                for (var i = 0; i < fresh.Count; i++) fresh[i].Customer.LeadId = firstLead + i;
                db.Dialect.BulkInsert(c, tx, "leads", LeadColumns, fresh, (w, f) =>
                {
                    w.Write(f.Customer.LeadId!.Value); w.Write(campaignId); w.Write(f.Customer.Id); w.Write(f.Lead.PhoneEnc); w.Write(f.Lead.PhoneHash);
                    w.Write(f.Lead.Region); w.Write(f.Lead.TimeZone);
                    WriteMerged(w, f.Lead);
                    w.Write(at); w.Write(at);
                });
            }
            if (stale.Count > 0) // rows folded into stored leads
            {
                c.Execute(MergeTable, transaction: tx);
                db.Dialect.BulkInsert(c, tx, "import_merge", MergeColumns, stale, (w, s) =>
                {
                    w.Write(s.Customer.LeadId!.Value);
                    WriteMerged(w, s.Lead);
                });
                c.Execute("""
                    UPDATE leads SET policy_no = m.policy_no, policy_expiry = m.policy_expiry, premium = m.premium, claims_3y = m.claims_3y,
                                     tags = m.tags, priority = m.priority, rule_tags = m.rule_tags, file_priority = m.file_priority,
                                     consent_source = m.consent_source, consent_at = m.consent_at
                    FROM import_merge m WHERE leads.id = m.id;
                    DROP TABLE import_merge;
                    """, transaction: tx);
            }
            updated = stale.Count;
            return 0;
        });
        // The batch is committed: only now does it count.
        report.Accepted += accepted;
        report.Merged += merged;
        report.Rejected += rejected.Count;
        report.Updated += updated;
        foreach (var (tag, n) in ruleAdded) report.RuleTagsAdded[tag] = report.RuleTagsAdded.GetValueOrDefault(tag) + n;
        foreach (var (tag, n) in ruleRemoved) report.RuleTagsRemoved[tag] = report.RuleTagsRemoved.GetValueOrDefault(tag) + n;
        rejected.Sort((a, b) => a.Row.CompareTo(b.Row));
        report.Errors.AddRange(rejected.Take(MaxReportedErrors - report.Errors.Count));
        foreach (var cu in leads) (cu.Lead, cu.Pending) = (cu.Pending, null);
        return leads;
    }

    private static readonly string[] PhoneColumns = ["phone_hash", "customer_id", "phone_enc", "created_at"];

    private const string MergeTable = """
        CREATE TEMP TABLE import_merge (id BIGINT PRIMARY KEY, policy_no TEXT, policy_expiry INTEGER, premium DOUBLE PRECISION,
                                        claims_3y INTEGER, tags TEXT NOT NULL, priority INTEGER NOT NULL, rule_tags TEXT NOT NULL, file_priority INTEGER,
                                        consent_source TEXT, consent_at BIGINT)
        """;
    private static readonly string[] MergeColumns = ["id", "policy_no", "policy_expiry", "premium", "claims_3y", "tags", "priority", "rule_tags", "file_priority", "consent_source", "consent_at"];

    /// <summary>The lead's merged columns, in <see cref="MergeColumns"/> order after the id (and in <see cref="LeadColumns"/> order).</summary>
    private static void WriteMerged(IRowWriter w, LeadDraft d)
    {
        w.Write(d.PolicyNo); w.Write(d.Expiry is { } e ? Time.Day(e) : null); w.Write(d.Premium); w.Write(d.Claims);
        w.Write(d.AllTags()); w.Write((int?)d.Effective); w.Write(string.Join(';', d.RuleTags)); w.Write(d.Priority);
        w.Write(d.ConsentSource); w.Write(d.ConsentAt is { } c ? Time.Ms(c) : null);
    }

    /// <summary>
    /// Customers the rows name, each with its lead in this campaign: by phone hash, then by customer id only for
    /// the ids that lookup did not settle (a re-import finds everyone by phone and skips the second query).
    /// Two index lookups, not one query with OR: PostgreSQL plans that as a scan of every customer.
    /// </summary>
    private List<Known> Lookup(long campaignId, List<LeadDraft> drafts, bool answerTimes)
    {
        using var c = db.Connect();
        var found = Find(c, "cu.phone_hash", campaignId, drafts.Select(d => d.PhoneHash).ToArray());
        var seen = found.Select(k => k.PhoneHash).ToHashSet(HashKey.Comparer);
        var others = drafts.Select(d => d.PhoneHash).Where(h => !seen.Contains(h)).Distinct(HashKey.Comparer).ToArray();
        if (others.Length > 0) Merge(found, Find(c, "cp.phone_hash", campaignId, others, OtherPhonesJoin));
        var settled = found.Where(k => k.ExternalId is not null).Select(k => k.ExternalId!).ToHashSet(StringComparer.Ordinal);
        var externals = drafts.Where(d => d.CustomerExt is not null && !settled.Contains(d.CustomerExt)).Select(d => d.CustomerExt!).Distinct().ToArray();
        if (externals.Length > 0) Merge(found, Find(c, "cu.external_id", campaignId, externals));
        if (answerTimes) ReadAnswerTimes(c, found);
        return found;
    }

    /// <summary>The local time of each live answer of the stored leads (by the attempts' lead index).</summary>
    private void ReadAnswerTimes(DbConnection c, List<Known> found)
    {
        var byLead = found.Where(k => k.LeadId is not null).ToDictionary(k => k.LeadId!.Value);
        if (byLead.Count == 0) return;
        var zones = new Dictionary<string, TimeZoneInfo>(StringComparer.Ordinal);
        var args = new DynamicParameters();
        using var r = c.ExecuteReader($"""
            SELECT a.lead_id, a.answered_at FROM attempts a
            WHERE {db.Dialect.InKeys(c, "a.lead_id", byLead.Keys.ToArray(), args)} AND a.outcome = 'human' AND a.answered_at IS NOT NULL
            """, args);
        while (r.Read())
        {
            var k = byLead[r.GetInt64(0)];
            var tzName = k.Lead!.TimeZone;
            if (!zones.TryGetValue(tzName, out var tz)) zones[tzName] = tz = TimeZoneInfo.FindSystemTimeZoneById(tzName);
            k.AnswerTimes.Add(TimeOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(Time.FromMs(r.GetInt64(1)), tz)));
        }
    }

    private const string OtherPhonesJoin = "JOIN customer_phones cp ON cp.customer_id = cu.id";

    /// <summary>Adds customers found by a further look-up, one record per customer (its numbers gathered), so no customer gets two leads.</summary>
    private static void Merge(List<Known> found, List<Known> more)
    {
        var byId = found.ToDictionary(k => k.Id);
        foreach (var k in more)
        {
            if (byId.TryGetValue(k.Id, out var first)) first.OtherPhones.AddRange(k.OtherPhones);
            else { found.Add(k); byId[k.Id] = k; }
        }
    }

    // Read by hand, not mapped by Dapper: a batch reads thousands of these and the mapping showed in the profile.
    private List<Known> Find<TKey>(DbConnection c, string column, long campaignId, TKey[] keys, string join = "")
    {
        var found = new List<Known>(keys.Length);
        var args = new DynamicParameters(new { campaignId });
        var where = db.Dialect.InKeys(c, column, keys, args);
        using var r = c.ExecuteReader($"""
            SELECT cu.id, cu.external_id, cu.phone_hash, cu.last_outcome, l.id AS lead_id, l.policy_no, l.policy_expiry, l.premium,
                   l.claims_3y, l.tags, l.priority, l.rule_tags, l.file_priority, l.timezone, l.consent_source, l.consent_at{(join == "" ? "" : ", cp.phone_hash")}
            FROM customers cu {join} LEFT JOIN leads l ON l.customer_id = cu.id AND l.campaign_id = @campaignId
            WHERE {where}
            """, args);
        while (r.Read())
        {
            var phoneHash = (byte[])r.GetValue(2);
            found.Add(new Known
            {
                Id = r.GetInt64(0), ExternalId = r.IsDBNull(1) ? null : r.GetString(1), PhoneHash = phoneHash,
                LastOutcome = r.IsDBNull(3) ? null : r.GetString(3), LeadId = r.IsDBNull(4) ? null : r.GetInt64(4),
                Lead = r.IsDBNull(4) ? null : StoredLead(r, phoneHash),
            });
            if (join != "") found[^1].OtherPhones.Add((byte[])r.GetValue(16));
        }
        return found;
    }

    /// <summary>A stored lead's columns as a draft: its file tags are its tags less those its rules added.</summary>
    private static LeadDraft StoredLead(System.Data.IDataReader r, byte[] phoneHash)
    {
        var ruleTags = new SortedSet<string>(r.GetString(11).Split(';', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
        var tags = new HashSet<string>(r.GetString(9).Split(';', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal);
        tags.ExceptWith(ruleTags);
        return new LeadDraft
        {
            Row = 0, PhoneEnc = [], PhoneHash = phoneHash, Region = "", TimeZone = r.GetString(13),
            PolicyNo = r.IsDBNull(5) ? null : r.GetString(5), Expiry = r.IsDBNull(6) ? null : Time.FromDay(r.GetInt32(6)),
            Premium = r.IsDBNull(7) ? null : r.GetDouble(7), Claims = r.IsDBNull(8) ? null : r.GetInt32(8),
            Tags = tags, RuleTags = ruleTags, Effective = r.GetInt32(10), Priority = r.IsDBNull(12) ? null : r.GetInt32(12),
            ConsentSource = r.IsDBNull(14) ? null : r.GetString(14), ConsentAt = r.IsDBNull(15) ? null : Time.FromMs(r.GetInt64(15)),
        };
    }
}

/// <summary>Byte arrays compared by content: keyed hashes as dictionary keys without turning each into a string.</summary>
internal sealed class HashKey : IEqualityComparer<byte[]>
{
    public static readonly HashKey Comparer = new();
    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
    public int GetHashCode(byte[] key) => key.Length >= 4 ? BitConverter.ToInt32(key, 0) : key.Length;
}

/// <summary>A validated row on its way into the store.</summary>
internal sealed class LeadDraft
{
    public required long Row { get; init; }
    public required byte[] PhoneEnc { get; init; }
    public required byte[] PhoneHash { get; init; }
    public required string Region { get; init; }
    public required string TimeZone { get; init; }
    public string? CustomerExt { get; init; }
    public string? Name { get; init; }
    public string? PolicyNo { get; set; }
    public DateOnly? Expiry { get; set; }
    public double? Premium { get; set; }
    public int? Claims { get; set; }
    /// <summary>The priority the file gave (file_priority); null when no row of the customer gave one.</summary>
    public int? Priority { get; set; }
    public string? IdNumber { get; init; }
    /// <summary>The file's tags (never dropped).</summary>
    public required HashSet<string> Tags { get; init; }
    /// <summary>The tags the campaign's rules added beside the file's (rule_tags).</summary>
    public SortedSet<string> RuleTags { get; set; } = new(StringComparer.Ordinal);
    /// <summary>The priority the hopper orders by: the file's, else the rules' default.</summary>
    public int Effective { get; set; }
    public string? LastOutcome { get; set; }
    /// <summary>The most recent consent given (its date and where it was given).</summary>
    public DateTime? ConsentAt { get; set; }
    public string? ConsentSource { get; set; }

    /// <summary>
    /// Another record of the same customer: keep the soonest renewal, the highest figures and priority given, every tag.
    /// Each only moves one way and lands the same whatever order or batches the rows come in, so a re-run (even one
    /// cut short) changes nothing.
    /// </summary>
    public void Absorb(LeadDraft other)
    {
        PolicyNo ??= other.PolicyNo;
        if (other.Expiry is { } e && (Expiry is null || e < Expiry)) { Expiry = e; PolicyNo = other.PolicyNo ?? PolicyNo; }
        Premium = Max(Premium, other.Premium);
        Claims = Max(Claims, other.Claims);
        Priority = Max(Priority, other.Priority);
        Tags.UnionWith(other.Tags);
        if (other.ConsentAt is { } ca && (ConsentAt is null || ca > ConsentAt)) (ConsentAt, ConsentSource) = (ca, other.ConsentSource);
    }

    /// <summary>The tags column: the file's and the rules' together, sorted.</summary>
    public string AllTags()
    {
        // One array sorted, not a sorted set's tree: this runs for every lead an import writes.
        var all = new string[Tags.Count + RuleTags.Count];
        Tags.CopyTo(all);
        var n = Tags.Count;
        foreach (var tag in RuleTags) if (!Tags.Contains(tag)) all[n++] = tag;
        Array.Sort(all, 0, n, StringComparer.Ordinal);
        return string.Join(';', all, 0, n);
    }

    /// <summary>True when writing this lead over <paramref name="stored"/> would change no column.</summary>
    public bool SameColumns(LeadDraft stored) =>
        PolicyNo == stored.PolicyNo && Expiry == stored.Expiry && Premium == stored.Premium && Claims == stored.Claims &&
        Priority == stored.Priority && Effective == stored.Effective && Tags.SetEquals(stored.Tags) && RuleTags.SetEquals(stored.RuleTags) &&
        ConsentAt == stored.ConsentAt && ConsentSource == stored.ConsentSource;

    /// <summary>This stored lead with a row folded in, as a new draft: the stored one stays as it was read.</summary>
    public LeadDraft MergedWith(LeadDraft row)
    {
        var lead = new LeadDraft
        {
            Row = row.Row, PhoneEnc = PhoneEnc, PhoneHash = PhoneHash, Region = Region, TimeZone = TimeZone, LastOutcome = row.LastOutcome,
            PolicyNo = PolicyNo, Expiry = Expiry, Premium = Premium, Claims = Claims, Priority = Priority,
            ConsentAt = ConsentAt, ConsentSource = ConsentSource, Tags = new HashSet<string>(Tags, StringComparer.Ordinal),
        };
        lead.Absorb(row);
        return lead;
    }

    private static T? Max<T>(T? a, T? b) where T : struct, IComparable<T> =>
        a is null ? b : b is null ? a : a.Value.CompareTo(b.Value) >= 0 ? a : b;
}
