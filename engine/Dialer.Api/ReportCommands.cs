using System.CommandLine;
using System.Text.Json;
using Dialer.Core.Hosting;
using Dialer.Store;

namespace Dialer.Api;

/// <summary>`dialer report KIND`, for the CLI to add to its root command: the API's reports (<see cref="Reports"/>) read straight from the store.</summary>
public static class ReportCommands
{
    public static Command Create()
    {
        var kind = new Argument<string>("KIND") { Description = $"the report: {string.Join(", ", Reports.Kinds.Keys)}" };
        var campaign = new Option<string>("--campaign") { Description = "the campaign to report on", Required = true };
        var by = new Option<string?>("--by")
        {
            Description = "grouping: " + string.Join("; ", Reports.Kinds.Select(k => $"{k.Key}: {string.Join('|', k.Value.Groupings)} (default {k.Value.Groupings[0]})")),
        };
        var from = new Option<string?>("--from") { Description = "from this time (ISO 8601; UTC when no offset is given)" };
        var to = new Option<string?>("--to") { Description = "until this time, not included" };
        var conversions = new Option<string?>("--conversions") { Description = "disposition codes that count as a conversion, comma-separated (default renewed)" };
        var format = new Option<string?>("--format") { Description = "json (default) or csv" };
        var output = new Option<FileInfo?>("--out") { Description = "write the report to this file instead of standard output" };
        var db = StoreCommands.DbOption();
        var report = new Command("report", "the floor's reports (as GET /reports/KIND): calls, conversion attribution, abandonment compliance, trunk quality and cost, agent productivity, survey answers")
        {
            kind, campaign, by, from, to, conversions, format, output, db,
        };
        // Bad arguments throw ArgumentException naming the option; store failures reach the CLI's one handler too.
        report.SetAction(parse =>
        {
            var args = new Dictionary<string, string?>(StringComparer.Ordinal)
            {
                ["campaign"] = parse.GetValue(campaign), ["by"] = parse.GetValue(by), ["from"] = parse.GetValue(from), ["to"] = parse.GetValue(to),
                ["conversions"] = parse.GetValue(conversions), ["format"] = parse.GetValue(format),
            };
            using var store = StoreDb.Open(StoreDb.Resolve(parse.GetValue(db)));
            var (table, failure) = Reports.Run(store, new Campaigns(store), parse.GetValue(kind)!, name => args.GetValueOrDefault(name));
            if (failure is not null)
                throw new ArgumentException(failure.Field == "kind" ? $"KIND: {failure.Message}" : $"--{failure.Field}: {(failure.NotFound ? "no " : "")}{failure.Message}");
            var text = args["format"] == "csv" ? table!.Csv() : JsonSerializer.Serialize(table!.Document(), DialerApi.Json) + "\n";
            if (parse.GetValue(output) is { } file) File.WriteAllText(file.FullName, text);
            else Console.Out.Write(text);
            return ExitCodes.Ok;
        });
        return report;
    }
}
