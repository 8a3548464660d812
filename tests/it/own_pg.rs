//! PostgreSQL servers of a test's own (never the shared one on 5432): `initdb` and `pg_ctl` in a
//! temporary directory, run as the `postgres` user (the server refuses root), on a free port; a
//! streaming replica of one by `pg_basebackup -R`.

use std::path::PathBuf;
use std::process::Command;

/// Set by `.ci/run`: a test that needs a server of its own fails, rather than skips, when it
/// cannot start one.
const REQUIRED: &str = "ESCROWGRID_TEST_REQUIRE_OWN_POSTGRES";

/// A server of the test's own, or None (the reason printed) where none can start here.
pub fn start_or_skip(test: &str) -> Option<OwnPostgres> {
    start_or_skip_with(test, &[], "", "")
}

/// As `start_or_skip`, with files, settings and pg_hba lines of its own (`start_configured`).
pub fn start_or_skip_with(
    test: &str,
    files: &[(&str, &str)],
    conf: &str,
    hba: &str,
) -> Option<OwnPostgres> {
    match OwnPostgres::start_configured(files, conf, hba) {
        Ok(pg) => Some(pg),
        Err(why) if std::env::var(REQUIRED).is_ok_and(|v| v == "1") => {
            panic!("{test}: cannot start a PostgreSQL server of its own ({REQUIRED}=1): {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: cannot start a PostgreSQL server of its own: {why}");
            None
        }
    }
}

/// A PostgreSQL server in a temporary directory; stopped (immediately) when dropped.
pub struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

impl OwnPostgres {
    /// Starts one, or says why it cannot (no binaries, no `postgres` user to run it as), with
    /// `files` written into its data directory (owner-only, as the server wants its key),
    /// `conf` appended to postgresql.conf and `hba` put first in pg_hba.conf.
    pub fn start_configured(
        files: &[(&str, &str)],
        conf: &str,
        hba: &str,
    ) -> Result<OwnPostgres, String> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no /usr/lib/postgresql: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())
            .ok_or("no initdb under /usr/lib/postgresql/*/bin")?;
        let me = String::from_utf8_lossy(
            &Command::new("id")
                .arg("-un")
                .output()
                .map_err(|e| e.to_string())?
                .stdout,
        )
        .trim()
        .to_string();
        let as_postgres = me == "root";
        if !as_postgres && me != "postgres" {
            return Err(format!(
                "running as {me}: neither root (to become postgres) nor postgres"
            ));
        }
        let pg = OwnPostgres::empty(bin, as_postgres)?;
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let dir = std::path::Path::new(&data);
        let owner = if as_postgres {
            Some((nix_id("postgres", "-u")?, nix_id("postgres", "-g")?))
        } else {
            None
        };
        let write = |name: &str, text: &str| -> Result<(), String> {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{name}: {e}"))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
            if let Some((u, g)) = owner {
                std::os::unix::fs::chown(&path, Some(u), Some(g)).map_err(|e| e.to_string())?;
            }
            Ok(())
        };
        for (name, text) in files {
            write(name, text)?;
        }
        if !conf.is_empty() {
            let old =
                std::fs::read_to_string(dir.join("postgresql.conf")).map_err(|e| e.to_string())?;
            write("postgresql.conf", &format!("{old}\n{conf}\n"))?;
        }
        if !hba.is_empty() {
            let old =
                std::fs::read_to_string(dir.join("pg_hba.conf")).map_err(|e| e.to_string())?;
            write("pg_hba.conf", &format!("{hba}\n{old}"))?;
        }
        pg.pg_ctl_start()?;
        Ok(pg)
    }

    /// Runs SQL as the superuser through psql (the server's own client).
    pub fn psql(&self, sql: &str) -> Result<(), String> {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        )
    }

    /// A temporary directory (owned by the server's user) and a free port; nothing started.
    fn empty(bin: PathBuf, as_postgres: bool) -> Result<OwnPostgres, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let pg = OwnPostgres {
            dir,
            bin,
            port,
            as_postgres,
        };
        if as_postgres {
            let uid = nix_id("postgres", "-u")?;
            let gid = nix_id("postgres", "-g")?;
            std::os::unix::fs::chown(pg.dir.path(), Some(uid), Some(gid))
                .map_err(|e| e.to_string())?;
        }
        Ok(pg)
    }

    /// A streaming replica of this server (`pg_basebackup -R`: a standby that follows it), started.
    pub fn replica(&self) -> Result<OwnPostgres, String> {
        let r = OwnPostgres::empty(self.bin.clone(), self.as_postgres)?;
        let port = self.port.to_string();
        r.run(
            "pg_basebackup",
            &[
                "-D",
                &r.data(),
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        )?;
        r.pg_ctl_start()?;
        Ok(r)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let out = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&exe)
                .args(args)
                .output()
        } else {
            Command::new(&exe).args(args).output()
        }
        .map_err(|e| format!("{tool}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.run(
            "pg_ctl",
            &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"],
        )
    }

    pub fn stop(&self) -> Result<(), String> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

fn nix_id(user: &str, flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("id {flag} {user}: {e}"))
}
