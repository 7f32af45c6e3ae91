using Dialer.Core.Text;
using Dialer.Core.Domain;
using Dialer.Core.Routing;
using Dialer.Store;

namespace Dialer.Sim.Tests;

/// <summary>
/// `dialer demo` (leads through the importer into SQLite, the database hopper, every attempt written) and `dialer simulate`
/// (the in-memory hopper) are one set of numbers for the same scenario, seed and pacer. They once were 30% apart in calls
/// placed: the importer dropped the file's high-value tag and added churn-risk, and the simulated callees answered by tag.
/// </summary>
public class DemoAgreementTests
{
    [Fact]
    public void Demo_on_the_store_and_simulate_in_memory_agree_on_calls_live_answers_and_cost()
    {
        var s = Scenario.Load(ScenarioTests.Shipped("small-team"));
        const ulong seed = 1;
        var memory = Simulation.Run(s, "predictive", seed);
        var path = Path.Combine(Path.GetTempPath(), $"dialer-agreement-{Guid.NewGuid():N}.db");
        try
        {
            SimReport onStore;
            using (var store = StoreDb.Open("sqlite:" + path))
            {
                Migrator.Migrate(store);
                var pii = Pii.FromConfig(Convert.ToBase64String(new byte[32]));
                var campaigns = new Campaigns(store);
                var campaign = campaigns.Create("agreement", new CampaignSettings { TimeZone = s.Campaign.TimeZone.Id }, DateTime.UtcNow);
                campaigns.SetStatus(campaign.Id, CampaignStatus.Running, DateTime.UtcNow);
                var log = new DbAttemptLog(store, campaign.Id, "test");
                onStore = Simulation.Run(s, "predictive", seed, new Simulation.Options
                {
                    LeadSource = (_, bestTime) => new DbLeadSource(store, pii, campaign.Id, s.Campaign, "test")
                    {
                        Routing = new RoutingRules(s.Campaign, s.Skills, new RequirementTable()),
                        BestTime = bestTime,
                    },
                    History = _ => log,
                    FirstCallId = log.ReserveCallIds(),
                    OnWorld = w => new LeadImporter(store, pii).Import(campaign.Id, campaign.Name, CsvReader.Text(LeadFactory.ToCsv(w.Leads)), w.Start),
                });
            }
            Within3Percent("calls placed", memory.CallsPlaced, onStore.CallsPlaced);
            Within3Percent("live answers", memory.LiveAnswers, onStore.LiveAnswers);
            Within3Percent("cost", memory.TotalCost, onStore.TotalCost);
        }
        finally
        {
            foreach (var f in new[] { path, path + "-wal", path + "-shm" }) File.Delete(f);
        }
    }

    private static void Within3Percent(string what, double simulate, double demo) =>
        Assert.True(Math.Abs(demo - simulate) <= 0.03 * simulate, $"{what}: simulate {simulate:0.##}, demo {demo:0.##}");
}
