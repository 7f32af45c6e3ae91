using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dialer.Api;

/// <summary>
/// The supervisor dashboard at `/`: a static page (built from dashboard/ into wwwroot/, embedded in the assembly) that
/// holds no data itself. Its data comes from `/dashboard/state` (the <see cref="LiveFeed"/>'s memory) and the `/events`
/// stream. A browser cannot put an API key in an EventSource's headers, so the page signs in once: `POST /login` with an
/// API key sets an HttpOnly, SameSite=Strict session cookie that the API accepts in place of the key (12 hours).
/// </summary>
internal sealed class Dashboard(KeyRing keys)
{
    public const string CookieName = "dialer_session";
    /// <summary>Paths anyone may fetch: the page shell and its assets, and the sign-in.</summary>
    public static readonly IReadOnlySet<string> Public = new HashSet<string>(StringComparer.Ordinal) { "/", "/app.js", "/app.css", "/login" };
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);
    private readonly ConcurrentDictionary<string, DateTime> _sessions = new(StringComparer.Ordinal);

    /// <summary>True when the request carries a live session cookie.</summary>
    public bool SignedIn(HttpRequest req) =>
        req.Cookies[CookieName] is { Length: > 0 } token && _sessions.TryGetValue(token, out var until) && until > DateTime.UtcNow;

    public void Map(WebApplication app, LiveFeed feed)
    {
        foreach (var (path, file, type) in new[] { ("/", "index.html", "text/html; charset=utf-8"), ("/app.js", "app.js", "text/javascript"), ("/app.css", "app.css", "text/css") })
            app.MapGet(path, (HttpResponse res) =>
            {
                res.Headers.CacheControl = "no-cache";
                return Results.Stream(typeof(Dashboard).Assembly.GetManifestResourceStream("wwwroot/" + file)!, type);
            });
        app.MapPost("/login", async (HttpContext ctx) =>
        {
            if (!ctx.Request.HasFormContentType) return DialerApi.Invalid("key", "send the API key as a form field (application/x-www-form-urlencoded)");
            var key = (await ctx.Request.ReadFormAsync(ctx.RequestAborted))["key"].ToString();
            if (key.Length == 0) return DialerApi.Invalid("key", "an API key is required");
            if (!keys.Accepts(key)) return Results.Problem(statusCode: 401, title: "API key not accepted", detail: "key: not a configured API key");
            foreach (var (old, until) in _sessions) if (until <= DateTime.UtcNow) _sessions.TryRemove(old, out _);
            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            _sessions[token] = DateTime.UtcNow + Lifetime;
            ctx.Response.Cookies.Append(CookieName, token, new CookieOptions
            {
                HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = ctx.Request.IsHttps, Path = "/", MaxAge = Lifetime,
            });
            return Results.NoContent();
        });
        app.MapPost("/logout", (HttpContext ctx) =>
        {
            if (ctx.Request.Cookies[CookieName] is { } token) _sessions.TryRemove(token, out _);
            ctx.Response.Cookies.Delete(CookieName);
            return Results.NoContent();
        });
        app.MapGet("/dashboard/state", () => Results.Ok(feed.State()));
    }
}
