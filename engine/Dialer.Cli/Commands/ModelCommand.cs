using System.CommandLine;
using Dialer.Models.Evaluation;
using Dialer.Models.Training;

namespace Dialer.Cli.Commands;

/// <summary>`dialer model train` / `dialer model eval`: the answer-rate model from call history.</summary>
internal static class ModelCommand
{
    public static Command Create()
    {
        var history = new Option<FileInfo>("--history") { Description = "Call history CSV (DESIGN.md format)", Required = true };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Directory to write model.json, schema.json, metrics.json", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var train = new Command("train", "Train the answer-rate model (ML.NET FastTree) with a time-based validation split") { history, outDir, json };
        train.SetAction(parse =>
        {
            var report = ModelTrainer.TrainFromCsv(parse.GetValue(history)!.FullName, parse.GetValue(outDir)!.FullName);
            Console.WriteLine(parse.GetValue(json) ? ReportJson.Serialize(report) : report.Validation.ToText());
            return 0;
        });

        var modelDir = new Option<DirectoryInfo>("--model") { Description = "A directory written by `dialer model train`", Required = true };
        var evalHistory = new Option<FileInfo>("--history") { Description = "Call history CSV to score", Required = true };
        var evalJson = new Option<bool>("--json") { Description = "Print one JSON object" };
        var eval = new Command("eval", "AUC, log-loss, Brier, calibration (ECE, reliability), per region and region × hour") { modelDir, evalHistory, evalJson };
        eval.SetAction(parse =>
        {
            var report = ModelEvaluator.Evaluate(parse.GetValue(modelDir)!.FullName, parse.GetValue(evalHistory)!.FullName);
            Console.WriteLine(parse.GetValue(evalJson) ? ReportJson.Serialize(report) : report.ToText());
            return 0;
        });
        return new Command("model", "The answer-rate model: train, evaluate") { train, eval };
    }
}
