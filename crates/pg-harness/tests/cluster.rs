//! The harness cleans up after itself: on drop, and when its process is killed outright.

use std::time::{Duration, Instant};

use pg_harness::Cluster;

fn wait_gone(path: &std::path::Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if !path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn drop_stops_postgres_and_removes_the_directory() {
    let cluster = Cluster::start().expect("start");
    let dir = cluster.socket_dir().to_path_buf();
    let pid = cluster.pid();
    let client = cluster.connect("postgres").await.expect("connect");
    let fsync: String = client.query_one("SHOW fsync", &[]).await.unwrap().get(0);
    assert_eq!(fsync, "off");
    drop(client);
    assert!(dir.exists() && alive(pid));
    drop(cluster);
    assert!(wait_gone(&dir), "directory left behind");
    assert!(!alive(pid), "postgres still running");
}

/// Run as a child process by the next test: start a cluster, print where, then hang.
#[test]
#[ignore = "helper for killed_process_leaves_nothing_behind"]
fn start_and_hang() {
    let Ok(out) = std::env::var("TG_HANG_OUT") else {
        return;
    };
    let cluster = Cluster::start().expect("start");
    std::fs::write(
        out,
        format!("{} {}", cluster.socket_dir().display(), cluster.pid()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn killed_process_leaves_nothing_behind() {
    let out = std::env::temp_dir().join(format!("tg-hang-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "start_and_hang", "--test-threads=1"])
        .env("TG_HANG_OUT", &out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = loop {
        match std::fs::read_to_string(&out) {
            Ok(l) if !l.is_empty() => break l,
            _ if Instant::now() > deadline => panic!("the child did not start a cluster"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let _ = std::fs::remove_file(&out);
    let mut parts = line.split_whitespace();
    let dir = std::path::PathBuf::from(parts.next().unwrap());
    let pid: u32 = parts.next().unwrap().parse().unwrap();
    assert!(dir.exists() && alive(pid));
    child.kill().unwrap(); // SIGKILL: no Drop, no signal handler runs
    child.wait().unwrap();
    assert!(wait_gone(&dir), "directory left behind after SIGKILL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !alive(pid),
        "postgres still running after its owner was killed"
    );
}

#[test]
fn missing_binaries_name_the_debian_package() {
    let msg = pg_harness::HarnessError::BinariesNotFound.to_string();
    assert!(msg.contains("apt-get install postgresql"), "{msg}");
}
