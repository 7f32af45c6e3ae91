using Dialer.Core.Domain;
using Dialer.Sim;
using Dialer.Sim.Config;

namespace Dialer.Sim.Tests;

public class ScenarioTests
{
    internal static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dialer.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Dialer.sln not found above the test folder");
        }
    }

    internal static string Shipped(string name) => Path.Combine(RepoRoot, "scenarios", name + ".yaml");

    [Theory]
    [InlineData("small-team", 8)]
    [InlineData("medium-team", 25)]
    [InlineData("large-team", 100)]
    [InlineData("heavy-tail", 25)]
    [InlineData("tiny-team", 5)]
    [InlineData("low-answer", 40)]
    [InlineData("long-variable", 30)]
    [InlineData("evening-surge", 60)]
    [InlineData("skill-pools", 45)]
    [InlineData("senior-pool", 45)]
    [InlineData("cn-auto-renewal", 25)]
    public void Shipped_scenarios_load(string name, int agents)
    {
        var s = Scenario.Load(Shipped(name));
        Assert.Equal(agents, s.AgentCount);
        Assert.InRange(s.OracleOccupancy, 0.8, 0.95);
    }

    public static TheoryData<string, string, string> BadEdits => new()
    {
        { "timezone: Asia/Shanghai", "timezone: Asia/Shangai", "timezone: \"Asia/Shangai\" is not a known IANA time zone" },
        { "  ring_timeout_seconds: 25", "  ring_timeout_seconds: 10", "campaign.ring_timeout_seconds: must be within 15..120" },
        { "  max_attempts: 6", "  max_attempts: many", "campaign.max_attempts: expected a whole number" },
        { "  abandon_cap: 0.03", "  abandon_cap: 0.03\n  windw_start: \"08:00\"", "campaign.windw_start: unknown key 'windw_start'" },
        { "  retry_delay_seconds: {busy: 600,", "  retry_delay_seconds: {bsy: 600,", "campaign.retry_delay_seconds.bsy: unknown outcome" },
        { "    count: 25", "    count: many", "agents[0].count: expected a number, got \"many\"" },
        { "  busy: 0.08", "  busy: 0.08\n  bussy: 0.1", "callees.bussy: unknown key" },
        { "{dist: lognormal, mean: 150, sd: 90}", "{dist: gamma, mean: 150}", "callees.talk_seconds.dist: \"gamma\" is not a distribution" },
        { "prefix: \"+8610\"", "prefix: \"8610\"", "regions[0].prefix: expected '+' and digits" },
        { "shift: {start: \"13:00\", end: \"21:00\"}", "shift: {start: \"13:00\", end: \"9pm\"}", "agents[0].shift.end: expected a time of day like \"09:00\", got \"9pm\"" },
        { "start_date: 2026-11-23", "start_date: 23/11/2026", "start_date: expected a date like 2026-11-23" },
        { "    predictive: {target_abandon_rate: 0.02}", "    predictive: {target_abandon_rate: 0.04}", "campaign.pacing.predictive.target_abandon_rate: must be above 0 and below abandon_cap" },
        { "rates: {\"+86\": 0.010}", "rates: {\"+86\": -1}", "trunks[1].rates.+86: -1 is out of range" },
    };

    [Theory]
    [MemberData(nameof(BadEdits))]
    public void A_bad_scenario_names_the_key_and_what_was_expected(string find, string replace, string expected)
    {
        var text = File.ReadAllText(Shipped("medium-team"));
        Assert.Contains(find, text);
        var file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, text.Replace(find, replace));
        try
        {
            var e = Assert.Throws<ConfigException>(() => Scenario.Load(file));
            Assert.Contains(expected, e.Message);
            Assert.StartsWith(file + ":", e.Message); // file and line come first
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void A_campaign_error_points_at_the_line_of_its_key()
    {
        var text = File.ReadAllText(Shipped("medium-team"));
        var line = text[..text.IndexOf("  max_attempts_per_day:", StringComparison.Ordinal)].Count(c => c == '\n') + 1;
        var file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, text.Replace("  max_attempts_per_day: 3", "  max_attempts_per_day: 0"));
        try { Assert.StartsWith($"{file}:{line}: campaign.max_attempts_per_day: must be within 1..100", Assert.Throws<ConfigException>(() => Scenario.Load(file)).Message); }
        finally { File.Delete(file); }
    }

    /// <summary>The YAML section and the API's JSON are one schema: the same keys give the same settings, and the engine the same config.</summary>
    [Fact]
    public void A_campaign_section_reads_as_the_API_settings_with_the_same_keys()
    {
        var file = Path.Combine(Path.GetTempPath(), $"campaign-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, """
            timezone: Asia/Shanghai
            campaign:
              window_start: "08:30"
              window_end: "24:00"
              safe_harbor_seconds: 1.5
              max_attempts: 4
              pacer: vicidial-tapered
              pacing: {vicidial: {maximum_level: 2.5}}
              retry_delay_seconds: {busy: 60}
              routing: [{region: CN-GD, require: {lang:cantonese: 2}}]
            """);
        try
        {
            var yaml = ConfigSections.Campaign(YamlSection.Load(file), TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai"));
            var api = new CampaignSettings().Patch(System.Text.Json.Nodes.JsonNode.Parse("""
                {"time_zone": "Asia/Shanghai", "window_start": "08:30", "window_end": "24:00", "safe_harbor_seconds": 1.5, "max_attempts": 4,
                 "pacer": "vicidial-tapered", "pacing": {"vicidial": {"maximum_level": 2.5}}, "retry_delay_seconds": {"busy": 60},
                 "routing": [{"region": "CN-GD", "require": {"lang:cantonese": 2}}]}
                """)!.AsObject());
            Assert.Empty(api.Validate());
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(api, CampaignSettings.Json), System.Text.Json.JsonSerializer.Serialize(yaml, CampaignSettings.Json));
            var config = yaml.ToConfig("c");
            Assert.Equal(TimeOnly.MaxValue, config.WindowEnd);
            Assert.Equal(1.5, config.SafeHarborSeconds);
            Assert.Equal(60, config.RetryDelaySeconds[Core.Domain.CallOutcome.Busy]);
            Assert.Equal(3600, config.RetryDelaySeconds[Core.Domain.CallOutcome.NoAnswer]); // a mapping merges onto the defaults, as a PATCH does
            Assert.Equal(2, config.Routing.Single().Require["lang:cantonese"]);
            Assert.Equal("vicidial-tapered", yaml.CreatePacer(1).Name);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Pacing_outside_the_campaign_section_says_where_it_goes()
    {
        var text = File.ReadAllText(Shipped("medium-team")).Replace("  pacing:\n", "pacing:\n");
        var file = Path.Combine(Path.GetTempPath(), $"bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, text);
        try { Assert.Contains("pacing: is a campaign setting: give it as campaign.pacing", Assert.Throws<ConfigException>(() => Scenario.Load(file)).Message); }
        finally { File.Delete(file); }
    }

    [Fact]
    public void Missing_file_and_broken_yaml_are_clear_errors()
    {
        Assert.Contains("file not found", Assert.Throws<ConfigException>(() => Scenario.Load("/nonexistent/x.yaml")).Message);
        var file = Path.Combine(Path.GetTempPath(), $"broken-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(file, "name: [unclosed\n");
        try { Assert.Contains("not valid YAML", Assert.Throws<ConfigException>(() => Scenario.Load(file)).Message); }
        finally { File.Delete(file); }
    }
}
