using Dapper;
using Dialer.Emulator;
using Dialer.Runtime;
using Dialer.Store;

namespace Dialer.Runtime.Tests;

/// <summary>
/// `dialer run` with an agentless survey (issue 15) on the ARI emulator and SQLite: the shipped post-claim script, read from
/// its YAML file, answered by key by the emulator's callees; answers and how each script ended land in the store per
/// attempt, and the opt-out key puts the number on the refusal list.
/// </summary>
public sealed class SurveyRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dialer-survey-run-").FullName;
    private string Db => $"sqlite:{Path.Combine(_dir, "run.db")}";

    [Fact]
    public async Task Run_takes_the_shipped_survey_script_and_stores_each_attempts_answers_and_the_opt_out()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Dialer.sln"))) root = Path.GetDirectoryName(root)!;
        File.Copy(Path.Combine(root, "scenarios", "scripts", "claim-follow-up.yaml"), Path.Combine(_dir, "claim-follow-up.yaml"));
        const string satisfied = "sound:custom/claim-q-satisfied", speed = "sound:custom/claim-q-speed", agent = "sound:custom/claim-q-agent";
        var scenario = new EmulatorScenario
        {
            TimeScale = 0.1,
            CalleeKeys = new()
            {
                ["+3161234561"] = new() { [satisfied] = "1", [speed] = "2", [agent] = "2" },
                ["+3161234562"] = new() { [satisfied] = "-3", [speed] = "1", [agent] = "2" }, // silent at first: asked again
                ["+3161234563"] = new() { [satisfied] = "9" },                                // the opt-out key
                ["+3161234564"] = new() { [satisfied] = "51", [speed] = "3", [agent] = "2" }, // a key not allowed, then 1
            },
        };
        await using var emu = await AriEmulator.StartAsync(scenario);
        var file = RunFiles.Write(_dir, emu.BaseUri, Db, "claim-visit", "survey-node", "agentless:2/5", agents: 1, channels: 10,
            Enumerable.Range(1, 4).Select(i => ($"+316123456{i}", "NL")));
        File.WriteAllText(file, File.ReadAllText(file).Replace("campaign: {pacer:", "campaign: {mode: survey, script: claim-follow-up.yaml, pacer:"));
        var config = RunConfig.Load(file);
        var output = new RunLog();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var run = AriRunner.RunAsync([config], new NodeOptions(), output, TimeSpan.FromSeconds(1), cts.Token);
        using (var watch = StoreDb.Open(Db))
            await RunFiles.Until(() =>
            {
                if (run.IsCompleted) return Task.FromResult(true);
                try
                {
                    using var c = watch.Connect();
                    return Task.FromResult(c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE ended_at IS NOT NULL") == 4);
                }
                catch (Microsoft.Data.Sqlite.SqliteException) { return Task.FromResult(false); } // not migrated yet
            }, TimeSpan.FromSeconds(60), "four surveys over", output);
        await cts.CancelAsync();
        Assert.Equal(Dialer.Core.Hosting.EngineStatus.Stopped, await run.WaitAsync(CampaignEngine.StopTimeout));

        using var db = StoreDb.Open(Db);
        using var conn = db.Connect();
        var ends = conn.Query<(long Lead, string End, string Outcome)>("SELECT lead_id, script_end, outcome FROM attempts ORDER BY lead_id").ToList();
        Assert.Equal(4, ends.Count);
        var answers = conn.Query<(long Lead, string Question, string? Answer, long Tries)>("""
            SELECT a.lead_id, s.question, s.answer, s.tries FROM survey_answers s JOIN attempts a ON a.id = s.attempt_id ORDER BY a.lead_id, s.question
            """).GroupBy(r => r.Lead).ToDictionary(g => g.Key, g => g.Select(r => (r.Question, r.Answer, r.Tries)).ToList());
        // The leads were imported in file order: lead ids 1..4 are +3161234561..4.
        Assert.Equal([("agent_offer", "2", 1L), ("satisfied", "1", 1L), ("speed", "2", 1L)], answers[1]);
        Assert.Equal([("agent_offer", "2", 1L), ("satisfied", "3", 2L), ("speed", "1", 1L)], answers[2]);
        Assert.False(answers.ContainsKey(3)); // opted out at the first question: nothing answered
        Assert.Equal([("agent_offer", "2", 1L), ("satisfied", "1", 2L), ("speed", "3", 1L)], answers[4]);
        Assert.Equal(["completed", "completed", "opt_out", "completed"], ends.Select(e => e.End));
        Assert.All(ends, e => Assert.Equal("human", e.Outcome));
        Assert.Equal(Dnc.Refusal, conn.QuerySingle<string>("SELECT source FROM dnc"));
        Assert.Equal(0, emu.ActiveChannels);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
