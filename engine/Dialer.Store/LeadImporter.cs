using Dialer.Core.Text;
using System.Data.Common;
using System.Globalization;
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
    /// <summary>The first <see cref="LeadImporter.MaxReportedErrors"/> rejections, in row order.</summary>
    public List<ImportError> Errors { get; } = [];
    public List<string> IgnoredColumns { get; } = [];
    /// <summary>Why reading stopped before the end of the input, if it did; the rows counted above were still processed.</summary>
    public string? Interrupted { get; set; }
}

/// <summary>The file itself cannot be read as a Leads CSV (no header, missing required columns): nothing was imported.</summary>
public sealed class LeadImportException(string message) : Exception(message);

/// <summary>
/// Streams a Leads CSV into a campaign: each row validated (E.164 phone, known region, IANA time zone,
/// dates, numbers), rows of one customer merged into one lead, tags computed, and each batch of
/// accepted rows committed in its own transaction, in file order, so an error later in the file loses nothing.
/// </summary>
public sealed class LeadImporter(StoreDb db, Pii pii)
{
    public const int MaxReportedErrors = 1000;
    private static readonly string[] Required = ["phone", "region", "timezone"];
    private static readonly string[] Optional = ["customer_id", "name", "policy_no", "policy_expiry", "premium", "claims_3y", "tags", "id_number", "priority"];
    private static readonly string[] LeadColumns =
        ["id", "campaign_id", "customer_id", "phone_enc", "phone_hash", "region", "timezone", "policy_no", "policy_expiry", "premium", "claims_3y", "tags", "priority", "due_at", "created_at"];
    private static readonly string[] CustomerColumns =
        ["id", "external_id", "phone_hash", "name", "id_number_enc", "id_number_hash", "id_number_masked", "created_at"];

    public int BatchSize { get; init; } = 5000;

    public ImportReport Import(long campaignId, string campaignName, TextReader input, DateTime utcNow)
    {
        var report = new ImportReport { Campaign = campaignName };
        // On PostgreSQL no foreign key guards leads (sql/postgres/002): the campaign is checked here, once.
        using (var c = db.Connect())
            if (c.ExecuteScalar<long?>("SELECT id FROM campaigns WHERE id = @campaignId", new { campaignId }) is null)
                throw new LeadImportException($"leads import: campaign '{campaignName}' (id {campaignId}) does not exist");
        var csv = new CsvReader(input);
        var record = new List<string>();
        if (!csv.Read(record)) throw new LeadImportException("leads csv: the file is empty; a header row is required (phone, region, timezone, ...)");
        var columns = ReadHeader(csv.Malformed is null ? record : throw new LeadImportException($"leads csv: header: {csv.Malformed}"), report);
        var batch = new Batch();
        // This thread reads and validates the next batch while the previous one is written: on two cores the
        // parsing, hashing and encryption hide behind the database's insert work. One batch in flight at a time
        // keeps the batches (and the report's errors) in file order.
        var writing = Task.CompletedTask;
        void Hand()
        {
            writing.GetAwaiter().GetResult();
            var full = batch;
            writing = Task.Run(() => Commit(campaignId, full, report, utcNow));
            batch = new Batch();
        }
        try
        {
            try
            {
                while (csv.Read(record))
                {
                    report.Rows++;
                    if (csv.Malformed is { } bad) batch.Reject(csv.Row, "*", bad);
                    else if (Parse(csv.Row, record, columns, batch) is { } draft) batch.Drafts.Add(draft);
                    if (batch.Drafts.Count + batch.Errors.Count >= BatchSize) Hand();
                }
            }
            catch (IOException e)
            {
                // The input broke off (upload limit, client gone): every whole row read so far is still kept.
                report.Interrupted = e.Message;
            }
            Hand();
        }
        finally { writing.GetAwaiter().GetResult(); } // the report is complete, or the write's failure is what surfaces
        return report;
    }

    /// <summary>Consecutive rows of the file: the valid ones, and the rejections among them in row order.</summary>
    private sealed class Batch
    {
        public List<LeadDraft> Drafts { get; } = [];
        public List<ImportError> Errors { get; } = [];
        public void Reject(long row, string field, string reason) => Errors.Add(new ImportError(row, field, reason));
    }

    private static Dictionary<string, int> ReadHeader(IReadOnlyList<string> header, ImportReport report)
    {
        var columns = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim().ToLowerInvariant();
            if (!columns.TryAdd(name, i)) throw new LeadImportException($"leads csv: header names column '{name}' twice");
            if (!Required.Contains(name) && !Optional.Contains(name)) report.IgnoredColumns.Add(name);
        }
        var missing = Required.Where(r => !columns.ContainsKey(r)).ToList();
        if (missing.Count > 0)
            throw new LeadImportException($"leads csv: header is missing required column(s) {string.Join(", ", missing)} (found: {string.Join(", ", header)})");
        return columns;
    }

    private LeadDraft? Parse(long row, IReadOnlyList<string> record, Dictionary<string, int> columns, Batch batch)
    {
        void Reject(string field, string reason) => batch.Reject(row, field, reason);
        string? Get(string name) => columns.TryGetValue(name, out var i) && i < record.Count && record[i].Length > 0 ? record[i] : null;

        if (record.Count != columns.Count) { Reject("*", $"has {record.Count} fields, the header has {columns.Count}"); return null; }
        var region = PhoneNumbers.NormaliseRegion(Get("region") ?? "");
        if (region is null) { Reject("region", $"'{Get("region")}' is not a known region (ISO 3166 code such as CN or CN-GD)"); return null; }
        if (!PhoneNumbers.TryNormalise(Get("phone") ?? "", region, out var phone, out var phoneError)) { Reject("phone", phoneError); return null; }
        var tzName = Get("timezone") ?? "";
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(tzName, out var tz) || !tz.HasIanaId) { Reject("timezone", $"'{tzName}' is not a known IANA time zone"); return null; }

        DateOnly? expiry = null;
        if (Get("policy_expiry") is { } exp)
        {
            if (!DateOnly.TryParseExact(exp, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)) { Reject("policy_expiry", $"'{exp}' is not a date (yyyy-MM-dd)"); return null; }
            expiry = d;
        }
        double? premium = null;
        if (Get("premium") is { } pr)
        {
            if (!double.TryParse(pr, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p < 0 || !double.IsFinite(p)) { Reject("premium", $"'{pr}' is not a non-negative number"); return null; }
            premium = p;
        }
        int? claims = null;
        if (Get("claims_3y") is { } cl)
        {
            if (!int.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) { Reject("claims_3y", $"'{cl}' is not a non-negative whole number"); return null; }
            claims = n;
        }
        int? priority = null;
        if (Get("priority") is { } pri)
        {
            if (!int.TryParse(pri, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) || Math.Abs(n) > 1_000_000) { Reject("priority", $"'{pri}' is not a whole number within ±1000000"); return null; }
            priority = n;
        }
        var idNumber = Get("id_number");
        if (idNumber is not null && (idNumber.Length is < 4 or > 32 || !idNumber.All(char.IsAsciiLetterOrDigit)))
        {
            Reject("id_number", "must be 4–32 letters or digits"); // never echo the value: it is PII
            return null;
        }
        var tags = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in (Get("tags") ?? "").Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)) tags.Add(t);
        return new LeadDraft
        {
            Row = row, Phone = phone, PhoneHash = pii.Hash(phone), Region = region, TimeZone = tzName, CustomerExt = Get("customer_id"),
            Name = Get("name"), PolicyNo = Get("policy_no"), Expiry = expiry, Premium = premium, Claims = claims, Priority = priority,
            IdNumber = idNumber, Tags = tags,
        };
    }

    /// <summary>A customer already stored, with its lead in this campaign if it has one.</summary>
    private sealed class Known
    {
        public long Id { get; set; }
        public string? ExternalId { get; set; }
        public byte[] PhoneHash { get; set; } = [];
        public string? LastOutcome { get; set; }
        public long? LeadId { get; set; }
        public string? PolicyNo { get; set; }
        public long? PolicyExpiry { get; set; }
        public double? Premium { get; set; }
        public long? Claims3y { get; set; }
        public string? Tags { get; set; }
        public long? Priority { get; set; }
    }

    /// <summary>
    /// One transaction per batch, set-based: one query finds the customers (and their leads here) the rows name,
    /// each row is resolved in memory (the same rules on both databases), then new customers and new leads go in
    /// by bulk insert and the merged leads are bulk-loaded into a staging table and updated by one statement.
    /// </summary>
    private void Commit(long campaignId, Batch batch, ImportReport report, DateTime utcNow)
    {
        var today = DateOnly.FromDateTime(utcNow);
        var at = Time.Ms(utcNow);
        var rejected = batch.Errors;
        var accepted = 0L;
        var merged = 0L;
        if (batch.Drafts.Count > 0) db.Write((c, tx) =>
        {
            var byHash = new Dictionary<string, Known>();
            var byExt = new Dictionary<string, Known>(StringComparer.Ordinal);
            void Index(Known cu)
            {
                byHash.TryAdd(Convert.ToHexString(cu.PhoneHash), cu);
                if (cu.ExternalId is not null) byExt.TryAdd(cu.ExternalId, cu);
            }
            foreach (var cu in Lookup(c, tx, campaignId, batch.Drafts)) Index(cu);

            var newCustomers = new List<(Known Row, LeadDraft Draft)>();
            var leads = new Dictionary<Known, LeadDraft>(); // the lead each customer ends up with: a new one, or a stored one with rows folded in
            foreach (var d in batch.Drafts)
            {
                byHash.TryGetValue(Convert.ToHexString(d.PhoneHash), out var byPhone);
                Known? byId = null;
                if (d.CustomerExt is not null) byExt.TryGetValue(d.CustomerExt, out byId);
                if (byPhone is not null && byId is not null && byPhone.Id != byId.Id)
                {
                    rejected.Add(new ImportError(d.Row, "customer_id", $"'{d.CustomerExt}' is another customer than the one this phone number belongs to"));
                    continue;
                }
                var customer = byId ?? byPhone;
                if (customer is null)
                {
                    customer = new Known { ExternalId = d.CustomerExt, PhoneHash = d.PhoneHash };
                    newCustomers.Add((customer, d));
                    Index(customer);
                }
                d.LastOutcome = customer.LastOutcome;
                if (leads.TryGetValue(customer, out var lead)) { lead.Absorb(d); merged++; }
                else if (customer.LeadId is not null) { leads[customer] = Stored(customer, d); merged++; }
                else { leads[customer] = d; accepted++; }
            }

            if (newCustomers.Count > 0)
            {
                var first = StoreDb.Reserve(c, tx, "customer", newCustomers.Count);
                for (var i = 0; i < newCustomers.Count; i++) newCustomers[i].Row.Id = first + i;
                db.Dialect.BulkInsert(c, tx, "customers", CustomerColumns, newCustomers.Select(nc => new object?[]
                {
                    nc.Row.Id, nc.Row.ExternalId, nc.Row.PhoneHash, nc.Draft.Name,
                    nc.Draft.IdNumber is { } idn ? pii.Encrypt(idn) : null, nc.Draft.IdNumber is { } idh ? pii.Hash(idh) : null,
                    nc.Draft.IdNumber is { } idm ? Pii.Mask(idm) : null, at,
                }));
            }
            foreach (var (cu, d) in leads)
            {
                LeadRules.Apply(d.Tags, d.Premium, d.Claims, d.Expiry, d.LastOutcome, today);
                // A file's priority stands for a new lead; a stored lead keeps the highest it has been given.
                d.Priority = cu.LeadId is null ? d.Priority ?? LeadRules.DefaultPriority(d.Tags)
                    : Math.Max((int)cu.Priority!.Value, Math.Max(d.Priority ?? 0, LeadRules.DefaultPriority(d.Tags)));
            }
            var fresh = leads.Where(kv => kv.Key.LeadId is null).ToList();
            if (fresh.Count > 0)
            {
                var firstLead = StoreDb.Reserve(c, tx, "lead", fresh.Count);
                db.Dialect.BulkInsert(c, tx, "leads", LeadColumns, fresh.Select(object?[] (kv, i) =>
                [
                    firstLead + i, campaignId, kv.Key.Id, pii.Encrypt(kv.Value.Phone), kv.Value.PhoneHash, kv.Value.Region, kv.Value.TimeZone,
                    .. Values(kv.Value), at, at,
                ]));
            }
            if (accepted + merged > fresh.Count) // some rows folded into stored leads
            {
                c.Execute(MergeTable, transaction: tx);
                db.Dialect.BulkInsert(c, tx, "import_merge", MergeColumns,
                    leads.Where(kv => kv.Key.LeadId is not null).Select(object?[] (kv) => [kv.Key.LeadId, .. Values(kv.Value)]));
                c.Execute("""
                    UPDATE leads SET policy_no = m.policy_no, policy_expiry = m.policy_expiry, premium = m.premium, claims_3y = m.claims_3y,
                                     tags = m.tags, priority = m.priority
                    FROM import_merge m WHERE leads.id = m.id;
                    DROP TABLE import_merge;
                    """, transaction: tx);
            }
            return 0;
        });
        // The batch is committed: only now does it count.
        report.Accepted += accepted;
        report.Merged += merged;
        report.Rejected += rejected.Count;
        rejected.Sort((a, b) => a.Row.CompareTo(b.Row));
        report.Errors.AddRange(rejected.Take(MaxReportedErrors - report.Errors.Count));
    }

    private const string MergeTable = """
        CREATE TEMP TABLE import_merge (id BIGINT PRIMARY KEY, policy_no TEXT, policy_expiry INTEGER, premium DOUBLE PRECISION,
                                        claims_3y INTEGER, tags TEXT NOT NULL, priority INTEGER NOT NULL)
        """;
    private static readonly string[] MergeColumns = ["id", "policy_no", "policy_expiry", "premium", "claims_3y", "tags", "priority"];

    /// <summary>The lead's merged columns, in <see cref="MergeColumns"/> order after the id (and in <see cref="LeadColumns"/> order).</summary>
    private static object?[] Values(LeadDraft d) =>
    [
        d.PolicyNo, d.Expiry is { } e ? Time.Day(e) : null, d.Premium, d.Claims, string.Join(';', d.Tags.Order(StringComparer.Ordinal)), d.Priority,
    ];

    /// <summary>
    /// Customers the rows name, each with its lead in this campaign: by phone hash, then by customer id only for
    /// the ids that lookup did not settle (a re-import finds everyone by phone and skips the second query).
    /// Two index lookups, not one query with OR: PostgreSQL plans that as a scan of every customer.
    /// </summary>
    private IEnumerable<Known> Lookup(DbConnection c, DbTransaction tx, long campaignId, List<LeadDraft> drafts)
    {
        var byPhone = Find(c, tx, "cu.phone_hash", new { campaignId, keys = drafts.Select(d => d.PhoneHash).ToList() });
        var settled = byPhone.Where(k => k.ExternalId is not null).Select(k => k.ExternalId!).ToHashSet(StringComparer.Ordinal);
        var externals = drafts.Where(d => d.CustomerExt is not null && !settled.Contains(d.CustomerExt)).Select(d => d.CustomerExt!).Distinct().ToList();
        return externals.Count == 0 ? byPhone : byPhone.Concat(Find(c, tx, "cu.external_id", new { campaignId, keys = externals }));
    }

    private List<Known> Find(DbConnection c, DbTransaction tx, string column, object args) =>
        c.Query<Known>($"""
            SELECT cu.id, cu.external_id, cu.phone_hash, cu.last_outcome, l.id AS lead_id, l.policy_no, l.policy_expiry, l.premium,
                   l.claims_3y, l.tags, l.priority
            FROM customers cu LEFT JOIN leads l ON l.customer_id = cu.id AND l.campaign_id = @campaignId
            WHERE {db.Dialect.In(column, "@keys")}
            """, args, tx).AsList();

    /// <summary>A row folded into the lead its customer already has here: tags unite, the soonest expiry and the highest figures win.</summary>
    private static LeadDraft Stored(Known cu, LeadDraft d)
    {
        var lead = new LeadDraft
        {
            Row = d.Row, Phone = "", PhoneHash = cu.PhoneHash, Region = "", TimeZone = "", LastOutcome = cu.LastOutcome,
            PolicyNo = cu.PolicyNo, Expiry = cu.PolicyExpiry is { } e ? Time.FromDay((int)e) : null,
            Premium = cu.Premium, Claims = (int?)cu.Claims3y,
            Tags = new HashSet<string>((cu.Tags ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal),
        };
        lead.Absorb(d);
        return lead;
    }
}

/// <summary>A validated row on its way into the store.</summary>
internal sealed class LeadDraft
{
    public required long Row { get; init; }
    public required string Phone { get; init; }
    public required byte[] PhoneHash { get; init; }
    public required string Region { get; init; }
    public required string TimeZone { get; init; }
    public string? CustomerExt { get; init; }
    public string? Name { get; init; }
    public string? PolicyNo { get; set; }
    public DateOnly? Expiry { get; set; }
    public double? Premium { get; set; }
    public int? Claims { get; set; }
    public int? Priority { get; set; }
    public string? IdNumber { get; init; }
    public required HashSet<string> Tags { get; init; }
    public string? LastOutcome { get; set; }

    /// <summary>Another record of the same customer: keep the soonest renewal, the highest figures, every tag.</summary>
    public void Absorb(LeadDraft other)
    {
        PolicyNo ??= other.PolicyNo;
        if (other.Expiry is { } e && (Expiry is null || e < Expiry)) { Expiry = e; PolicyNo = other.PolicyNo ?? PolicyNo; }
        Premium = Max(Premium, other.Premium);
        Claims = Max(Claims, other.Claims);
        Priority = Max(Priority, other.Priority);
        Tags.UnionWith(other.Tags);
    }

    private static T? Max<T>(T? a, T? b) where T : struct, IComparable<T> =>
        a is null ? b : b is null ? a : a.Value.CompareTo(b.Value) >= 0 ? a : b;
}
