namespace Dialer.Core.Hosting;

/// <summary>
/// The one exit-code table of every `dialer` command (README lists it). Scripts and service managers tell from the code
/// alone what to fix: the input, the database, Asterisk, the port, or the engine.
/// </summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>The command line itself: unknown option, missing argument (System.CommandLine's own code).</summary>
    public const int Usage = 1;
    /// <summary>Bad input: a config file (YAML or JSON syntax, a key's value), a CSV, a missing file, rows an import rejected.</summary>
    public const int BadInput = 2;
    /// <summary>The database: unreachable, refusing the login, or failing a query.</summary>
    public const int Store = 3;
    /// <summary>Asterisk: an ARI server not running, refusing the user, or too slow to answer.</summary>
    public const int Telephony = 4;
    /// <summary>Cannot listen: the port is in use or not allowed.</summary>
    public const int Listen = 5;
    /// <summary>The engine faulted while it ran (see its last status line for why).</summary>
    public const int Faulted = 6;
    /// <summary>An input file was cut short (the rows read before the break are in; the report says which).</summary>
    public const int CutShort = 7;
    /// <summary>A bug: the message is printed (numbers masked), never a stack trace.</summary>
    public const int Internal = 70;
    /// <summary>Interrupted (Ctrl+C, SIGTERM) before the command got going.</summary>
    public const int Interrupted = 130;
}
