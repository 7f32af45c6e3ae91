using System.Data.Common;
using System.Net.Sockets;
using Dialer.Ari.Client;
using Dialer.Core.Hosting;
using Dialer.Core.Text;
using Dialer.Models.Training;
using Dialer.Sim.Config;
using Dialer.Store;

namespace Dialer.Cli;

/// <summary>Every failure a command can end in → one line for the user (numbers masked, no stack trace) and its code from <see cref="ExitCodes"/>.</summary>
public static class Failures
{
    public static (int Code, string Message) Explain(Exception e) => e switch
    {
        AriAuthenticationException a => (ExitCodes.Telephony,
            $"ARI server '{a.ServerId}' refused the user and password (HTTP {a.Status}): check the ari: user/password against Asterisk's ari.conf"),
        AriUnavailableException a => (ExitCodes.Telephony,
            $"ARI server '{a.ServerId}' did not answer ({a.AsteriskMessage}): is Asterisk running there, with ARI enabled (http.conf, ari.conf), and quick enough?"),
        AriException a => (ExitCodes.Telephony, a.Message),
        TimeoutException => (ExitCodes.Telephony, e.Message), // the only start-up time limit is ARI's connect
        HttpRequestException => (ExitCodes.Telephony, $"HTTP: {e.Message}"),
        DbException => (ExitCodes.Store, $"database: {Inner(e)}"),
        IOException when Find<SocketException>(e) is { SocketErrorCode: SocketError.AddressAlreadyInUse or SocketError.AccessDenied } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase)
            => (ExitCodes.Listen, $"cannot listen: {e.Message} (another process has the port: pick another with --urls)"),
        EngineUnavailableException => (ExitCodes.Faulted, e.Message),
        OperationCanceledException => (ExitCodes.Interrupted, "interrupted"),
        ConfigException or ArgumentException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException or FormatException
            or YamlDotNet.Core.YamlException or System.Text.Json.JsonException or LeadImportException or InvalidOperationException
            or InsufficientHistoryException or ModelParityException or IOException => (ExitCodes.BadInput, e.Message),
        _ => (ExitCodes.Internal, $"internal error ({e.GetType().Name}): {e.Message} — a bug: please report it with the command you ran"),
    };

    /// <summary>Prints the failure on stderr and returns its exit code.</summary>
    public static int Report(Exception e)
    {
        var (code, message) = Explain(e);
        Console.Error.WriteLine($"error: {Redact.Numbers(message)}");
        return code;
    }

    private static string Inner(Exception e) => e.InnerException is { } i && !e.Message.Contains(i.Message, StringComparison.Ordinal) ? $"{e.Message} ({i.Message})" : e.Message;

    private static T? Find<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
            if (e is T t) return t;
        return null;
    }
}
