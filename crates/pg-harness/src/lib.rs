//! A throwaway PostgreSQL cluster: `initdb` into a temp dir, `postgres` on a unix socket and a
//! free localhost port, tuned for speed (no fsync), always stopped and removed.
//!
//! Cleanup does not rely on `Drop` alone: a tiny reaper process holds the read end of a pipe
//! whose write end only this process holds. When this process ends — normally, on a panic, on
//! Ctrl-C or even SIGKILL — the pipe closes, and the reaper stops `postgres` and removes the
//! directory. `Drop` just closes the pipe and waits for the reaper, so there is one code path.

mod discover;

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use discover::find_bin_dir;

/// The superuser's password over TCP (the unix socket needs none).
pub const SUPERUSER_PASSWORD: &str = "postgres";

/// The Supabase-compatible base every demo and test database can start from: the API roles,
/// the `auth` schema with `auth.jwt()` / `auth.uid()` / `auth.role()`, and Supabase's default
/// grants on `public`. Idempotent, so it can run once per database in a shared cluster.
pub const SUPABASE_BASE_SQL: &str = include_str!("../sql/supabase_base.sql");

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found in TENANTGUARD_PG_BIN, PATH, \
         `pg_config --bindir` or /usr/lib/postgresql/*/bin; install Debian's package with \
         `apt-get install postgresql` (or point TENANTGUARD_PG_BIN at the bin directory)"
    )]
    BinariesNotFound,
    #[error("cannot run PostgreSQL as root and no `postgres` OS user exists to run it as; create one with `useradd postgres` or install Debian's `postgresql` package")]
    NoPostgresUser,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {log}")]
    Command { what: String, log: String },
    #[error("PostgreSQL did not become ready within {0:?}; server log:\n{1}")]
    NotReady(Duration, String),
    #[error("database error: {0}")]
    Db(#[from] tokio_postgres::Error),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
    let what = what.into();
    move |source| HarnessError::Io { what, source }
}

/// Options for a new cluster. `settings` are extra `-c name=value` server settings.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub settings: Vec<(String, String)>,
}

/// A running throwaway cluster. Stopped and deleted when dropped (or when the process dies).
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    pid: u32,
    /// Kept so `Drop` can reap it: an unreaped zombie would look alive to the reaper.
    postgres: Option<Child>,
    reaper: Option<Child>,
}

impl Cluster {
    pub fn start() -> Result<Cluster, HarnessError> {
        Self::start_with(ClusterOptions::default())
    }

    pub fn start_with(options: ClusterOptions) -> Result<Cluster, HarnessError> {
        let bin = find_bin_dir().ok_or(HarnessError::BinariesNotFound)?;
        let run_as = discover::run_as_user()?;
        let dir = tempfile::Builder::new()
            .prefix("tenantguard-pg-")
            .tempdir()
            .map_err(io_err("creating a temp dir"))?
            .keep();
        let result = Self::start_in(&bin, run_as, dir.clone(), &options);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        result
    }

    fn start_in(
        bin: &Path,
        run_as: Option<(u32, u32)>,
        dir: PathBuf,
        options: &ClusterOptions,
    ) -> Result<Cluster, HarnessError> {
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
                .map_err(io_err("giving the temp dir to the postgres user"))?;
        }
        let data = dir.join("data");
        // Trust on the unix socket (only this machine's users reach it, and the dir is private);
        // a password over TCP, so connection tests see real authentication.
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{SUPERUSER_PASSWORD}\n"))
            .map_err(io_err("writing pwfile"))?;
        if let Some((uid, gid)) = run_as {
            let _ = std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid));
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .arg(format!("--pwfile={}", pwfile.display()))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .current_dir(&dir);
        let out = as_user(&mut initdb, run_as)
            .output()
            .map_err(io_err("running initdb"))?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                what: "initdb".into(),
                log: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }

        // Retry a few times: the free port we picked may be taken before postgres binds it.
        let mut last_err = None;
        for _ in 0..5 {
            let port = free_port()?;
            match Self::launch(bin, run_as, &dir, &data, port, options) {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.expect("at least one attempt"))
    }

    fn launch(
        bin: &Path,
        run_as: Option<(u32, u32)>,
        dir: &Path,
        data: &Path,
        port: u16,
        options: &ClusterOptions,
    ) -> Result<Cluster, HarnessError> {
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path).map_err(io_err("creating the server log"))?;
        if let Some((uid, gid)) = run_as {
            let _ = std::os::unix::fs::chown(&log_path, Some(uid), Some(gid));
        }
        let mut settings: Vec<(String, String)> = [
            ("listen_addresses", "127.0.0.1"),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("max_connections", "200"),
            ("shared_buffers", "256MB"),
            ("max_locks_per_transaction", "1024"),
            ("log_min_messages", "warning"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        settings.extend(options.settings.iter().cloned());
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D")
            .arg(data)
            .arg("-k")
            .arg(dir)
            .arg("-p")
            .arg(port.to_string());
        for (k, v) in &settings {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        // Own process group: a Ctrl-C in the terminal reaches us, and we decide how postgres
        // stops (through the reaper), instead of racing the terminal's SIGINT.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(io_err("server log"))?)
            .stderr(log);
        let child = as_user(&mut cmd, run_as)
            .spawn()
            .map_err(io_err("starting postgres"))?;
        let pid = child.id();
        let reaper = spawn_reaper(pid, dir)?;
        let mut cluster = Cluster {
            dir: dir.to_path_buf(),
            port,
            pid,
            postgres: None,
            reaper: Some(reaper),
        };
        // The postmaster writes "ready" on line 8 of postmaster.pid once it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut child = child;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                // Keep the directory: the next attempt reuses the same data dir.
                cluster.reaper_forget_dir();
                return Err(HarnessError::Command {
                    what: "postgres".into(),
                    log,
                });
            }
            let pidfile = std::fs::read_to_string(data.join("postmaster.pid")).unwrap_or_default();
            if pidfile.lines().nth(7).map(str::trim) == Some("ready") {
                break;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(HarnessError::NotReady(Duration::from_secs(60), log));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        cluster.postgres = Some(child);
        Ok(cluster)
    }

    /// Used when a launch attempt failed but the data dir is reused by the next attempt.
    fn reaper_forget_dir(&mut self) {
        if let Some(mut reaper) = self.reaper.take() {
            if let Some(stdin) = reaper.stdin.as_mut() {
                let _ = stdin.write_all(b"keep\n");
            }
            drop(reaper.stdin.take());
            let _ = reaper.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// A libpq key=value connection string for `dbname` over the unix socket, as `postgres`.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={}",
            self.dir.display(),
            self.port,
            dbname
        )
    }

    /// The same database over TCP on localhost, as a postgres:// URL.
    pub fn tcp_url(&self, dbname: &str) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{}",
            self.port, dbname
        )
    }

    pub async fn connect(&self, dbname: &str) -> Result<tokio_postgres::Client, HarnessError> {
        let (client, conn) =
            tokio_postgres::connect(&self.url(dbname), tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }

    /// Creates an empty database and returns its connection string.
    pub async fn create_database(&self, name: &str) -> Result<String, HarnessError> {
        let admin = self.connect("postgres").await?;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\" TEMPLATE template0"))
            .await?;
        Ok(self.url(name))
    }

    /// Creates a database with the Supabase base loaded.
    pub async fn create_supabase_database(&self, name: &str) -> Result<String, HarnessError> {
        // Roles are cluster-wide: two databases loading the base at once would race to create
        // them, so loads are serialised.
        static BASE_LOAD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let url = self.create_database(name).await?;
        let client = self.connect(name).await?;
        let _guard = BASE_LOAD.lock().await;
        client.batch_execute(SUPABASE_BASE_SQL).await?;
        Ok(url)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut reaper) = self.reaper.take() {
            drop(reaper.stdin.take());
            if let Some(mut postgres) = self.postgres.take() {
                let _ = postgres.wait();
            }
            let _ = reaper.wait();
        }
    }
}

fn as_user(cmd: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid).env("HOME", "/tmp");
        cmd.env_remove("PGDATA");
    }
    cmd
}

/// The reaper waits for its stdin to close, then stops postgres (SIGQUIT: immediate shutdown,
/// children included), waits for it and removes the directory. "keep" on stdin means: stop,
/// but keep the directory (a failed launch attempt whose data dir the next attempt reuses).
fn spawn_reaper(pid: u32, dir: &Path) -> Result<Child, HarnessError> {
    const SCRIPT: &str = r#"trap '' INT TERM HUP
read line
kill -QUIT "$1" 2>/dev/null
i=0
while kill -0 "$1" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
kill -KILL "$1" 2>/dev/null
if [ "$line" != keep ]; then rm -rf "$2"; fi
"#;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(SCRIPT)
        .arg("tenantguard-pg-reaper")
        .arg(pid.to_string())
        .arg(dir)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io_err("starting the cleanup process"))
}

fn free_port() -> Result<u16, HarnessError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io_err("finding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io_err("finding a free port"))?
        .port())
}

/// The cluster shared by every test of one test binary (started on first use; removed by the
/// reaper when the test process exits, since statics are never dropped).
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| Cluster::start().unwrap_or_else(|e| panic!("test cluster: {e}")))
}

/// A fresh, uniquely named database in the shared cluster; `supabase` loads the base.
pub async fn fresh_database(supabase: bool) -> Result<(String, String), HarnessError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let name = format!("t{}_{}", std::process::id(), n);
    let cluster = shared();
    let url = if supabase {
        cluster.create_supabase_database(&name).await?
    } else {
        cluster.create_database(&name).await?
    };
    Ok((name, url))
}
