using System.IO.Pipelines;
using System.Text;
using Dapper;
using Dialer.Core.Text;

namespace Dialer.Store.Tests;

/// <summary>A malformed row costs that row only, a cut-short file is said to be one, and no report echoes a number.</summary>
[Collection("db")]
public sealed class ImportRobustnessTests(PostgresServer pg)
{
    private static string Rows(int from, int to) =>
        string.Concat(Enumerable.Range(from, to - from + 1).Select(i => $"+86138{i:D8},CN,Asia/Shanghai,C{i}\n"));

    [Theory, InlineData("sqlite"), InlineData("postgres")]
    public void An_unclosed_quote_costs_its_row_and_the_rest_of_the_file_is_kept(string dialect)
    {
        using var t = new TestDb(dialect, pg);
        // Line 101 opens a quote it never closes; line 500 has a quote that a later line would have closed.
        var csv = "phone,region,timezone,customer_id\n" + Rows(2, 100) + "\"+8613899999999,CN,Asia/Shanghai,X1\n" + Rows(102, 499) +
                  "+8613899999998,CN,\"Asia/Shanghai,X2\n" + Rows(501, 1000) + "\"tail\",CN,Asia/Shanghai,\"X3\"\n";
        var report = t.Import(t.Campaign(), csv, batchSize: 64);
        Assert.Equal((1000L, 997L, 3L), (report.Rows, report.Accepted, report.Rejected));
        Assert.Equal([101L, 500L, 1001L], report.Errors.Select(e => e.Row));
        Assert.Contains("not closed on its line", report.Errors[0].Reason);
        Assert.Null(report.Interrupted);
        using var c = t.Db.Connect();
        Assert.Equal(997, c.ExecuteScalar<long>("SELECT COUNT(*) FROM leads"));
    }

    [Fact]
    public void A_field_over_the_limit_costs_its_row_without_being_kept_in_memory_or_the_report()
    {
        using var t = new TestDb("sqlite", null!);
        var csv = "phone,region,timezone,name\n" + "+8613800000001,CN,Asia/Shanghai," + new string('x', 1_000_000) + "\n+8613800000002,CN,Asia/Shanghai,Li\n";
        var report = t.Import(t.Campaign(), csv);
        Assert.Equal((2L, 1L, 1L), (report.Rows, report.Accepted, report.Rejected));
        Assert.Equal((2L, "*"), (report.Errors[0].Row, report.Errors[0].Field));
        Assert.True(report.Errors[0].Reason.Length < 100);
    }

    [Fact]
    public async Task The_reader_keeps_one_record_per_line_and_bounds_fields()
    {
        var text = "\uFEFFa,\"b\"\"c\",d\n\"open,x\ne,f\r\n" + string.Join(',', Enumerable.Repeat("z", 300)) + "\r\n\r\n \"q\" , r \ng";
        // Read whole, and one byte at a time (every record and every "\r\n" split across reads): the same records.
        foreach (var pipe in new[] { PipeReader.Create(CsvReader.Text(text)), Trickle(Encoding.UTF8.GetBytes(text)) })
        {
            var csv = new CsvReader(pipe);
            var f = new List<string>();
            Assert.True(await csv.ReadAsync(f)); Assert.Equal(["a", "b\"c", "d"], f); Assert.Null(csv.Malformed);
            Assert.True(await csv.ReadAsync(f)); Assert.Equal(2, csv.Row); Assert.Contains("not closed", csv.Malformed);
            Assert.True(await csv.ReadAsync(f)); Assert.Equal(3, csv.Row); Assert.Equal(["e", "f"], f); Assert.Null(csv.Malformed);
            Assert.True(await csv.ReadAsync(f)); Assert.Equal(4, csv.Row); Assert.Contains("more than 256 fields", csv.Malformed); Assert.Equal(CsvReader.MaxFields, f.Count);
            Assert.True(await csv.ReadAsync(f)); Assert.Equal(6, csv.Row); Assert.Contains("quote inside", csv.Malformed);
            Assert.True(await csv.ReadAsync(f)); Assert.Equal(7, csv.Row); Assert.Equal(["g"], f); Assert.Null(csv.Malformed);
            Assert.False(await csv.ReadAsync(f)); Assert.True(csv.EndedWithoutLineBreak);
        }
    }

    [Fact]
    public async Task A_line_over_the_limit_is_skipped_without_being_held()
    {
        var text = "a,b\n" + new string('x', CsvReader.MaxLineBytes * 3) + "\r\nc,d\n";
        var csv = new CsvReader(PipeReader.Create(CsvReader.Text(text), new StreamPipeReaderOptions(bufferSize: 4096)));
        var f = new List<string>();
        Assert.True(await csv.ReadAsync(f)); Assert.Equal(["a", "b"], f);
        Assert.True(await csv.ReadAsync(f)); Assert.Equal(2, csv.Row); Assert.Contains("longer than 4096 characters", csv.Malformed);
        Assert.True(await csv.ReadAsync(f)); Assert.Equal(3, csv.Row); Assert.Equal(["c", "d"], f); Assert.Null(csv.Malformed);
        Assert.False(await csv.ReadAsync(f)); Assert.False(csv.EndedWithoutLineBreak);
    }

    /// <summary>A pipe fed one byte per write: the reader must wait for every byte, as with a slow upload.</summary>
    private static PipeReader Trickle(byte[] bytes)
    {
        var pipe = new Pipe();
        _ = Task.Run(async () =>
        {
            foreach (var b in bytes) await pipe.Writer.WriteAsync(new[] { b });
            await pipe.Writer.CompleteAsync();
        });
        return pipe.Reader;
    }

    [Theory]
    [InlineData("phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Sha", true)]
    [InlineData("phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n\"+8613800000002,CN,Asia/Shanghai", true)]
    [InlineData("phone,region,timezone\n+8613800000001,CN,Asia/Shanghai\n+8613800000002,CN,Asia/Shanghai", false)]
    public void A_file_that_stops_mid_row_is_reported_cut_short(string csv, bool cut)
    {
        using var t = new TestDb("sqlite", null!);
        var report = t.Import(t.Campaign(), csv);
        Assert.Equal(cut, report.Interrupted is not null);
        Assert.Equal(3, report.LastRow);
    }

    [Fact]
    public void A_header_error_names_the_columns_and_echoes_nothing_of_the_line()
    {
        using var t = new TestDb("sqlite", null!);
        var id = t.Campaign();
        var noHeader = Assert.Throws<LeadImportException>(() => t.Import(id, "+8613800138000,CN,110101199003071234\n"));
        Assert.DoesNotContain("13800138000", noHeader.Message);
        Assert.DoesNotContain("1234", noHeader.Message);
        Assert.Contains("phone, region, timezone", noHeader.Message);
        var huge = Assert.Throws<LeadImportException>(() => t.Import(id, "phone," + new string('9', 5_000_000) + "\n"));
        Assert.True(huge.Message.Length < 200, huge.Message);
        var twice = Assert.Throws<LeadImportException>(() => t.Import(id, "phone,region,timezone,13800138000,13800138000\n"));
        Assert.Equal("leads csv: header: column 5 repeats column 4", twice.Message);
        var report = t.Import(id, "phone,region,timezone,13800138000,notes\n");
        Assert.Equal(["column 4", "notes"], report.IgnoredColumns);
    }

    [Fact]
    public void No_error_echoes_a_phone_or_id_number()
    {
        using var t = new TestDb("sqlite", null!);
        var report = t.Import(t.Campaign(), """
            phone,region,timezone,customer_id,premium,policy_expiry,id_number
            +86 138 0013 8000 x,CN,Asia/Shanghai,,,,
            +8613800138001,13800138001,Asia/Shanghai,,,,
            +8613800138002,CN,13800138002,,,,
            +8613800138003,CN,Asia/Shanghai,,13800138003,,
            +8613800138004,CN,Asia/Shanghai,,,13800138004,
            +8613800138005,CN,Asia/Shanghai,,,,1101011990030712345678901234567890
            +8613800138006,CN,Asia/Shanghai,C1,,,
            +8613800138008,CN,Asia/Shanghai,C2,,,
            +8613800138006,CN,Asia/Shanghai,C2,,,
            +86 1380013800,CN,Asia/Shanghai,,,,
            """);
        Assert.Equal([2L, 3L, 4L, 6L, 7L, 10L, 11L], report.Errors.Select(e => e.Row)); // a premium of 13800138003 is a number
        var text = System.Text.Json.JsonSerializer.Serialize(report);
        Assert.DoesNotContain("1380013", text);
        Assert.DoesNotContain("19900307", text);
    }

    [Theory]
    [InlineData("(+86) 138-0013-8000", "CN", "+8613800138000")]
    [InlineData("+86 138 0013 8000", "CN", "+8613800138000")]
    [InlineData("8613800138000", "CN", "+8613800138000")]
    [InlineData("008613800138000", "CN", "+8613800138000")]
    [InlineData("13800138000", "CN-GD", "+8613800138000")]
    [InlineData("０１３８－００１３－８０００", "CN", "+8613800138000")]
    [InlineData("＋８６　１３８００１３８０００", "CN", "+8613800138000")]
    [InlineData("（０７５５）１２３４５６７８", "CN-GD", "+8675512345678")]
    [InlineData("0755-1234-5678", "CN-GD", "+8675512345678")]
    [InlineData("+86 (0755) 1234 5678", "CN-GD", "+8675512345678")]
    [InlineData("010 1234 5678", "CN-BJ", "+861012345678")]
    [InlineData("[86] 138.0013.8000", "CN", "+8613800138000")]
    [InlineData("(415) 555-0100", "US-CA", "+14155550100")]
    [InlineData("+39 06 1234 5678", "IT", "+390612345678")]
    [InlineData("020 7946 0018", "GB", "+442079460018")]
    public void Numbers_in_the_formats_crms_export_become_e164(string raw, string region, string e164)
    {
        Assert.True(PhoneNumbers.TryNormalise(raw, region, out var got, out var error), error);
        Assert.Equal(e164, got);
    }

    [Theory]
    [InlineData("138-0013-800")]     // 10 digits: a mobile has 11
    [InlineData("+86 1200 0000 000")] // mobile prefixes start 13..19
    [InlineData("+86 10 1234 567")]   // Beijing: 10 and 8 digits
    [InlineData("138 0013 8000 转 12")]
    [InlineData("1380013800+0")]
    public void Broken_chinese_numbers_are_refused_naming_the_rule_not_the_number(string raw)
    {
        Assert.False(PhoneNumbers.TryNormalise(raw, "CN", out _, out var error));
        Assert.DoesNotContain("138", error);
    }
}
