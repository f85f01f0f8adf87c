//! Finding the server binaries and the OS user to run them as.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::HarnessError;

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// TENANTGUARD_PG_BIN, then PATH, then `pg_config --bindir`, then the newest
/// /usr/lib/postgresql/*/bin (Debian keeps the server binaries off PATH).
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TENANTGUARD_PG_BIN") {
        let dir = PathBuf::from(dir);
        return has_server(&dir).then_some(dir);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server(&dir) {
                return Some(dir);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// initdb refuses to run as root: then run as the `postgres` OS user (uid, gid).
pub fn run_as_user() -> Result<Option<(u32, u32)>, HarnessError> {
    let uid = Command::new("id").arg("-u").output().ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    });
    if uid != Some(0) {
        return Ok(None);
    }
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, "postgres"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<u32>()
                    .ok()
            })
    };
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Ok(Some((u, g))),
        _ => Err(HarnessError::NoPostgresUser),
    }
}
