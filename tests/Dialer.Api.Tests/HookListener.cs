using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Dialer.Api.Tests;

/// <summary>A webhook receiver on a 127.0.0.1 port (for the API's own Webhooks): keeps every POST's event type, body and signature.</summary>
internal sealed class HookListener : IAsyncDisposable
{
    private readonly WebApplication _app;
    public Uri Url { get; }
    public ConcurrentQueue<(string Event, string Body, string? Timestamp, string? Signature)> Got { get; } = new();

    private HookListener(WebApplication app, Uri url) { _app = app; Url = url; }

    public static async Task<HookListener> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        HookListener? self = null;
        app.MapPost("/hook", async (HttpRequest req) =>
        {
            var body = await new StreamReader(req.Body).ReadToEndAsync();
            self!.Got.Enqueue((req.Headers["X-Dialer-Event"].ToString(), body, req.Headers["X-Dialer-Timestamp"].FirstOrDefault(), req.Headers["X-Dialer-Signature"].FirstOrDefault()));
            return Results.Ok();
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self = new HookListener(app, new Uri(new Uri(address), "/hook"));
        return self;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
