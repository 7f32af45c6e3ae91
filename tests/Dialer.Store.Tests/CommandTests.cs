using System.CommandLine;
using Dapper;

namespace Dialer.Store.Tests;

public sealed class CommandTests
{
    [Fact]
    public void Db_migrate_and_leads_import_run_from_the_command_line()
    {
        var file = Path.Combine(Path.GetTempPath(), $"dialer-cli-{Guid.NewGuid():N}.db");
        var csv = Path.GetTempFileName();
        Environment.SetEnvironmentVariable(Pii.EnvVar, Convert.ToBase64String(TestDb.PiiKey));
        try
        {
            var root = new RootCommand();
            foreach (var c in StoreCommands.Create()) root.Subcommands.Add(c);
            Assert.Equal(0, root.Parse(["db", "migrate", "--db", "sqlite:" + file]).Invoke());
            File.WriteAllText(csv, "phone,region,timezone\n+8613800138000,CN,Asia/Shanghai\nbad,CN,Asia/Shanghai\n");
            // Exit 2: the file was imported, but a row was rejected.
            Assert.Equal(2, root.Parse(["leads", "import", "--campaign", "renewals", csv, "--db", "sqlite:" + file, "--json"]).Invoke());
            Assert.Equal(1, root.Parse(["leads", "import", "--campaign", "renewals", csv + ".missing", "--db", "sqlite:" + file]).Invoke());
            using var db = StoreDb.Open("sqlite:" + file);
            using var c2 = db.Connect();
            Assert.Equal(1, c2.ExecuteScalar<long>("SELECT COUNT(*) FROM leads"));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var f in new[] { file, file + "-wal", file + "-shm", csv }) File.Delete(f);
        }
    }
}
