using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Dapper;
using Dialer.Core.Domain;
using Dialer.Core.Text;
using Dialer.Tests;
using Xunit.Abstractions;

namespace Dialer.Store.Tests;

/// <summary>
/// Load runs of the compliance store on PostgreSQL (DIALER_LOAD=1; sizes by DIALER_LOAD_LEADS, DIALER_LOAD_DNC): the claim
/// with every rule of cn-auto-renewal on, a do-not-call list of millions imported, and a PII key rotated under a campaign
/// that dials. Figures are printed with the load average: wall times on a shared machine are upper bounds.
/// </summary>
[Collection("db")]
public sealed class ComplianceLoadTests(PostgresServer pg, ITestOutputHelper output)
{
    private static readonly CampaignSettings CnAuto = new() { ComplianceProfile = "cn-auto-renewal", TimeZone = "Asia/Shanghai" };
    // 14:00 in Shanghai: every lead's hours are open.
    private static readonly DateTime Afternoon = new(2026, 11, 20, 6, 0, 0, DateTimeKind.Utc);

    private static int Size(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out var n) && n > 0 ? n : fallback;
    private static string Load => File.ReadAllText("/proc/loadavg").Split(' ')[0];
    private static string Phone(long i) => "+86138" + i.ToString("D8");
    private static string SecondPhone(long i) => "+86137" + i.ToString("D8");

    /// <summary>
    /// Leads of one customer each, due in the 40 days before expiry, with an ID number (a second cipher text per lead); with
    /// <paramref name="secondNumbers"/>, every 100th customer (the 5th of each hundred) gives a second number on a row of its own.
    /// </summary>
    private static string LeadsFile(int rows, bool secondNumbers = false)
    {
        var path = Path.Combine(Path.GetTempPath(), $"compliance-leads-{rows}-{Guid.NewGuid():N}.csv");
        using var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        w.Write("phone,region,timezone,customer_id,policy_expiry,id_number\n");
        for (var i = 0; i < rows; i++)
        {
            w.Write($"{Phone(i)},CN-GD,Asia/Shanghai,C{i},2026-12-{1 + i % 28:D2},44030119900307{i % 10_000:D4}\n");
            if (secondNumbers && i % 100 == 5) w.Write($"{SecondPhone(i)},CN-GD,Asia/Shanghai,C{i},2026-12-{1 + i % 28:D2},44030119900307{i % 10_000:D4}\n");
        }
        return path;
    }

    private static ImportReport Import(TestDb t, long campaign, string file)
    {
        using var input = File.OpenRead(file);
        return new LeadImporter(t.Db, TestDb.Pii).Import(campaign, "load", input, Afternoon);
    }

    /// <summary>A PostgreSQL store with a cn-auto-renewal campaign of <paramref name="leads"/> imported leads.</summary>
    private TestDb Filled(string name, int leads, out long campaign, bool secondNumbers = false)
    {
        var t = new TestDb("postgres", pg);
        campaign = t.Campaign(name, CnAuto);
        var file = LeadsFile(leads, secondNumbers);
        try { Import(t, campaign, file); } finally { File.Delete(file); }
        return t;
    }

    private static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    [LoadFact]
    public void The_claim_with_every_cn_auto_renewal_rule_on_postgres()
    {
        var leads = Size("DIALER_LOAD_LEADS", 200_000);
        using var t = Filled("load", leads, out var campaign, secondNumbers: true);
        // A do-not-call list of a million numbers holding every 50th lead's; every 10th lead's number had 3 unanswered calls
        // today (its cap) and every 3rd one call, in another campaign: the claim reads that history for each lead it takes.
        // Every 100th customer refused on their second number: cn-auto-renewal's whole-customer block holds their lead.
        var dnc = new StringBuilder("phone\n");
        for (var i = 0; i < 1_000_000; i++) dnc.Append(i % 20 == 0 ? Phone(i * 50L / 20) : "+86139" + i.ToString("D8")).Append('\n');
        new Dnc(t.Db, TestDb.Pii).Import("industry-2026", CsvReader.Text(dnc.ToString()), "CN", null, Afternoon);
        var refusals = new StringBuilder("phone\n");
        for (var i = 5; i < leads; i += 100) refusals.Append(SecondPhone(i)).Append('\n');
        new Dnc(t.Db, TestDb.Pii).Import(Dnc.Refusal, CsvReader.Text(refusals.ToString()), "CN", null, Afternoon.AddDays(-1), "disposition refused");
        var other = t.Campaign("other", CnAuto);
        t.Db.Write((c, tx) =>
        {
            var ids = c.Query<long>("SELECT id FROM leads WHERE campaign_id = @campaign ORDER BY id", new { campaign }, tx).ToList();
            var rows = ids.Select((id, i) => (id, i)).Where(x => x.i % 3 == 0 || x.i % 10 == 0)
                .SelectMany(x => Enumerable.Range(0, x.i % 10 == 0 ? 3 : 1).Select(k => (Lead: x.id, No: k)));
            var next = 1L;
            t.Db.Dialect.BulkInsert(c, tx, "attempts", ["id", "campaign_id", "lead_id", "attempt_no", "channel_id", "node", "trunk", "placed_at", "ended_at", "outcome"], rows, (w, r) =>
            {
                var at = new DateTimeOffset(Afternoon.AddHours(-1).AddMinutes(r.No)).ToUnixTimeMilliseconds();
                w.Write(next); w.Write(other); w.Write(r.Lead); w.Write((int?)(r.No + 1)); w.Write($"load-{next++}"); w.Write("n"); w.Write((int?)0);
                w.Write(at); w.Write((long?)at); w.Write("no_answer");
            });
            return 0;
        });
        var hopper = new DbLeadSource(t.Db, TestDb.Pii, campaign, CnAuto.ToConfig("load"), "load");
        var cpu = CpuSeconds();
        var clock = Stopwatch.StartNew();
        // Each lead handed out is dialed: its attempt row puts it in state dialing, as DbAttemptLog.Placed does, a batch at a time.
        var handed = 0;
        var dialing = new List<long>();
        var dialClock = new Stopwatch();
        void Dial()
        {
            dialClock.Start();
            t.Db.Write((c, tx) => c.Execute("UPDATE leads SET state = 1, lease_owner = NULL, lease_until = NULL WHERE id = ANY(@dialing)", new { dialing }, tx));
            dialClock.Stop();
        }
        while (hopper.Next(Afternoon) is { } lead)
        {
            handed++;
            dialing.Add(lead.Id);
            if (dialing.Count < 100) continue;
            Dial();
            dialing.Clear();
        }
        clock.Stop();
        long held, refused, history;
        using (var c = t.Db.Connect())
        {
            held = c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE held_by LIKE '%attempt_caps%'");
            refused = c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads WHERE held_by LIKE '%refusal_block:customer'");
            history = c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts");
        }
        var hopperSeconds = (clock.Elapsed - dialClock.Elapsed).TotalSeconds;
        output.WriteLine($"claim, every rule on (cn-auto-renewal v4, 1,000,000 DNC entries, {refused:N0} customers refused, history of {history:N0} attempts): " +
                         $"{handed:N0} leads handed out, {held:N0} held by the caps, {refused:N0} by the customer's refusal, in {clock.Elapsed.TotalSeconds:0.0} s = " +
                         $"{handed / clock.Elapsed.TotalSeconds:N0} claims/s; the hopper's share {hopperSeconds:0.0} s = {handed / hopperSeconds:N0} claims/s " +
                         $"({(handed + held + refused) / hopperSeconds:N0} leads judged/s), marking them dialing {dialClock.Elapsed.TotalSeconds:0.0} s; " +
                         $"client CPU {CpuSeconds() - cpu:0.0} s; load average {Load}");
        Assert.Equal(leads - leads / 10 - leads / 100, handed); // every 10th is capped or (every 50th) on the list, every 100th refused
        Assert.Equal((leads / 10 - leads / 50, leads / 100), (held, refused));
    }

    /// <summary>
    /// The leads import on SQLite and a re-run of the same file that must change nothing: the file of DIALER_LOAD_LEADS_FILE
    /// (e.g. the one LeadStoreLoadRun writes, in Chinese CRM formats with broken rows), else a plain one of DIALER_LOAD_LEADS rows.
    /// </summary>
    [LoadFact]
    public void A_million_row_import_on_sqlite_and_its_re_run_that_changes_nothing()
    {
        var given = Environment.GetEnvironmentVariable("DIALER_LOAD_LEADS_FILE");
        var file = given ?? LeadsFile(Size("DIALER_LOAD_LEADS", 1_000_000));
        using var t = new TestDb("sqlite", pg);
        var campaign = t.Campaign("import", CnAuto);
        try
        {
            foreach (var run in new[] { "import", "re-run" })
            {
                var cpu = CpuSeconds();
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var clock = Stopwatch.StartNew();
                var r = Import(t, campaign, file);
                clock.Stop();
                long stored;
                using (var c = t.Db.Connect()) stored = c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads");
                output.WriteLine($"sqlite {run}: {r.Rows:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s = {r.Rows / clock.Elapsed.TotalSeconds:N0} rows/s; accepted {r.Accepted:N0}, " +
                                 $"merged {r.Merged:N0}, updated {r.Updated:N0}, rejected {r.Rejected:N0}; leads stored {stored:N0}; CPU {CpuSeconds() - cpu:0.0} s; " +
                                 $"{(GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)Math.Max(1, r.Rows):N0} B/row; " +
                                 $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:N0} MiB; load average {Load}");
                if (run == "re-run") Assert.Equal((0L, 0L), (r.Accepted, r.Updated));
                else Assert.Equal(r.Rows - r.Rejected, stored);
            }
        }
        finally { if (given is null) File.Delete(file); }
    }

    [LoadFact]
    public void A_dnc_list_of_ten_million_numbers_imports_on_postgres()
    {
        var rows = Size("DIALER_LOAD_DNC", 10_000_000);
        using var t = new TestDb("postgres", pg);
        var path = Path.Combine(Path.GetTempPath(), $"dnc-{rows}-{Guid.NewGuid():N}.csv");
        using (var w = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20))
        {
            w.Write("phone\n");
            for (var i = 0; i < rows; i++) w.Write(i % 1000 == 999 ? "not a number\n" : $"{(i % 2 == 0 ? "+86" : "0")}13{i:D9}\n");
        }
        try
        {
            var cpu = CpuSeconds();
            var gcBefore = GC.CollectionCount(2);
            var clock = Stopwatch.StartNew();
            DncImportReport report;
            using (var input = File.OpenRead(path)) report = new Dnc(t.Db, TestDb.Pii).Import("industry-2026", input, "CN", null, Afternoon);
            clock.Stop();
            var me = Process.GetCurrentProcess();
            output.WriteLine($"dnc import: {report.Rows:N0} rows, {report.Stored:N0} stored, {report.Rejected:N0} rejected in {clock.Elapsed.TotalSeconds:0.0} s = " +
                             $"{report.Rows / clock.Elapsed.TotalSeconds:N0} rows/s; client CPU {CpuSeconds() - cpu:0.0} s; peak working set {me.PeakWorkingSet64 / 1048576.0:N0} MiB " +
                             $"(GC heap now {GC.GetTotalMemory(false) / 1048576.0:N0} MiB, {GC.CollectionCount(2) - gcBefore} gen-2 GCs); load average {Load}");
            Assert.Equal((rows, rows - rows / 1000), (report.Rows, report.Stored));
            Assert.True(new Dnc(t.Db, TestDb.Pii).Contains("+8613000000002", Afternoon));
        }
        finally { File.Delete(path); }
    }

    [LoadFact]
    public void A_pii_key_rotates_on_a_million_leads_while_a_campaign_dials_with_no_failed_read()
    {
        var leads = Size("DIALER_LOAD_LEADS", 1_000_000);
        var clock = Stopwatch.StartNew();
        using var t = Filled("rotate", leads, out var campaign);
        output.WriteLine($"imported {leads:N0} leads in {clock.Elapsed.TotalSeconds:0} s");
        var newKey = new Pii(RandomNumberGenerator.GetBytes(32));
        RotationReport? rotation = null;
        var rotating = new Thread(() => rotation = new PiiRotation(t.Db, TestDb.Pii, newKey).Run());
        // The campaign dials on the old key meanwhile (a process started before the rotate): each lead claimed is read
        // (its number decrypted) and its call finished (the row written); a customer view read beside it decrypts the rest.
        // Its own key object, as another process has: the rotate's reloads of its ring are not shared with it.
        var running = new Pii(TestDb.PiiKey);
        var hopper = new DbLeadSource(t.Db, running, campaign, CnAuto.ToConfig("rotate"), "node-a");
        var views = new CustomerViews(t.Db, running);
        long reads = 0, failed = 0, dialed = 0;
        string? firstFailure = null;
        clock.Restart();
        rotating.Start();
        while (rotating.IsAlive)
        {
            try
            {
                if (hopper.Next(Afternoon) is not { } lead) break;
                reads++;
                hopper.Finished(lead, CallOutcome.NoAnswer, Afternoon);
                dialed++;
                if (dialed % 50 == 0 && views.ForLead(lead.Id, Afternoon) is { } view) reads += view.Phones.Count + 1;
            }
            catch (Exception e)
            {
                failed++;
                firstFailure ??= e.GetType().Name;
            }
        }
        rotating.Join();
        output.WriteLine($"pii rotate of {leads:N0} leads: {rotation!.Rewritten:N0} cipher texts rewritten, {rotation.Failed} unreadable, in {rotation.Seconds:0.0} s " +
                         $"= {rotation.Rewritten / rotation.Seconds:N0}/s, while {dialed:N0} leads were claimed and finished; {reads:N0} reads, {failed} failed " +
                         $"{(firstFailure is null ? "" : $"(first: {firstFailure})")}; load average {Load}");
        Assert.Equal((0L, 0L), (failed, rotation.Failed));
        Assert.True(dialed > 1000, $"{dialed} dialed during the rotate");
        // The new key alone opens the store now.
        Assert.NotNull(new CustomerViews(t.Db, newKey).ForLead(1, Afternoon));
    }
}
