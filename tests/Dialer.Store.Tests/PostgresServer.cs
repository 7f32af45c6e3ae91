using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Dialer.Store.Tests;

/// <summary>
/// A throw-away PostgreSQL 15 for the test run: initdb into a temp folder, a random free port on 127.0.0.1,
/// stopped and deleted at the end. initdb and postgres refuse to run as root, so under root they run as the
/// unprivileged 'postgres' user. Missing binaries fail the tests loudly: CI installs postgresql-15.
/// </summary>
public sealed class PostgresServer : IDisposable
{
    private readonly string _dir;
    private Process _server;
    private readonly string[] _start, _stop;
    private int _databases;

    public PostgresServer()
    {
        var bin = Environment.GetEnvironmentVariable("PG_BIN") ?? "/usr/lib/postgresql/15/bin";
        if (!File.Exists(Path.Combine(bin, "initdb")))
            throw new InvalidOperationException($"PostgreSQL binaries not found in {bin}: install postgresql-15 (apt-get install postgresql-15) or set PG_BIN");
        _dir = Directory.CreateTempSubdirectory("dialer-pg-").FullName;
        var asRoot = Environment.UserName == "root";
        if (asRoot) Run("chown", "-R", "postgres", _dir);
        var data = Path.Combine(_dir, "data");
        Run(Wrap(asRoot, Path.Combine(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"));
        Port = FreePort();
        // Durability off: these databases live for one test run.
        _start = Wrap(asRoot, Path.Combine(bin, "postgres"), "-D", data, "-p", Port.ToString(), "-k", _dir,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100");
        _stop = Wrap(asRoot, Path.Combine(bin, "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w");
        _server = Up();
    }

    /// <summary>
    /// Stops the server as an operator's restart does (fast shutdown: every session ends with 57P01, new connections are
    /// refused until <see cref="Start"/>). For the fault tests; the server must be started again before the test ends.
    /// </summary>
    public void Stop()
    {
        Run(_stop);
        _server.WaitForExit(10_000);
    }

    /// <summary>Starts the server again after <see cref="Stop"/>, on the same port and data; returns once it takes connections.</summary>
    public void Start() => _server = Up();

    private Process Up()
    {
        var server = Spawn(_start);
        // Drain the server's log so a full pipe never stalls it.
        server.ErrorDataReceived += (_, _) => { };
        server.OutputDataReceived += (_, _) => { };
        server.BeginErrorReadLine();
        server.BeginOutputReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var c = new NpgsqlConnection(Admin);
                c.Open();
                return server;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline && !server.HasExited) { Thread.Sleep(100); }
        }
    }

    public int Port { get; }
    private string Admin => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false";

    /// <summary>A fresh empty database on this server.</summary>
    public string NewDatabase()
    {
        var name = $"t{Interlocked.Increment(ref _databases)}";
        using (var c = new NpgsqlConnection(Admin))
        {
            c.Open();
            using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            cmd.ExecuteNonQuery();
        }
        return $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name};Maximum Pool Size=20";
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        try { Run(_stop); }
        catch (Exception) { _server.Kill(entireProcessTree: true); } // a failed clean stop must not leave it running
        _server.WaitForExit(10_000);
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string[] Wrap(bool asRoot, params string[] cmd) => asRoot ? ["runuser", "-u", "postgres", "--", .. cmd] : cmd;

    private static void Run(params string[] args)
    {
        using var p = Spawn(args);
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000)) { p.Kill(true); throw new TimeoutException($"{args[0]} did not finish in 60 s"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}{output}");
    }

    private static Process Spawn(string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

[CollectionDefinition("db")]
public sealed class DbCollection : ICollectionFixture<PostgresServer>;
