using Dialer.Core.Text;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Dialer.Core.Domain;
using Dialer.Core.Engine;
using Dialer.Core.Hosting;
using Dialer.Store;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dialer.Api;

/// <summary>
/// The REST API and event stream: campaigns, leads, DNC, agents, live stats, `/events` (Server-Sent Events),
/// `/openapi.json`. Every route but /health, /openapi.json needs an X-Api-Key header. Bodies are JSON (snake_case)
/// except the leads upload (text/csv); every bad input is a problem-details response naming the field.
/// </summary>
public static class DialerApi
{
    public const string KeyHeader = "X-Api-Key";
    public static readonly JsonSerializerOptions Json = new(CampaignSettings.Json)
    {
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
    };

    /// <summary>
    /// Builds the app; <paramref name="configure"/> may swap the server (tests use the in-memory TestServer). With
    /// <paramref name="engines"/> (given the app's store), starting a campaign starts its engine on this node and stopping it hangs up.
    /// </summary>
    public static WebApplication Build(ApiOptions options, Action<WebApplicationBuilder>? configure = null, Func<StoreDb, IEngineLauncher>? engines = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxUploadBytes);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        });
        builder.Services.AddProblemDetails();
        // A query or route value that does not bind (limit=abc) throws, so that NameBindingFailures can say which one.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        var db = StoreDb.Open(options.Db);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(db);
        builder.Services.AddSingleton(new EventHub(Json));
        var registry = new EngineRegistry(engines?.Invoke(db));
        builder.Services.AddSingleton(registry);
        builder.Services.AddSingleton(sp => new LiveFeed(registry, sp.GetRequiredService<EventHub>(), new Campaigns(db), db: db));
        builder.Services.AddSingleton(sp => new Webhooks(options.Webhooks, sp.GetRequiredService<EventHub>()));
        builder.Services.AddSingleton(sp => new CallPhaseFeed(sp.GetRequiredService<EventHub>()));
        // Stop hangs up every call and closes its attempt: give it time before the host gives up on it.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        // One line per request is 1.3 GB a day at a call center's polling rates and slows every request: off unless asked for.
        if (!options.LogRequests) builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // A start that fails (port in use) is reported by the command's own handler in one line, not logged with its stack here.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        configure?.Invoke(builder);

        var app = builder.Build();
        var feed = app.Services.GetRequiredService<LiveFeed>();
        var webhooks = app.Services.GetRequiredService<Webhooks>();
        app.Lifetime.ApplicationStarted.Register(feed.Start);
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            feed.DisposeAsync().AsTask().GetAwaiter().GetResult(); // no more reads of engines that are about to go
            registry.StopAllAsync().GetAwaiter().GetResult(); // hang up before the process goes
        });
        app.Lifetime.ApplicationStopped.Register(() => webhooks.DisposeAsync().AsTask().GetAwaiter().GetResult()); // after the stops' last events
        app.Lifetime.ApplicationStopped.Register(db.Dispose);
        app.UseStatusCodePages();
        app.Use(NameBindingFailures);
        var dashboard = new Dashboard(new KeyRing(options.ApiKeys));
        app.Use(RequireApiKey(options, dashboard));
        dashboard.Map(app, feed);
        Map(app, db, options);
        DialerMetrics.Map(app, registry, app.Services.GetRequiredService<EventHub>(), webhooks);
        return app;
    }

    /// <summary>A value that did not bind becomes the usual one-line 400 naming the parameter (never the framework's message or a stack).</summary>
    private static async Task NameBindingFailures(HttpContext ctx, RequestDelegate next)
    {
        try { await next(ctx); }
        catch (BadHttpRequestException e) when (e.StatusCode == 400 && !ctx.Response.HasStarted)
        {
            var name = System.Text.RegularExpressions.Regex.Match(e.Message, "parameter \"(?:[^\"]*\\s)?(\\w+)\" from") is { Success: true } m ? m.Groups[1].Value : "request";
            await Invalid(name, name == "request" ? Bounded(e.Message) : "is not a value of the right type (a whole number, or the form the parameter documents)").ExecuteAsync(ctx);
        }
    }

    private static Func<HttpContext, RequestDelegate, Task> RequireApiKey(ApiOptions options, Dashboard dashboard)
    {
        var api = new KeyRing(options.ApiKeys);
        var scrape = new KeyRing(options.ApiKeys.Concat(options.MetricsKeys)); // a metrics key opens /metrics and nothing else
        return async (ctx, next) =>
        {
            if (ctx.Request.Path == "/health" || ctx.Request.Path == "/openapi.json" || Dashboard.Public.Contains(ctx.Request.Path.Value ?? "")) { await next(ctx); return; }
            var metrics = ctx.Request.Path == DialerMetrics.Path;
            var given = ctx.Request.Headers[KeyHeader].ToString();
            if (given.Length == 0 && dashboard.SignedIn(ctx.Request)) { await next(ctx); return; } // the dashboard's session cookie stands for the key
            if (given.Length == 0 && metrics) given = DialerMetrics.BearerToken(ctx.Request); // Prometheus's `authorization:` scrape setting
            if (given.Length == 0)
            {
                await Results.Problem(statusCode: 401, title: "API key required", detail: $"send the key in the {KeyHeader} header (or sign in at /)").ExecuteAsync(ctx);
                return;
            }
            if (!(metrics ? scrape : api).Accepts(given))
            {
                await Results.Problem(statusCode: 401, title: "API key not accepted", detail: $"the {KeyHeader} header does not hold a configured key").ExecuteAsync(ctx);
                return;
            }
            await next(ctx);
        };
    }

    // ---- request bodies -------------------------------------------------------------------------

    // Optional members have defaults: with RespectRequiredConstructorParameters only the others are required.
    public sealed record CreateCampaign(string Name, CampaignSettings? Settings = null);
    public sealed record DncEntry(string Phone, string Region, string? Reason = null, int? Days = null);
    public sealed record PauseBody(string Reason);
    public sealed record DispositionBody(long LeadId, string Code, long? AttemptId = null, string? Note = null, string? Script = null);
    public sealed record CallbackBody(long LeadId, DateTimeOffset DueAt);
    public sealed record AgentBody(Dictionary<string, int> Skills, string? Name = null, DateOnly? StartedOn = null);

    /// <summary>Deserialises a JSON body; a malformed one becomes a 400 naming the field (JSON path) at fault.</summary>
    internal static async Task<(T? Value, IResult? Error)> ReadJson<T>(HttpRequest req) where T : class
    {
        if (!(req.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return (null, Invalid("body", "Content-Type must be application/json"));
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(req.Body, Json, req.HttpContext.RequestAborted);
            return value is null ? (null, Invalid("body", "a JSON object is required")) : (value, null);
        }
        catch (JsonException e)
        {
            var message = Bounded(e.Message.Split(" Path:")[0].Trim());
            // A missing required member is reported on the object, with the member names in the message.
            var missing = System.Text.RegularExpressions.Regex.Match(message, "missing required properties including: '([^']+)'");
            var field = Bounded(missing.Success ? (e.Path is { Length: > 2 } o ? o[2..] + "." : "") + missing.Groups[1].Value
                : e.Path is { Length: > 2 } p ? p[2..] : "body", 64);
            return (null, Invalid(field, message));
        }
    }

    private const int MaxSettingsBytes = 64 * 1024;

    /// <summary>
    /// A campaign body as a JSON object, read whole only when it is at most 64 KiB (a 413 otherwise): settings are
    /// small, and a bounded body keeps every error reply bounded too. Leaves the body readable again.
    /// </summary>
    private static async Task<(System.Text.Json.Nodes.JsonObject? Value, IResult? Error)> ReadSmall(HttpRequest req)
    {
        if (await BufferSmall(req) is { } error) return (null, error);
        try
        {
            return System.Text.Json.Nodes.JsonNode.Parse(req.Body) is System.Text.Json.Nodes.JsonObject o ? (o, null)
                : (null, Invalid("body", "a JSON object is required"));
        }
        catch (JsonException e) { return (null, Invalid("body", Bounded(e.Message))); }
    }

    /// <summary>Replaces the body by a copy in memory when it is at most 64 KiB; else (or when it is not JSON) the error to answer.</summary>
    private static async Task<IResult?> BufferSmall(HttpRequest req)
    {
        if (!(req.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return Invalid("body", "Content-Type must be application/json");
        var tooLarge = Results.Problem(statusCode: 413, title: "body too large", detail: $"a campaign body is at most {MaxSettingsBytes} bytes");
        if (req.ContentLength > MaxSettingsBytes) return tooLarge;
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await req.Body.ReadAsync(chunk, req.HttpContext.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > MaxSettingsBytes) return tooLarge;
        }
        buffer.Position = 0;
        req.Body = buffer;
        return null;
    }

    /// <summary>A message cut to 200 characters: a parser's message can quote a key of any length.</summary>
    private static string Bounded(string message, int length = 200) => message.Length <= length ? message : message[..length] + "…";

    internal static IResult Invalid(string field, string message) => Invalid(new Dictionary<string, string> { [field] = message });
    internal static IResult Invalid(Dictionary<string, string> errors) =>
        Results.ValidationProblem(errors.ToDictionary(kv => kv.Key, kv => new[] { kv.Value }), title: "invalid request");
    internal static IResult NotFound(string what) => Results.Problem(statusCode: 404, title: "not found", detail: what);

    // ---- routes ---------------------------------------------------------------------------------

    private static void Map(WebApplication app, StoreDb db, ApiOptions options)
    {
        var campaigns = new Campaigns(db);
        var hub = app.Services.GetRequiredService<EventHub>();
        var engines = app.Services.GetRequiredService<EngineRegistry>();
        var feed = app.Services.GetRequiredService<LiveFeed>();
        var phases = app.Services.GetRequiredService<CallPhaseFeed>();
        // A campaign's state changed: the stream hears of it and the dashboard's campaign list is read again.
        void CampaignEvent(object data) { feed.CampaignsChanged(); hub.Publish("campaign", data); }
        var audit = new AuditLog(db);
        if (options.RecordingsDir is { } recordings)
        {
            var retention = new RecordingRetention(db, campaigns, audit, recordings);
            app.Lifetime.ApplicationStarted.Register(retention.Start);
            app.Lifetime.ApplicationStopping.Register(() => retention.DisposeAsync().AsTask().GetAwaiter().GetResult());
        }
        var alerts = new Alerts(engines, campaigns, audit, hub, CampaignEvent, name => campaigns.Find(name) is { } c ? LeadQueries.DueNow(db, c.Id, DateTime.UtcNow) : null);
        var trunks = new TrunkNames();
        var quality = new TrunkQualityLog(db, campaigns);
        feed.Sampled += (name, s, status) =>
        {
            if (s is not null) trunks.Learn(name, s);
            quality.Sample(name, s);
            alerts.Evaluate(name, s, status);
        };
        // After the feed's last sample (its stop is registered first): the minute under way is kept too.
        app.Lifetime.ApplicationStopping.Register(() => quality.Flush(all: true));
        feed.Alerts = () => alerts.Recent;

        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        app.MapGet("/openapi.json", () => Results.Stream(typeof(DialerApi).Assembly.GetManifestResourceStream("openapi.json")!, "application/json"));
        app.MapGet("/events", (HttpRequest req, CancellationToken ct) =>
        {
            // EventSource sends the header on reconnect; a client that cannot set headers may pass ?last_event_id=.
            var last = req.Headers[EventHub.LastEventIdHeader].ToString() is { Length: > 0 } h ? h : req.Query["last_event_id"].ToString();
            if (!EventHub.TryParseId(last, out var from)) return Invalid(EventHub.LastEventIdHeader, "must be the id of an event from this stream (a whole number)");
            return TypedResults.ServerSentEvents(hub.Subscribe(from, ct));
        });

        app.MapGet("/campaigns", () => Results.Ok(campaigns.List()));
        app.MapPost("/campaigns", async (HttpRequest req) =>
        {
            if (await BufferSmall(req) is { } tooBig) return tooBig;
            var (body, error) = await ReadJson<CreateCampaign>(req);
            if (error is not null) return error;
            if (Campaigns.NameError(body!.Name) is { } badName) return Invalid("name", badName);
            var settings = body.Settings ?? new CampaignSettings();
            var errors = settings.Validate();
            if (errors.Count > 0) return Invalid(errors.ToDictionary(kv => "settings." + kv.Key, kv => kv.Value));
            if (campaigns.Find(body.Name) is not null) return Results.Problem(statusCode: 409, title: "conflict", detail: $"campaign '{body.Name}' already exists");
            var created = campaigns.Create(body.Name, settings, DateTime.UtcNow);
            CampaignEvent(new { campaign = created.Name, status = "stopped" });
            return Results.Created($"/campaigns/{Uri.EscapeDataString(created.Name)}", created); // a header carries ASCII only
        });
        app.MapGet("/campaigns/{name}", (string name) => campaigns.Find(name) is { } c ? Results.Ok(c) : NotFound($"campaign '{name}'"));
        // PATCH changes the fields it gives (JSON merge patch); PUT replaces them all and so must give them all:
        // a PUT with only max_attempts used to reset the time zone, and with it the calling window, to defaults.
        var settingNames = JsonSerializer.SerializeToNode(new CampaignSettings(), CampaignSettings.Json)!.AsObject().Select(kv => kv.Key).ToArray();
        foreach (var replace in new[] { true, false })
            app.MapMethods("/campaigns/{name}/settings", [replace ? "PUT" : "PATCH"], async (string name, HttpRequest req) =>
            {
                if (campaigns.Find(name) is not { } c) return NotFound($"campaign '{name}'");
                var (patch, error) = await ReadSmall(req);
                if (error is not null) return error;
                if (replace && settingNames.Where(n => !patch!.ContainsKey(n)).ToList() is { Count: > 0 } missing)
                    return Invalid(missing[0], $"PUT replaces every setting; missing: {string.Join(", ", missing)} (PATCH changes only the fields it gives)");
                CampaignSettings settings;
                try { settings = (replace ? new CampaignSettings() : c.Settings).Patch(patch!); }
                catch (JsonException e) { return Invalid(e.Path is { Length: > 2 } p ? Bounded(p[2..], 64) : "body", CampaignSettings.Describe(e)); }
                // Judged on what it changes: a PATCH is not refused for an error the stored settings already had in fields it leaves.
                var errors = replace ? settings.Validate() : settings.ValidatePatch(c.Settings, patch!);
                if (errors.Count > 0) return Invalid(errors);
                campaigns.Update(c.Id, settings, DateTime.UtcNow);
                return Results.Ok(campaigns.Get(c.Id));
            });
        // The status is what the database hopper obeys: paused hands out no more leads (calls up finish, agents stay),
        // so pause needs no engine call. Start also starts the engine here and stop hangs it up, when serve has a launcher.
        foreach (var (verb, status) in new[] { ("start", CampaignStatus.Running), ("pause", CampaignStatus.Paused), ("stop", CampaignStatus.Stopped) })
            app.MapPost($"/campaigns/{{name}}/{verb}", async (string name, CancellationToken ct) =>
            {
                if (campaigns.Find(name) is not { } c) return NotFound($"campaign '{name}'");
                campaigns.SetStatus(c.Id, status, DateTime.UtcNow);
                if (status == CampaignStatus.Running)
                    try
                    {
                        if (await engines.StartAsync(name, hub.CallEvents(name), ct) && engines.Find(name) is { } started)
                            // Set on the loop; a call placed in the engine's first milliseconds goes without its middle phases.
                            try { await started.QueryAsync(e => { phases.Hook(e, name); return true; }, ct); }
                            catch (EngineUnavailableException) { } // it faulted at once: the stream says so (StatusChanged)
                    }
                    catch (CampaignHeldException e) // another live node paces it: that node's run goes on, so its status stays
                    {
                        return Results.Problem(statusCode: 409, title: "campaign runs on another node", detail: e.Message);
                    }
                    catch (Exception e) when (e is not OperationCanceledException) // whatever the launcher's telephony threw: the campaign did not start
                    {
                        campaigns.SetStatus(c.Id, CampaignStatus.Stopped, DateTime.UtcNow);
                        return Results.Problem(statusCode: 502, title: "engine did not start", detail: Core.Text.Redact.Numbers(e.Message));
                    }
                if (status == CampaignStatus.Stopped && await engines.StopAsync(name)) alerts.Forget(name);
                CampaignEvent(new { campaign = name, status = status.ToString().ToLowerInvariant() });
                return Results.Ok(campaigns.Get(c.Id));
            });
        app.MapGet("/campaigns/{name}/stats", async (string name) =>
        {
            if (campaigns.Find(name) is not { } c) return NotFound($"campaign '{name}'");
            return Results.Ok(new { campaign = name, status = c.Status, store = campaigns.Counts(c.Id), live = await Live(engines.Find(name)) });
        });
        app.MapGet("/stats/live", async () =>
        {
            var live = new Dictionary<string, object?>();
            foreach (var (name, host) in engines.All) live[name] = await Live(host);
            return Results.Ok(new { campaigns = live, event_clients = hub.Clients, event_clients_cut = hub.ClientsCut });
        });

        engines.StatusChanged += (name, status, why) => hub.Publish("campaign", new { campaign = name, engine = status.ToString().ToLowerInvariant(), error = why });
        MapLeads(app, db, options, campaigns);
        CallRecords.Map(app, db, options, campaigns, trunks, hub, CampaignEvent, engines, audit);
        Reports.Map(app, db, campaigns, trunks);
        MapAgents(app, db, campaigns, hub, engines);
        QualityApi.Map(app, db, options.QaRules, hub);
        PreviewApi.Map(app, engines, new CustomerViews(db, options.Pii));
    }

    private static void MapLeads(WebApplication app, StoreDb db, ApiOptions options, Campaigns campaigns)
    {
        var queries = new LeadQueries(db, options.Pii);
        var dnc = new Dnc(db, options.Pii, "api");

        app.MapPost("/campaigns/{name}/leads", (string name, HttpContext ctx) =>
            campaigns.Find(name) is not { } c ? Task.FromResult(NotFound($"campaign '{name}'")) : Upload(ctx, options, async (pipe, body) =>
            {
                var report = await new LeadImporter(db, options.Pii).ImportAsync(c.Id, name, pipe, DateTime.UtcNow, ctx.RequestAborted);
                return body.Exceeded
                    ? TooLarge(options, $"rows 2–{report.LastRow} (the {report.Rows} read before it) were processed as reported, nothing after row {report.LastRow} was read", report)
                    : Results.Ok(report);
            }));
        app.MapGet("/campaigns/{name}/leads", (string name, string? state, long? after, int? limit) =>
        {
            if (campaigns.Find(name) is not { } c) return NotFound($"campaign '{name}'");
            short? s = null;
            if (state is not null && (s = LeadQueries.ParseState(state)) is null) return Invalid("state", "must be pending, dialing or done");
            if (limit is < 1 or > 1000) return Invalid("limit", "must be within 1..1000");
            return Results.Ok(queries.List(c.Id, s, after ?? 0, limit ?? 100));
        });
        // One customer everywhere, and why a lead was (not) called: the CLI's `leads customer` and `leads why`, masked alike.
        var views = new CustomerViews(db, options.Pii);
        app.MapGet("/leads/{id:long}/why", (long id, string? at) =>
        {
            var when = DateTime.UtcNow;
            if (at is not null)
            {
                if (!CallRecords.TryParseTime(at, out var t)) return Invalid("at", CallRecords.BadTime);
                when = t.UtcDateTime;
            }
            return views.Why(id, when) is { } answer ? Results.Ok(answer) : NotFound($"lead {id}");
        });
        app.MapGet("/leads/{id:long}/customer", (long id) => views.ForLead(id, DateTime.UtcNow) is { } c ? Results.Ok(c) : NotFound($"lead {id}"));
        app.MapGet("/customers/{externalId}", (string externalId) =>
            views.ForExternalId(externalId, DateTime.UtcNow) is { } c ? Results.Ok(c) : NotFound($"customer {Redact.Echo(externalId)}"));
        app.MapPost("/dnc", async (HttpRequest req) =>
        {
            var (body, error) = await ReadJson<DncEntry>(req);
            if (error is not null) return error;
            var entry = body!;
            if (!TryPhone(entry, out var phone, out var invalid)) return invalid;
            if (entry.Days is < 1) return Invalid("days", "must be ≥ 1 (omit it for a permanent entry)");
            var now = DateTime.UtcNow;
            DateTime? expires = entry.Days is { } d ? now.AddDays(d) : null;
            dnc.Add(phone, entry.Reason ?? "api", expires, now);
            return Results.Ok(new { phone = Pii.Mask(phone), expires_at = expires });
        });
        // A body, not a path: request paths end up in access logs, phone numbers must not.
        app.MapPost("/dnc/remove", async (HttpRequest req) =>
        {
            var (body, error) = await ReadJson<DncEntry>(req);
            if (error is not null) return error;
            if (!TryPhone(body!, out var phone, out var invalid)) return invalid;
            return dnc.Remove(phone) ? Results.NoContent() : NotFound("that number is not on the DNC list");
        });
        // A list file (a 'phone' column, optionally 'region') into one list, streamed and stored batch by batch as `dialer dnc import`.
        app.MapPost("/dnc/lists/{list}/import", (string list, string? region, int? days, string? reason, HttpContext ctx) =>
        {
            if (Dnc.BadListName(list) is { } badList) return Task.FromResult(Invalid("list", badList));
            if (PhoneNumbers.NormaliseRegion(region ?? "CN") is null) return Task.FromResult(Invalid("region", "must be a known region (ISO 3166 code such as CN)"));
            if (days is < 1) return Task.FromResult(Invalid("days", "must be ≥ 1 (omit it for permanent entries)"));
            if (reason is { Length: > 200 }) return Task.FromResult(Invalid("reason", "must be at most 200 characters"));
            var now = DateTime.UtcNow;
            return Upload(ctx, options, async (pipe, body) =>
            {
                var report = await dnc.ImportAsync(list, pipe, region ?? "CN", days is { } d ? now.AddDays(d) : null, now, reason ?? "imported list");
                return body.Exceeded
                    ? TooLarge(options, $"the {report.Rows} rows read before it were processed as reported ({report.Stored} stored), nothing after row {report.Rows + 1} was read", report)
                    : Results.Ok(report);
            });
        });
        app.MapGet("/dnc", (string? list, string? after, int? limit) =>
        {
            if (limit is < 1 or > 1000) return Invalid("limit", "must be within 1..1000");
            if (list is not null && Dnc.BadListName(list) is { } badList) return Invalid("list", badList);
            (byte[], string?)? from = null;
            if (after is not null)
            {
                var colon = after.IndexOf(':');
                if (!TryHash(colon < 0 ? after : after[..colon], out var hash) || (colon >= 0 && Dnc.BadListName(after[(colon + 1)..]) is not null))
                    return Invalid("after", "must be the next_after of the previous page (an entry id, hex, and its list)");
                from = (hash, colon < 0 ? null : after[(colon + 1)..]);
            }
            var items = dnc.Page(list, from, limit ?? 100);
            return Results.Ok(new { items, next_after = items.Count == (limit ?? 100) ? $"{items[^1].Id}:{items[^1].List}" : null });
        });
        app.MapDelete("/dnc/{id}", (string id, string? list) =>
        {
            if (!TryHash(id, out var hash)) return Invalid("id", "must be an entry id from GET /dnc (hex)");
            if (list is not null && Dnc.BadListName(list) is { } badList) return Invalid("list", badList);
            return dnc.RemoveById(hash, list, DateTime.UtcNow) ? Results.NoContent() : NotFound(list is null ? "no DNC entry has that id" : $"no entry of list '{list}' has that id");
        });
    }

    /// <summary>
    /// A request body streamed through a pipe to <paramref name="import"/>, awaited (no request thread blocked on a slow
    /// upload); the importers commit batch by batch, so a body over the limit stops one mid-file and its report says what
    /// was already kept (<see cref="LimitedStream.Exceeded"/>). A body declared over the limit is refused before it is read.
    /// </summary>
    private static async Task<IResult> Upload(HttpContext ctx, ApiOptions options, Func<PipeReader, LimitedStream, Task<IResult>> import)
    {
        if (ctx.Request.ContentLength > options.MaxUploadBytes)
            return Results.Problem(statusCode: 413, title: "upload too large", detail: $"the upload is {ctx.Request.ContentLength} bytes; the limit is {options.MaxUploadBytes}");
        if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size) size.MaxRequestBodySize = null; // LimitedStream enforces it
        var body = new LimitedStream(ctx.Request.Body, options.MaxUploadBytes);
        var pipe = PipeReader.Create(body, new StreamPipeReaderOptions(bufferSize: 64 * 1024, leaveOpen: true));
        try { return await import(pipe, body); }
        catch (LeadImportException e) { return Invalid("file", e.Message); }
        finally { await pipe.CompleteAsync(); }
    }

    private static IResult TooLarge(ApiOptions options, string kept, object report) =>
        Results.Problem(statusCode: 413, title: "upload too large", detail: $"the upload is over the {options.MaxUploadBytes}-byte limit; {kept}",
            extensions: new Dictionary<string, object?> { ["report"] = report });

    private static bool TryHash(string hex, out byte[] hash)
    {
        hash = [];
        if (hex.Length is 0 or > 128 || hex.Length % 2 != 0 || !hex.All(Uri.IsHexDigit)) return false;
        hash = Convert.FromHexString(hex);
        return true;
    }

    private static bool TryPhone(DncEntry body, out string e164, out IResult error)
    {
        e164 = "";
        var region = PhoneNumbers.NormaliseRegion(body.Region);
        if (region is null) { error = Invalid("region", $"{Redact.Echo(body.Region)} is not a known region (ISO 3166 code such as CN or CN-GD)"); return false; }
        if (!PhoneNumbers.TryNormalise(body.Phone, region, out e164, out var why)) { error = Invalid("phone", why); return false; }
        error = Results.Empty;
        return true;
    }

    private static void MapAgents(WebApplication app, StoreDb db, Campaigns campaigns, EventHub hub, EngineRegistry engines)
    {
        var dispositions = new Dispositions(db);
        var agents = new Agents(db);

        app.MapGet("/agents", () => Results.Ok(agents.List()));
        app.MapPut("/agents/{agent}", async (string agent, HttpRequest req) =>
        {
            var (body, error) = await ReadJson<AgentBody>(req);
            if (error is not null) return error;
            if (agent.Length > 64) return Invalid("agent", "must be at most 64 characters");
            foreach (var (skill, level) in body!.Skills)
            {
                if (string.IsNullOrWhiteSpace(skill) || skill.Length > 64) return Invalid($"skills.{skill}", "a skill name must be 1–64 characters");
                if (level is < 1 or > 255) return Invalid($"skills.{skill}", $"level {level} is outside 1..255");
            }
            if (body.Skills.Count > Core.Domain.SkillCatalog.MaxSkills) return Invalid("skills", $"at most {Core.Domain.SkillCatalog.MaxSkills} skills");
            agents.Upsert(agent, body.Name, body.Skills, DateTime.UtcNow, body.StartedOn);
            return Results.Ok(agents.List().First(a => a.Id == agent));
        });

        // Agent state changes go to the campaign's engine on this node, which owns agent state.
        async Task<IResult> Post(string name, string agentId, Func<int, EngineEvent> make)
        {
            if (engines.Find(name) is not { } host)
                return Results.Problem(statusCode: 409, title: "campaign not running here", detail: $"campaign '{name}' has no engine on this node");
            int index;
            try { index = await host.QueryAsync(e => e.State.Agents.FirstOrDefault(a => a.Id == agentId)?.Index ?? -1); }
            catch (EngineUnavailableException e) { return Results.Problem(statusCode: 409, title: "campaign engine unavailable", detail: e.Message); }
            if (index < 0) return NotFound($"agent '{agentId}' in campaign '{name}'");
            await host.PostAsync(make(index)); // the engine's agent event tells the change (AgentStateChanged)
            return Results.Accepted();
        }

        app.MapPost("/campaigns/{name}/agents/{agent}/login", (string name, string agent) => Post(name, agent, a => EngineEvent.Login(a)));
        app.MapPost("/campaigns/{name}/agents/{agent}/ready", (string name, string agent) => Post(name, agent, a => EngineEvent.Ready(a)));
        app.MapPost("/campaigns/{name}/agents/{agent}/logout", (string name, string agent) => Post(name, agent, a => EngineEvent.Logout(a)));
        app.MapPost("/campaigns/{name}/agents/{agent}/pause", async (string name, string agent, HttpRequest req) =>
        {
            var (body, error) = await ReadJson<PauseBody>(req);
            if (error is not null) return error;
            if (string.IsNullOrWhiteSpace(body!.Reason)) return Invalid("reason", "a pause needs a reason");
            return await Post(name, agent, i => EngineEvent.Pause(i, body.Reason));
        });
        app.MapPost("/campaigns/{name}/agents/{agent}/dispositions", async (string name, string agent, HttpRequest req) =>
        {
            if (campaigns.Find(name) is not { } c) return NotFound($"campaign '{name}'");
            var (body, error) = await ReadJson<DispositionBody>(req);
            if (error is not null) return error;
            if (string.IsNullOrWhiteSpace(body!.Code) || body.Code.Length > 40) return Invalid("code", "must be 1–40 characters");
            if (Reports.BadScript(body.Script) is { } badScript) return Invalid("script", badScript);
            if (!dispositions.Record(body.LeadId, body.AttemptId, agent, body.Code, body.Note, c.Settings.RefusalBlockDays(), DateTime.UtcNow, body.Script))
                return Invalid("lead_id", $"lead {body.LeadId} does not exist");
            hub.Publish("disposition", new { campaign = name, agent, lead_id = body.LeadId, code = body.Code });
            return Results.Created();
        });
        app.MapPost("/campaigns/{name}/agents/{agent}/callbacks", async (string name, string agent, HttpRequest req) =>
        {
            if (campaigns.Find(name) is null) return NotFound($"campaign '{name}'");
            var (body, error) = await ReadJson<CallbackBody>(req);
            if (error is not null) return error;
            var now = DateTime.UtcNow;
            if (body!.DueAt.UtcDateTime <= now) return Invalid("due_at", "must be in the future");
            if (!dispositions.ScheduleCallback(body.LeadId, agent, body.DueAt.UtcDateTime, now)) return Invalid("lead_id", $"lead {body.LeadId} does not exist");
            return Results.Created();
        });
    }

    /// <summary>Live numbers read on the engine's own loop; null when the campaign has no engine here; an engine that faulted says so and why.</summary>
    private static async Task<object?> Live(EngineHost? host)
    {
        if (host is null) return null;
        try
        {
            if (host.Status == EngineStatus.Running) return await host.QueryAsync(LiveFigures);
        }
        catch (EngineUnavailableException) { } // it faulted or stopped between the two reads
        return new { engine = host.Status.ToString().ToLowerInvariant(), error = host.Fault, failures = host.Failures, last_failure = host.LastFailure };
    }

    private static readonly Func<DialerEngine, object> LiveFigures = e => new
    {
        engine = "running",
        pacer = e.PacerName,
        calls_placed = e.Stats.CallsPlaced,
        dial_level = e.State.DialLevel,
        abandon_rate = e.Stats.AbandonRate,
        ringing = e.State.Ringing,
        waiting = e.State.Waiting,
        agents_ready = e.State.Count(AgentState.Ready),
        agents_talking = e.State.Count(AgentState.Talking),
        agents_paused = e.State.Count(AgentState.Paused),
        agents_logged_in = e.State.LoggedIn,
        safe_harbor_late_ms_p99 = e.Stats.SafeHarborLateness.Percentile(0.99),
        command_failures = e.Stats.CommandFailures.Sum(),
        abandon_rate_today = e.State.Ledger.RateToday,
        abandon_rate_30d = e.State.Ledger.Rate30,
    };
}

/// <summary>Reads through to the request body and fails once more than the limit has come through.</summary>
internal sealed class LimitedStream(Stream inner, long limit) : Stream
{
    private long _read;

    public bool Exceeded => _read > limit;

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => Count(await inner.ReadAsync(buffer, ct));

    private int Count(int n)
    {
        _read += n;
        if (Exceeded) throw new IOException($"the upload is over the {limit}-byte limit");
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
