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
/// dates, numbers), rows of one customer merged into one lead, tags computed, and every batch of
/// accepted rows committed before the next is read, so an error later in the file loses nothing.
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
        var csv = new CsvReader(input);
        var record = new List<string>();
        if (!csv.Read(record)) throw new LeadImportException("leads csv: the file is empty; a header row is required (phone, region, timezone, ...)");
        var columns = ReadHeader(csv.Malformed is null ? record : throw new LeadImportException($"leads csv: header: {csv.Malformed}"), report);
        var batch = new List<LeadDraft>(BatchSize);
        var today = DateOnly.FromDateTime(utcNow);
        try
        {
            while (csv.Read(record))
            {
                report.Rows++;
                var draft = csv.Malformed is { } bad ? RejectRow(report, csv.Row, "*", bad) : Parse(csv.Row, record, columns, report, today);
                if (draft is null) continue;
                batch.Add(draft);
                if (batch.Count >= BatchSize) { Commit(campaignId, batch, report, utcNow); batch.Clear(); }
            }
        }
        catch (IOException e)
        {
            // The input broke off (upload limit, client gone): every whole row read so far is still kept.
            report.Interrupted = e.Message;
        }
        if (batch.Count > 0) Commit(campaignId, batch, report, utcNow);
        return report;
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

    private static LeadDraft? RejectRow(ImportReport report, long row, string field, string reason)
    {
        report.Rejected++;
        if (report.Errors.Count < MaxReportedErrors) report.Errors.Add(new ImportError(row, field, reason));
        return null;
    }

    private LeadDraft? Parse(long row, IReadOnlyList<string> record, Dictionary<string, int> columns, ImportReport report, DateOnly today)
    {
        void Reject(string field, string reason) => RejectRow(report, row, field, reason);
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

    private sealed class CustomerRow
    {
        public long Id { get; set; }
        public string? ExternalId { get; set; }
        public byte[] PhoneHash { get; set; } = [];
        public string? LastOutcome { get; set; }
    }

    private sealed class LeadRow
    {
        public long Id { get; set; }
        public long CustomerId { get; set; }
        public string? PolicyNo { get; set; }
        public long? PolicyExpiry { get; set; }
        public double? Premium { get; set; }
        public long? Claims3y { get; set; }
        public string Tags { get; set; } = "";
        public long Priority { get; set; }
    }

    /// <summary>One transaction per batch: resolve each row's customer and lead, insert the new, merge the rest.</summary>
    private void Commit(long campaignId, List<LeadDraft> batch, ImportReport report, DateTime utcNow)
    {
        var today = DateOnly.FromDateTime(utcNow);
        var at = Time.Ms(utcNow);
        db.Write((c, tx) =>
        {
            var hashes = batch.Select(d => d.PhoneHash).ToList();
            var externals = batch.Where(d => d.CustomerExt is not null).Select(d => d.CustomerExt!).Distinct().ToList();
            var customers = Lookup(c, tx, hashes, externals);
            var byHash = new Dictionary<string, CustomerRow>();
            var byExt = new Dictionary<string, CustomerRow>(StringComparer.Ordinal);
            foreach (var cu in customers) Index(cu);
            void Index(CustomerRow cu)
            {
                byHash.TryAdd(Convert.ToHexString(cu.PhoneHash), cu);
                if (cu.ExternalId is not null) byExt.TryAdd(cu.ExternalId, cu);
            }

            var leads = customers.Count == 0 ? [] : c.Query<LeadRow>(
                $"SELECT id, customer_id, policy_no, policy_expiry, premium, claims_3y, tags, priority FROM leads WHERE campaign_id = @campaignId AND {db.Dialect.In("customer_id", "@ids")}",
                new { campaignId, ids = customers.Select(x => x.Id).ToList() }, tx).ToDictionary(l => l.CustomerId);

            var newCustomers = new List<(CustomerRow Row, LeadDraft Draft)>();
            var newLeads = new Dictionary<long, LeadDraft>();            // by customer id (negative: not inserted yet)
            var merges = new Dictionary<long, (LeadRow Lead, LeadDraft Row)>(); // by existing lead id
            foreach (var d in batch)
            {
                byHash.TryGetValue(Convert.ToHexString(d.PhoneHash), out var byPhone);
                CustomerRow? byId = null;
                if (d.CustomerExt is not null) byExt.TryGetValue(d.CustomerExt, out byId);
                if (byPhone is not null && byId is not null && byPhone.Id != byId.Id)
                {
                    RejectRow(report, d.Row, "customer_id", $"'{d.CustomerExt}' is another customer than the one this phone number belongs to");
                    continue;
                }
                var customer = byId ?? byPhone;
                if (customer is null)
                {
                    customer = new CustomerRow { Id = -1 - newCustomers.Count, ExternalId = d.CustomerExt, PhoneHash = d.PhoneHash };
                    newCustomers.Add((customer, d));
                    Index(customer);
                }
                d.LastOutcome = customer.LastOutcome;
                if (newLeads.TryGetValue(customer.Id, out var pending)) { pending.Absorb(d); report.Merged++; }
                else if (leads.TryGetValue(customer.Id, out var existing))
                {
                    if (merges.TryGetValue(existing.Id, out var m)) m.Row.Absorb(d);
                    else merges[existing.Id] = (existing, d);
                    report.Merged++;
                }
                else { newLeads[customer.Id] = d; report.Accepted++; }
            }

            if (newCustomers.Count > 0)
            {
                // Temporary id -1 - i becomes first + i.
                var first = StoreDb.Reserve(c, tx, "customer", newCustomers.Count);
                newLeads = newLeads.ToDictionary(kv => kv.Key < 0 ? first + (-1 - kv.Key) : kv.Key, kv => kv.Value);
                foreach (var (row, _) in newCustomers) row.Id = first + (-1 - row.Id);
                db.Dialect.BulkInsert(c, tx, "customers", CustomerColumns, newCustomers.Select(nc => new object?[]
                {
                    nc.Row.Id, nc.Row.ExternalId, nc.Row.PhoneHash, nc.Draft.Name,
                    nc.Draft.IdNumber is { } idn ? pii.Encrypt(idn) : null, nc.Draft.IdNumber is { } idh ? pii.Hash(idh) : null,
                    nc.Draft.IdNumber is { } idm ? Pii.Mask(idm) : null, at,
                }));
            }
            if (newLeads.Count > 0)
            {
                var firstLead = StoreDb.Reserve(c, tx, "lead", newLeads.Count);
                db.Dialect.BulkInsert(c, tx, "leads", LeadColumns, newLeads.Select((kv, i) =>
                {
                    var d = kv.Value;
                    LeadRules.Apply(d.Tags, d.Premium, d.Claims, d.Expiry, d.LastOutcome, today);
                    return new object?[]
                    {
                        firstLead + i, campaignId, kv.Key, pii.Encrypt(d.Phone), d.PhoneHash, d.Region, d.TimeZone, d.PolicyNo,
                        d.Expiry is { } e ? Time.Day(e) : null, d.Premium, d.Claims, string.Join(';', d.Tags.Order(StringComparer.Ordinal)),
                        d.Priority ?? LeadRules.DefaultPriority(d.Tags), at, at,
                    };
                }));
            }
            foreach (var (lead, d) in merges.Values) Merge(c, tx, lead, d, today);
            return 0;
        });
    }

    private List<CustomerRow> Lookup(DbConnection c, DbTransaction tx, List<byte[]> hashes, List<string> externals)
    {
        const string Select = "SELECT id, external_id, phone_hash, last_outcome FROM customers WHERE ";
        var found = c.Query<CustomerRow>(Select + db.Dialect.In("phone_hash", "@hashes"), new { hashes }, tx).ToList();
        if (externals.Count > 0)
            found.AddRange(c.Query<CustomerRow>(Select + db.Dialect.In("external_id", "@externals"), new { externals }, tx));
        return found.DistinctBy(x => x.Id).ToList();
    }

    /// <summary>Folds a row into a lead already stored: tags unite, the soonest expiry and the highest priority win.</summary>
    private static void Merge(DbConnection c, DbTransaction tx, LeadRow existing, LeadDraft d, DateOnly today)
    {
        var current = new LeadDraft
        {
            Row = 0, Phone = "", PhoneHash = [], Region = "", TimeZone = "",
            PolicyNo = existing.PolicyNo, Expiry = existing.PolicyExpiry is { } e ? Time.FromDay((int)e) : null,
            Premium = existing.Premium, Claims = (int?)existing.Claims3y,
            Tags = new HashSet<string>(existing.Tags.Split(';', StringSplitOptions.RemoveEmptyEntries), StringComparer.Ordinal),
        };
        current.Absorb(d);
        LeadRules.Apply(current.Tags, current.Premium, current.Claims, current.Expiry, d.LastOutcome, today);
        c.Execute("""
            UPDATE leads SET policy_no = @PolicyNo, policy_expiry = @expiry, premium = @Premium, claims_3y = @Claims, tags = @tags,
                             priority = @priority WHERE id = @id
            """, new
        {
            current.PolicyNo, expiry = current.Expiry is { } x ? Time.Day(x) : (int?)null, current.Premium, current.Claims,
            tags = string.Join(';', current.Tags.Order(StringComparer.Ordinal)),
            priority = Math.Max(existing.Priority, Math.Max(current.Priority ?? 0, LeadRules.DefaultPriority(current.Tags))), id = existing.Id,
        }, tx);
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
