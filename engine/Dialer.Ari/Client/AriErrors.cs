using System.Net;

namespace Dialer.Ari.Client;

/// <summary>
/// An ARI request Asterisk refused. <see cref="AsteriskMessage"/> is the <c>message</c> (or, for some 500s,
/// <c>error</c>) field of its JSON body, e.g. "Channel not found" or "Allocation failed".
/// </summary>
public class AriException(string serverId, string method, string path, int status, string? asteriskMessage, Exception? inner = null)
    : Exception($"ARI {serverId}: {method} {WithoutQuery(path)} → {(status == 0 ? "no response" : status.ToString())}{(asteriskMessage is null ? "" : $": {asteriskMessage}")}", inner)
{
    public string ServerId { get; } = serverId;
    public string Method { get; } = method;
    public string Path { get; } = path;
    /// <summary>HTTP status, or 0 when no response came (refused, reset, timed out).</summary>
    public int Status { get; } = status;
    public string? AsteriskMessage { get; } = asteriskMessage;
    /// <summary>The request had been sent before (no reply, or 502–504) and this is the answer to a retry.</summary>
    public bool Retried { get; internal set; }

    /// <summary>The query string carries the dialed number (endpoint=PJSIP/+86…@trunk): never in a message that may be logged.</summary>
    private static string WithoutQuery(string path) => path.IndexOf('?') is var q and >= 0 ? path[..q] : path;

    internal static AriException For(string serverId, string method, string path, HttpStatusCode status, string? message) => (int)status switch
    {
        400 => new AriBadRequestException(serverId, method, path, message),
        401 or 403 => new AriAuthenticationException(serverId, method, path, (int)status, message),
        404 => new AriNotFoundException(serverId, method, path, message),
        409 => new AriConflictException(serverId, method, path, message),
        412 => new AriPreconditionFailedException(serverId, method, path, message),
        422 => new AriUnprocessableException(serverId, method, path, message),
        >= 500 => new AriServerErrorException(serverId, method, path, (int)status, message),
        _ => new AriException(serverId, method, path, (int)status, message),
    };
}

/// <summary>400: a parameter is missing or invalid.</summary>
public sealed class AriBadRequestException(string server, string method, string path, string? message) : AriException(server, method, path, 400, message);
/// <summary>401/403: wrong ARI user or password (ari.conf).</summary>
public sealed class AriAuthenticationException(string server, string method, string path, int status, string? message) : AriException(server, method, path, status, message);
/// <summary>404: the channel, bridge, variable… does not exist (any more).</summary>
public sealed class AriNotFoundException(string server, string method, string path, string? message) : AriException(server, method, path, 404, message);
/// <summary>409: conflict, e.g. a client-generated id that already exists, or a channel not in Stasis.</summary>
public sealed class AriConflictException(string server, string method, string path, string? message) : AriException(server, method, path, 409, message);
/// <summary>412: the object is not in a state that allows it (e.g. channel not answered).</summary>
public sealed class AriPreconditionFailedException(string server, string method, string path, string? message) : AriException(server, method, path, 412, message);
/// <summary>422: a referenced object is unusable (e.g. a channel already in another bridge).</summary>
public sealed class AriUnprocessableException(string server, string method, string path, string? message) : AriException(server, method, path, 422, message);
/// <summary>5xx. 500 carries Asterisk's reason ("Allocation failed" = unknown endpoint); 502–504 are retried first.</summary>
public sealed class AriServerErrorException(string server, string method, string path, int status, string? message) : AriException(server, method, path, status, message);
/// <summary>No response: connection refused or reset, or the request timed out (after the retries).</summary>
public sealed class AriUnavailableException(string server, string method, string path, string reason, Exception? inner) : AriException(server, method, path, 0, reason, inner);
/// <summary>Not sent: <see cref="AriClient.MayCall"/> refused a request that would make or dial a channel (the message says why).</summary>
public sealed class AriRefusedException(string server, string method, string path, string reason) : AriException(server, method, path, 0, reason);
