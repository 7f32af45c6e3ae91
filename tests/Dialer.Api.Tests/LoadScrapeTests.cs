using System.Diagnostics;
using System.Net;
using Dialer.Emulator;
using Dialer.Tests;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Dialer.Api.Tests;

/// <summary>/metrics scraped while a campaign dials the emulator as fast as it can: what a scrape costs, and what it costs the engine.</summary>
public sealed class LoadScrapeTests(ITestOutputHelper output)
{
    [LoadFact]
    public async Task Metrics_scraped_under_load_cost_the_engine_nothing_measurable()
    {
        var agents = int.Parse(Environment.GetEnvironmentVariable("DIALER_LOAD_AGENTS") ?? "200", System.Globalization.CultureInfo.InvariantCulture);
        var seconds = int.Parse(Environment.GetEnvironmentVariable("DIALER_LOAD_SECONDS") ?? "40", System.Globalization.CultureInfo.InvariantCulture);
        await using var floor = await Floor.StartAsync(agents, leads: 50_000, new EmulatorScenario
        {
            TimeScale = 0.02, Seed = 5,
            Mix = new CalleeMix { Human = 0.3, Machine = 0.1, Busy = 0.1, NoAnswer = 0.5, Congestion = 0, BadNumber = 0, RingMinSeconds = 2, RingMaxSeconds = 20, TalkMinSeconds = 30, TalkMaxSeconds = 120 },
        }, new { pacer = "ratio:3", alerts = Array.Empty<object>() }, channels: 4000, callsPerSecond: 1000);
        Assert.Equal(HttpStatusCode.OK, (await floor.Http.PostAsync("/campaigns/renewals/start", null)).StatusCode);
        await Task.Delay(TimeSpan.FromSeconds(5)); // ramp up

        async Task<(double Placed, double Ticks, double TickSum, double Events, double EventSum, SortedDictionary<double, double> TickBins, SortedDictionary<double, double> EventBins)> Read()
        {
            var m = await floor.Http.GetStringAsync("/metrics");
            (string, string) c = ("campaign", "renewals");
            return (Exposition.Sum(m, "dialer_calls_placed_total", c),
                Exposition.Sum(m, "dialer_engine_step_seconds_count", c, ("step", "tick")), Exposition.Sum(m, "dialer_engine_step_seconds_sum", c, ("step", "tick")),
                Exposition.Sum(m, "dialer_engine_step_seconds_count", c, ("step", "event")), Exposition.Sum(m, "dialer_engine_step_seconds_sum", c, ("step", "event")),
                Exposition.Buckets(m, "dialer_engine_step_seconds", c, ("step", "tick")), Exposition.Buckets(m, "dialer_engine_step_seconds", c, ("step", "event")));
        }

        // Half the time scraped 10 times a second, half not at all: the engine's step times in each half.
        var process = Process.GetCurrentProcess();
        var halves = new List<(string Name, double CallsPerSecond, double TickUs, double TickP99Us, double EventUs, double EventP99Us, double CpuCores, List<double> ScrapeMs)>();
        var feed = floor.App.Services.GetRequiredService<LiveFeed>();
        var dashboards = new List<(HttpResponseMessage Response, Task Reader)>();
        foreach (var (scraping, browsers) in new[] { (false, 0), (true, 0), (false, 0), (true, 0), (false, 50) })
        {
            // 50 dashboards: each opens the page state and the stream, and reads it for the whole segment.
            for (var b = 0; b < browsers; b++)
            {
                await floor.Http.GetStringAsync("/dashboard/state");
                var r = await floor.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/events"), HttpCompletionOption.ResponseHeadersRead);
                dashboards.Add((r, Task.Run(async () => { try { await r.Content.CopyToAsync(Stream.Null); } catch (Exception) { } })));
            }
            var listReads = feed.CampaignListReads;
            var before = await Read();
            var cpu = process.TotalProcessorTime;
            var wall = Stopwatch.StartNew();
            var scrapes = new List<double>();
            while (wall.Elapsed.TotalSeconds < seconds / 4.0)
            {
                if (scraping)
                {
                    var one = Stopwatch.StartNew();
                    await floor.Http.GetStringAsync("/metrics");
                    scrapes.Add(one.Elapsed.TotalMilliseconds);
                }
                await Task.Delay(100);
            }
            process.Refresh();
            var after = await Read();
            var cores = (process.TotalProcessorTime - cpu).TotalSeconds / wall.Elapsed.TotalSeconds;
            if (browsers > 0) output.WriteLine($"{browsers} dashboards open: the feed read the campaign list {(feed.CampaignListReads - listReads) / wall.Elapsed.TotalSeconds:0.00} times/s (its only store query)");
            halves.Add((scraping ? "scraped 10/s" : browsers > 0 ? $"{browsers} dashboards, not scraped" : "not scraped", (after.Placed - before.Placed) / wall.Elapsed.TotalSeconds,
                (after.TickSum - before.TickSum) / Math.Max(1, after.Ticks - before.Ticks) * 1e6, Exposition.Quantile(before.TickBins, after.TickBins, 0.99) * 1e6,
                (after.EventSum - before.EventSum) / Math.Max(1, after.Events - before.Events) * 1e6, Exposition.Quantile(before.EventBins, after.EventBins, 0.99) * 1e6, cores, scrapes));
        }
        foreach (var h in halves)
        {
            var sorted = h.ScrapeMs.Order().ToList();
            output.WriteLine($"{h.Name}: {h.CallsPerSecond:0} calls/s placed, tick mean {h.TickUs:0.0} µs p99 ≤ {h.TickP99Us:0} µs, event mean {h.EventUs:0.0} µs p99 ≤ {h.EventP99Us:0} µs, process CPU {h.CpuCores:0.00} cores" +
                (sorted.Count == 0 ? "" : $", scrape p50 {sorted[sorted.Count / 2]:0.0} ms p99 {sorted[(int)(sorted.Count * 0.99)]:0.0} ms max {sorted[^1]:0.0} ms ({sorted.Count} scrapes)"));
        }
        Assert.All(halves, h => Assert.True(h.CallsPerSecond > 0));
        foreach (var (response, reader) in dashboards) { response.Dispose(); await reader; }
        Assert.Equal(HttpStatusCode.OK, (await floor.Http.PostAsync("/campaigns/renewals/stop", null)).StatusCode);
    }
}
