//! `cargo build --release -p tenantguard && cargo run --release -p tenantguard-bench --bin realworld`
//!
//! The real-world corpus (bench/realworld/): public multi-tenant Supabase/PostgreSQL projects,
//! each pinned to a commit, whose schemas come from their own migration files. For each project
//! the migrations are exported from a local mirror (`git archive`), `platform.sql` is put first,
//! and the release binary is run as a new user would run it:
//!
//!   a) `tenantguard audit --migrations DIR --prove --format json`
//!   b) `tenantguard fix --apply --unsafe-fixes --migrations DIR --format json`
//!
//! One aligned line per project and totals are printed; every number goes to `--out` as JSON.
//! A project whose command fails is an error in its row (with the first error line), never a
//! crash; the exit code is 0 unless the runner itself cannot run.
//!
//! Options: `--only NAME[,NAME…]` (repeatable), `--mirrors DIR` (default /work/.mirror),
//! `--out FILE` (default bench/realworld/results.json), `--bin FILE` (default
//! target/release/tenantguard), `--manifest FILE` (default bench/realworld/projects.toml),
//! `--timeout SECS` per command (default 300), `--keep DIR` (leave the exported folders there),
//! `--no-fix` (audit only).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::{json, Value};

const PLATFORM_FILE: &str = "00000000000000_platform.sql";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    project: Vec<Project>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Project {
    name: String,
    repo: String,
    commit: String,
    migrations: Vec<String>,
    tenancy: String,
    loads: bool,
    #[serde(default)]
    note: String,
}

struct Options {
    only: Vec<String>,
    mirrors: PathBuf,
    out: PathBuf,
    bin: PathBuf,
    manifest: PathBuf,
    timeout: Duration,
    keep: Option<PathBuf>,
    fix: bool,
}

fn workspace_root() -> PathBuf {
    // bench/ is one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn parse_args() -> Result<Options> {
    let root = workspace_root();
    let mut o = Options {
        only: Vec::new(),
        mirrors: PathBuf::from("/work/.mirror"),
        out: root.join("bench/realworld/results.json"),
        bin: root.join("target/release/tenantguard"),
        manifest: root.join("bench/realworld/projects.toml"),
        timeout: Duration::from_secs(300),
        keep: None,
        fix: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<String> {
            args.next().with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--only" => o.only.extend(
                value("--only")?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            ),
            "--mirrors" => o.mirrors = PathBuf::from(value("--mirrors")?),
            "--out" => o.out = PathBuf::from(value("--out")?),
            "--bin" => o.bin = PathBuf::from(value("--bin")?),
            "--manifest" => o.manifest = PathBuf::from(value("--manifest")?),
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: u64 = v
                    .parse()
                    .with_context(|| format!("--timeout {v}: seconds"))?;
                o.timeout = Duration::from_secs(secs);
            }
            "--keep" => o.keep = Some(PathBuf::from(value("--keep")?)),
            "--no-fix" => o.fix = false,
            "-h" | "--help" => {
                println!(
                    "usage: realworld [--only NAME[,NAME…]] [--mirrors DIR] [--out FILE] [--bin FILE] \
                     [--manifest FILE] [--timeout SECS] [--keep DIR] [--no-fix]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("realworld: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<()> {
    let opts = parse_args()?;
    let text = fs::read_to_string(&opts.manifest)
        .with_context(|| format!("reading {}", opts.manifest.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", opts.manifest.display()))?;
    let platform_path = opts
        .manifest
        .parent()
        .unwrap_or(Path::new("."))
        .join("platform.sql");
    let platform = fs::read_to_string(&platform_path)
        .with_context(|| format!("reading {}", platform_path.display()))?;
    if !opts.bin.is_file() {
        bail!(
            "{} not found: build it first (cargo build --release -p tenantguard) or pass --bin",
            opts.bin.display()
        );
    }
    for name in &opts.only {
        if !manifest.project.iter().any(|p| &p.name == name) {
            bail!(
                "--only {name}: no such project in {}",
                opts.manifest.display()
            );
        }
    }
    let selected: Vec<&Project> = manifest
        .project
        .iter()
        .filter(|p| opts.only.is_empty() || opts.only.contains(&p.name))
        .collect();

    let work = tempfile::Builder::new()
        .prefix("tenantguard-realworld-")
        .tempdir()
        .context("creating a temp dir")?;
    let base = match &opts.keep {
        Some(k) => {
            fs::create_dir_all(k).with_context(|| format!("creating {}", k.display()))?;
            k.clone()
        }
        None => work.path().to_path_buf(),
    };

    let started = Instant::now();
    let mut rows = Vec::new();
    for (i, p) in selected.iter().enumerate() {
        eprintln!(
            "[{}/{}] {} ({}@{})",
            i + 1,
            selected.len(),
            p.name,
            p.repo,
            short(&p.commit)
        );
        let row = run_project(p, &opts, &platform, &base.join(&p.name));
        rows.push(row);
    }

    let table = render_table(&rows);
    print!("{table}");

    let out = json!({
        "tool": "tenantguard-bench realworld",
        "date": today(),
        "tenantguard_commit": git_short_head(&workspace_root()),
        "binary": opts.bin.display().to_string(),
        "timeout_s": opts.timeout.as_secs(),
        "elapsed_s": round1(started.elapsed().as_secs_f64()),
        "projects": rows.iter().map(|r| r.json.clone()).collect::<Vec<_>>(),
        "totals": totals_json(&rows),
    });
    if let Some(parent) = opts.out.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).ok();
        }
    }
    fs::write(&opts.out, serde_json::to_string_pretty(&out)? + "\n")
        .with_context(|| format!("writing {}", opts.out.display()))?;
    eprintln!("wrote {}", opts.out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

fn git_dir(mirrors: &Path, repo: &str) -> Option<PathBuf> {
    let flat = repo.replace('/', "+");
    let candidates = [mirrors.join(&flat).join("repo"), mirrors.join(&flat)];
    candidates
        .into_iter()
        .find(|c| c.join("HEAD").is_file() && c.join("objects").is_dir())
}

fn git(git_dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg(format!("--git-dir={}", git_dir.display()));
    c
}

/// Exports the project's migration folders at its commit into `dir` (one flat folder, the
/// platform file first), returning the number of project files.
fn export(p: &Project, git_dir: &Path, platform: &str, dir: &Path) -> Result<usize> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let raw = dir.with_extension("raw");
    if raw.exists() {
        fs::remove_dir_all(&raw).ok();
    }
    fs::create_dir_all(dir)?;
    fs::create_dir_all(&raw)?;

    let ok = git(git_dir)
        .args(["cat-file", "-e", &format!("{}^{{commit}}", p.commit)])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!(
            "commit {} is not in the mirror {}",
            p.commit,
            git_dir.display()
        );
    }

    // Every folder's top-level .sql files, in name order (what `--migrations` reads).
    let mut per_folder: Vec<Vec<(String, PathBuf)>> = Vec::new();
    for folder in &p.migrations {
        let folder = folder.trim_end_matches('/');
        let target = raw.join(per_folder.len().to_string());
        fs::create_dir_all(&target)?;
        if !archive(git_dir, &p.commit, folder, &target)? {
            cat_files(git_dir, &p.commit, folder, &target)?;
        }
        let src = target.join(folder);
        let mut files: Vec<(String, PathBuf)> = fs::read_dir(&src)
            .with_context(|| format!("{folder} is not a folder at {}", short(&p.commit)))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "sql"))
            .filter_map(|f| Some((f.file_name()?.to_str()?.to_string(), f)))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no .sql files in {folder} at {}", short(&p.commit));
        }
        per_folder.push(files);
    }

    // One folder: names kept, unless one would sort before the platform file. Several: each
    // folder's files get a two-digit prefix, so they sort in the manifest's order.
    let prefix = per_folder.len() > 1
        || per_folder
            .iter()
            .flatten()
            .any(|(n, _)| n.as_str() <= PLATFORM_FILE);
    let mut count = 0;
    for (i, files) in per_folder.iter().enumerate() {
        for (name, path) in files {
            let to = if prefix {
                format!("{:02}_{name}", i + 1)
            } else {
                name.clone()
            };
            fs::copy(path, dir.join(&to)).with_context(|| format!("copying {}", path.display()))?;
            count += 1;
        }
    }
    fs::write(dir.join(PLATFORM_FILE), platform)?;
    fs::remove_dir_all(&raw).ok();
    Ok(count)
}

/// `git archive COMMIT FOLDER | tar -x`; false when either fails (a mirror may lack some blobs,
/// e.g. files over the snapshot's size limit elsewhere in the tree).
fn archive(git_dir: &Path, commit: &str, folder: &str, target: &Path) -> Result<bool> {
    let mut archive = git(git_dir)
        .args(["archive", "--format=tar", commit, "--", folder])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("running git archive")?;
    let stdout = archive.stdout.take().context("git archive stdout")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(target)
        .stdin(stdout)
        .stderr(Stdio::null())
        .status()
        .context("running tar")?;
    let git_ok = archive.wait().map(|s| s.success()).unwrap_or(false);
    Ok(git_ok && tar.success())
}

/// The fallback: each blob of the folder (top level) with `git cat-file`.
fn cat_files(git_dir: &Path, commit: &str, folder: &str, target: &Path) -> Result<()> {
    let out = git(git_dir)
        .args(["ls-tree", "-z", commit, &format!("{folder}/")])
        .output()
        .context("running git ls-tree")?;
    if !out.status.success() {
        bail!(
            "git ls-tree {folder}: {}",
            first_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    let dest = target.join(folder);
    fs::create_dir_all(&dest)?;
    for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let entry = String::from_utf8_lossy(entry);
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split_whitespace();
        let (_mode, kind, oid) = (meta.next(), meta.next(), meta.next());
        if kind != Some("blob") || !path.ends_with(".sql") {
            continue;
        }
        let Some(oid) = oid else { continue };
        let blob = git(git_dir)
            .args(["cat-file", "blob", oid])
            .output()
            .context("running git cat-file")?;
        if !blob.status.success() {
            bail!("{path} is missing from the mirror");
        }
        let name = Path::new(path).file_name().context("file name")?;
        fs::write(dest.join(name), blob.stdout)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running the tool
// ---------------------------------------------------------------------------------------------

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    timed_out: bool,
    secs: f64,
}

fn run_tool(bin: &Path, args: &[&str], timeout: Duration, scratch: &Path) -> Result<Run> {
    let out_path = scratch.with_extension("stdout");
    let err_path = scratch.with_extension("stderr");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path)?)
        .stderr(fs::File::create(&err_path)?)
        .env("NO_COLOR", "1")
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if started.elapsed() > timeout {
            timed_out = true;
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let read = |p: &Path| {
        let mut s = String::new();
        fs::File::open(p)
            .and_then(|mut f| f.read_to_string(&mut s))
            .ok();
        s
    };
    let run = Run {
        code: status.and_then(|s| s.code()),
        stdout: read(&out_path),
        stderr: read(&err_path),
        timed_out,
        secs: started.elapsed().as_secs_f64(),
    };
    fs::remove_file(&out_path).ok();
    fs::remove_file(&err_path).ok();
    Ok(run)
}

/// The line that says what went wrong: the first `error:` line, else the last line that is not
/// progress.
fn error_line(run: &Run) -> String {
    if run.timed_out {
        return "timed out".into();
    }
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(l) = lines.iter().find(|l| l.starts_with("error")) {
        return (*l).to_string();
    }
    if let Some(l) = lines.iter().find(|l| l.contains("panicked")) {
        return (*l).to_string();
    }
    match lines.last() {
        Some(l) => (*l).to_string(),
        None => format!("exit {:?}, no output", run.code),
    }
}

/// An error that says the migrations (or their export) did not load, as opposed to a command
/// that failed on a loaded schema.
fn is_load_error(e: &str) -> bool {
    e.starts_with("export:")
        || e.starts_with("no mirror")
        || e.contains("error: migration ")
        || e.contains("no .sql files")
        || e.contains("starting the cluster")
}

fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Exit 0 or 1 (findings / leaks) with JSON on stdout is a result; anything else an error.
fn parse_run(run: &Run) -> std::result::Result<Value, String> {
    if run.timed_out {
        return Err("timed out".into());
    }
    match run.code {
        Some(0) | Some(1) => serde_json::from_str(&run.stdout).map_err(|e| {
            format!(
                "exit {:?} but no JSON on stdout ({e}): {}",
                run.code,
                error_line(run)
            )
        }),
        _ => Err(error_line(run)),
    }
}

// ---------------------------------------------------------------------------------------------
// One project
// ---------------------------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Audit {
    critical: u64,
    high: u64,
    confirmed: u64,
    proof_status: BTreeMap<String, u64>,
    attacks: u64,
    skipped: u64,
    /// Attacks with no meaning on their object (not counted as skipped).
    not_applicable: u64,
    leaks: u64,
    errors: u64,
    leak_tables: BTreeSet<String>,
    unflagged_leak_tables: BTreeSet<String>,
    root: Option<String>,
}

#[derive(Default, Clone)]
struct Fix {
    planned: u64,
    applied: u64,
    errors: u64,
    failed: Option<String>,
    moved: u64,
    leaks_before: Option<u64>,
    leaks_after: Option<u64>,
    proof_errors_after: Option<u64>,
    after_critical: Option<u64>,
    after_high: Option<u64>,
    regressions: Option<u64>,
    /// Steps the access guard withheld (they would have taken A's own access).
    withheld: u64,
    /// Critical/high findings left after the fix that an applied step claimed to close.
    claimed_left: Vec<String>,
    cascade_error: Option<String>,
}

struct Row {
    name: String,
    files: usize,
    /// The migrations were applied (the audit ran, or failed after loading them).
    loaded: bool,
    /// `audit --prove` failed after the migrations loaded; the numbers are from `audit` alone.
    prove_error: Option<String>,
    audit: std::result::Result<Audit, String>,
    fix: Option<std::result::Result<Fix, String>>,
    secs: f64,
    json: Value,
}

fn run_project(p: &Project, opts: &Options, platform: &str, dir: &Path) -> Row {
    let started = Instant::now();
    let mut row = Row {
        name: p.name.clone(),
        files: 0,
        loaded: false,
        prove_error: None,
        audit: Err(String::new()),
        fix: None,
        secs: 0.0,
        json: Value::Null,
    };
    let mut j = json!({
        "name": p.name, "repo": p.repo, "commit": p.commit, "migrations": p.migrations,
        "tenancy": p.tenancy, "manifest_loads": p.loads, "manifest_note": p.note,
    });

    let exported = match git_dir(&opts.mirrors, &p.repo) {
        None => Err(format!(
            "no mirror of {} under {} (fetch it first)",
            p.repo,
            opts.mirrors.display()
        )),
        Some(g) => export(p, &g, platform, dir).map_err(|e| format!("export: {e:#}")),
    };
    match exported {
        Err(e) => {
            row.audit = Err(e.clone());
            j["error"] = json!(e);
        }
        Ok(files) => {
            row.files = files;
            j["files"] = json!(files);
            let dir_s = dir.display().to_string();
            let scratch = dir.with_extension("audit");
            match run_tool(
                &opts.bin,
                &[
                    "audit",
                    "--migrations",
                    &dir_s,
                    "--prove",
                    "--format",
                    "json",
                ],
                opts.timeout,
                &scratch,
            ) {
                Err(e) => row.audit = Err(format!("{e:#}")),
                Ok(run) => {
                    j["audit_exit"] = json!(run.code);
                    j["audit_s"] = json!(round1(run.secs));
                    row.audit = parse_run(&run)
                        .map(|v| audit_numbers(&v))
                        .map_err(|e| e.replace(&format!("{dir_s}/"), &format!("{}/", p.name)));
                    if let Err(e) = &row.audit {
                        j["audit_error"] = json!(e);
                        j["audit_stderr_tail"] = json!(tail(&run.stderr, 20));
                    }
                }
            }
            // Loaded unless the error is about the migrations themselves.
            row.loaded = match &row.audit {
                Ok(_) => true,
                Err(e) => !is_load_error(e),
            };
            // The migrations loaded but `--prove` failed (no tenant to impersonate, say): the
            // audit alone still says what the analyser thinks.
            if let Err(e) = row.audit.clone() {
                if row.loaded {
                    let scratch = dir.with_extension("audit-only");
                    if let Ok(run) = run_tool(
                        &opts.bin,
                        &["audit", "--migrations", &dir_s, "--format", "json"],
                        opts.timeout,
                        &scratch,
                    ) {
                        if let Ok(v) = parse_run(&run) {
                            row.prove_error = Some(e.clone());
                            j["prove_error"] = json!(e);
                            row.audit = Ok(audit_numbers(&v));
                        }
                    }
                }
            }
            j["loaded"] = json!(row.loaded);
            if let Ok(a) = &row.audit {
                j["audit"] = audit_json(a);
            }
            if opts.fix && row.audit.is_ok() {
                let scratch = dir.with_extension("fix");
                let fix = match run_tool(
                    &opts.bin,
                    &[
                        "fix",
                        "--apply",
                        "--unsafe-fixes",
                        "--migrations",
                        &dir_s,
                        "--format",
                        "json",
                    ],
                    opts.timeout,
                    &scratch,
                ) {
                    Err(e) => Err(format!("{e:#}")),
                    Ok(run) => {
                        j["fix_exit"] = json!(run.code);
                        j["fix_s"] = json!(round1(run.secs));
                        let r = parse_run(&run)
                            .map(|v| fix_numbers(&v))
                            .map_err(|e| e.replace(&format!("{dir_s}/"), &format!("{}/", p.name)));
                        if r.is_err() {
                            j["fix_stderr_tail"] = json!(tail(&run.stderr, 20));
                        }
                        r
                    }
                };
                match &fix {
                    Ok(f) => j["fix"] = fix_json(f),
                    Err(e) => j["fix_error"] = json!(e),
                }
                row.fix = Some(fix);
            }
        }
    }
    row.secs = started.elapsed().as_secs_f64();
    j["elapsed_s"] = json!(round1(row.secs));
    row.json = j;
    if opts.keep.is_none() {
        fs::remove_dir_all(dir).ok();
    }
    row
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn qualified(obj: &Value) -> Option<String> {
    let schema = obj.get("schema")?.as_str()?;
    let name = obj.get("name")?.as_str()?;
    Some(format!("{schema}.{name}"))
}

fn audit_numbers(v: &Value) -> Audit {
    let mut a = Audit::default();
    let mut flagged: BTreeSet<String> = BTreeSet::new();
    for f in v["findings"].as_array().into_iter().flatten() {
        let sev = f["severity"].as_str().unwrap_or("");
        if sev != "critical" && sev != "high" {
            continue;
        }
        if sev == "critical" {
            a.critical += 1;
        } else {
            a.high += 1;
        }
        let status = f["evidence"]["proof"]["status"]
            .as_str()
            .unwrap_or("not_attempted")
            .to_string();
        if status == "confirmed" {
            a.confirmed += 1;
        }
        *a.proof_status.entry(status).or_default() += 1;
        if let Some(q) = qualified(&f["object"]) {
            flagged.insert(q);
        }
    }
    let proof = &v["proof"];
    let summary = &proof["summary"];
    a.attacks = u(&summary["attacks"]);
    a.skipped = u(&summary["skipped"]);
    a.not_applicable = u(&summary["not_applicable"]);
    a.leaks = u(&summary["leaks"]);
    a.errors = u(&summary["errors"]);
    for r in proof["results"].as_array().into_iter().flatten() {
        if r["outcome"].as_str() == Some("leak") {
            if let Some(t) = r["table"].as_str() {
                a.leak_tables.insert(t.to_string());
            }
        }
    }
    // A function's results are named with its arguments (`public.f(p uuid)`), its findings by
    // name: compare by name.
    let by_name = |t: &String| t.split_once('(').map_or(t.as_str(), |(n, _)| n).to_string();
    a.unflagged_leak_tables = a
        .leak_tables
        .iter()
        .filter(|t| !flagged.contains(&by_name(t)))
        .cloned()
        .collect();
    a.root = v["model"]["root"].as_str().map(String::from);
    a
}

fn audit_json(a: &Audit) -> Value {
    json!({
        "root": a.root,
        "critical": a.critical, "high": a.high, "confirmed": a.confirmed,
        "proof_status": a.proof_status,
        "attacks": a.attacks, "skipped": a.skipped, "not_applicable": a.not_applicable, "leaks": a.leaks, "errors": a.errors,
        "leak_tables": a.leak_tables,
        "leaks_without_critical_high_finding": a.unflagged_leak_tables,
    })
}

/// Every value under a key whose name contains `needle`, anywhere in the document.
fn find_keys<'a>(v: &'a Value, needle: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.contains(needle) {
                    out.push(x);
                } else {
                    find_keys(x, needle, out);
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| find_keys(x, needle, out)),
        _ => {}
    }
}

fn count_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::Array(xs) => Some(xs.len() as u64),
        Value::Object(m) => m
            .get("count")
            .or_else(|| m.get("total"))
            .and_then(Value::as_u64)
            .or(Some(m.len() as u64)),
        Value::Null => None,
        _ => None,
    }
}

fn fix_numbers(v: &Value) -> Fix {
    let mut f = Fix {
        planned: v["plan"]["steps"].as_array().map_or(0, |s| s.len() as u64),
        ..Fix::default()
    };
    let applied = &v["applied"];
    let steps = applied["applied"].as_array();
    f.applied = steps.map_or(0, |s| s.len() as u64);
    if let Some(failed) = applied["failed"].as_array() {
        let text: Vec<String> = failed
            .iter()
            .map(|x| {
                x.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect();
        f.failed = Some(text.join(": "));
        f.errors += 1;
    } else if !applied["failed"].is_null() && !applied["failed"].is_boolean() {
        f.failed = Some(applied["failed"].to_string());
        f.errors += 1;
    }
    // Rows moved to quarantine: the steps' notices ("tenantguard: moved N row(s) of T …").
    for s in steps.into_iter().flatten() {
        for n in s["notices"].as_array().into_iter().flatten() {
            if let Some(n) = n.as_str() {
                if let Some(rest) = n.split("moved ").nth(1) {
                    if let Some(num) = rest.split_whitespace().next() {
                        f.moved += num.parse::<u64>().unwrap_or(0);
                    }
                }
            }
        }
    }
    f.leaks_before = v["proof_before"]["leaks"].as_u64();
    f.leaks_after = v["proof_after"]["leaks"].as_u64();
    f.proof_errors_after = v["proof_after"]["errors"].as_u64();
    f.after_critical = v["after"]["critical"].as_u64();
    f.after_high = v["after"]["high"].as_u64();
    f.withheld = v["guard"]["withheld"]
        .as_array()
        .map_or(0, |w| w.len() as u64);
    // `closes` names a finding as `rule schema.name` (and ` (policy "p")`).
    let applied_summaries: BTreeSet<&str> = steps
        .into_iter()
        .flatten()
        .filter_map(|s| s["summary"].as_str())
        .collect();
    let claimed: BTreeSet<String> = v["plan"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["summary"]
                .as_str()
                .is_some_and(|x| applied_summaries.contains(x))
        })
        .flat_map(|s| s["closes"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    for a in v["after_findings"].as_array().into_iter().flatten() {
        if !matches!(a["severity"].as_str(), Some("critical" | "high")) {
            continue;
        }
        let base = format!(
            "{} {}.{}",
            a["rule"].as_str().unwrap_or(""),
            a["object"]["schema"].as_str().unwrap_or(""),
            a["object"]["name"].as_str().unwrap_or("")
        );
        let key = match a["policy"].as_str() {
            Some(p) => format!("{base} (policy {p:?})"),
            None => base,
        };
        if claimed.contains(&key) {
            f.claimed_left.push(key);
        }
    }
    let mut found = Vec::new();
    find_keys(v, "regression", &mut found);
    f.regressions = found.into_iter().filter_map(count_of).reduce(|a, b| a + b);
    f.cascade_error = v["cascade"]["error"]
        .as_str()
        .map(String::from)
        .or_else(|| {
            let left = v["cascade"]["left"].as_array()?;
            (!left.is_empty()).then(|| format!("rows left after deleting a tenant: {left:?}"))
        });
    if f.cascade_error.is_some() {
        f.errors += 1;
    }
    f
}

fn fix_json(f: &Fix) -> Value {
    json!({
        "planned": f.planned, "applied": f.applied, "errors": f.errors, "failed": f.failed,
        "rows_moved": f.moved, "leaks_before": f.leaks_before, "leaks_after": f.leaks_after,
        "proof_errors_after": f.proof_errors_after,
        "after_critical": f.after_critical, "after_high": f.after_high,
        "own_access_regressions": f.regressions, "cascade_error": f.cascade_error,
        "withheld": f.withheld, "claimed_left": f.claimed_left,
    })
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

const HEADERS: [&str; 17] = [
    "project",
    "files",
    "loads",
    "crit",
    "high",
    "conf",
    "attacks",
    "skip",
    "leaks",
    "perr",
    "unflag",
    "steps",
    "ferr",
    "moved",
    "leaks b→a",
    "perr a",
    "c/h after",
];

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn render_table(rows: &[Row]) -> String {
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for r in rows {
        let mut cells = vec![r.name.clone(), r.files.to_string()];
        match &r.audit {
            Err(e) => {
                cells.push(if r.loaded { "err" } else { "no" }.into());
                cells.extend(std::iter::repeat_n("-".to_string(), HEADERS.len() - 3));
                cells.push("n/a".into());
                cells.push(format!("{:.0}", r.secs));
                notes.push(format!("{}: {}", r.name, e));
            }
            Ok(a) => {
                cells.push("yes".into());
                let proved = r.prove_error.is_none();
                let p = |n: u64| {
                    if proved {
                        n.to_string()
                    } else {
                        "-".to_string()
                    }
                };
                cells.extend([
                    a.critical.to_string(),
                    a.high.to_string(),
                    p(a.confirmed),
                    p(a.attacks),
                    p(a.skipped),
                    p(a.leaks),
                    p(a.errors),
                    p(a.unflagged_leak_tables.len() as u64),
                ]);
                if let Some(e) = &r.prove_error {
                    notes.push(format!("{} (prove; audit alone shown): {}", r.name, e));
                }
                match &r.fix {
                    None => {
                        cells.extend(std::iter::repeat_n("-".to_string(), 6));
                        cells.push("n/a".into());
                    }
                    Some(Err(e)) => {
                        cells.extend([
                            "-".into(),
                            "ERR".into(),
                            "-".into(),
                            "-".into(),
                            "-".into(),
                            "-".into(),
                        ]);
                        cells.push("n/a".into());
                        notes.push(format!("{} (fix): {}", r.name, e));
                    }
                    Some(Ok(f)) => {
                        cells.extend([
                            format!("{}/{}", f.applied, f.planned),
                            f.errors.to_string(),
                            f.moved.to_string(),
                            format!("{}→{}", opt(f.leaks_before), opt(f.leaks_after)),
                            opt(f.proof_errors_after),
                            format!("{}/{}", opt(f.after_critical), opt(f.after_high)),
                            f.regressions.map_or("n/a".into(), |n| n.to_string()),
                        ]);
                        if let Some(e) = &f.failed {
                            notes.push(format!("{} (fix step failed): {}", r.name, e));
                        }
                        if let Some(e) = &f.cascade_error {
                            notes.push(format!("{} (cascade check): {}", r.name, e));
                        }
                    }
                }
                cells.push(format!("{:.0}", r.secs));
            }
        }
        lines.push(cells);
    }

    // Totals over the projects that loaded.
    let ok: Vec<&Audit> = rows.iter().filter_map(|r| r.audit.as_ref().ok()).collect();
    let fixes: Vec<&Fix> = rows
        .iter()
        .filter_map(|r| r.fix.as_ref().and_then(|f| f.as_ref().ok()))
        .collect();
    let sum = |f: &dyn Fn(&Audit) -> u64| ok.iter().map(|a| f(a)).sum::<u64>().to_string();
    let fsum = |f: &dyn Fn(&Fix) -> u64| fixes.iter().map(|x| f(x)).sum::<u64>();
    let regress: Vec<u64> = fixes.iter().filter_map(|f| f.regressions).collect();
    lines.push(vec![
        format!("TOTAL ({} projects)", rows.len()),
        rows.iter().map(|r| r.files).sum::<usize>().to_string(),
        format!(
            "{}/{}",
            rows.iter().filter(|r| r.loaded).count(),
            rows.len()
        ),
        sum(&|a| a.critical),
        sum(&|a| a.high),
        sum(&|a| a.confirmed),
        sum(&|a| a.attacks),
        sum(&|a| a.skipped),
        sum(&|a| a.leaks),
        sum(&|a| a.errors),
        sum(&|a| a.unflagged_leak_tables.len() as u64),
        format!("{}/{}", fsum(&|f| f.applied), fsum(&|f| f.planned)),
        (fsum(&|f| f.errors)
            + rows
                .iter()
                .filter(|r| matches!(r.fix, Some(Err(_))))
                .count() as u64)
            .to_string(),
        fsum(&|f| f.moved).to_string(),
        format!(
            "{}→{}",
            fsum(&|f| f.leaks_before.unwrap_or(0)),
            fsum(&|f| f.leaks_after.unwrap_or(0))
        ),
        fsum(&|f| f.proof_errors_after.unwrap_or(0)).to_string(),
        format!(
            "{}/{}",
            fsum(&|f| f.after_critical.unwrap_or(0)),
            fsum(&|f| f.after_high.unwrap_or(0))
        ),
        if regress.is_empty() {
            "n/a".into()
        } else {
            regress.iter().sum::<u64>().to_string()
        },
        format!("{:.0}", rows.iter().map(|r| r.secs).sum::<f64>()),
    ]);

    let mut headers: Vec<String> = HEADERS.iter().map(|s| s.to_string()).collect();
    headers.push("regr".into());
    headers.push("s".into());
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l.get(i).map_or(0, |c| c.chars().count()))
                .chain([headers[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fmt = |cells: &[String]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(c.chars().count());
            if i == 0 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = fmt(&headers);
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    out.push('\n');
    let n = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if i + 1 == n {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
        out.push_str(&fmt(l));
    }
    if !notes.is_empty() {
        out.push_str("\nerrors:\n");
        for n in notes {
            out.push_str(&format!("  {n}\n"));
        }
    }
    out
}

fn totals_json(rows: &[Row]) -> Value {
    let ok: Vec<&Audit> = rows.iter().filter_map(|r| r.audit.as_ref().ok()).collect();
    let fixes: Vec<&Fix> = rows
        .iter()
        .filter_map(|r| r.fix.as_ref().and_then(|f| f.as_ref().ok()))
        .collect();
    let regress: Vec<u64> = fixes.iter().filter_map(|f| f.regressions).collect();
    json!({
        "projects": rows.len(),
        "loaded": rows.iter().filter(|r| r.loaded).count(),
        "audited": ok.len(),
        "prove_failed": rows.iter().filter(|r| r.prove_error.is_some()).count(),
        "critical": ok.iter().map(|a| a.critical).sum::<u64>(),
        "high": ok.iter().map(|a| a.high).sum::<u64>(),
        "confirmed": ok.iter().map(|a| a.confirmed).sum::<u64>(),
        "attacks": ok.iter().map(|a| a.attacks).sum::<u64>(),
        "skipped": ok.iter().map(|a| a.skipped).sum::<u64>(),
        "not_applicable": ok.iter().map(|a| a.not_applicable).sum::<u64>(),
        "leaks": ok.iter().map(|a| a.leaks).sum::<u64>(),
        "proof_errors": ok.iter().map(|a| a.errors).sum::<u64>(),
        "leak_tables_without_finding": ok.iter().map(|a| a.unflagged_leak_tables.len()).sum::<usize>(),
        "fix_ran": fixes.len(),
        "fix_command_errors": rows.iter().filter(|r| matches!(r.fix, Some(Err(_)))).count(),
        "fix_steps_applied": fixes.iter().map(|f| f.applied).sum::<u64>(),
        "fix_steps_planned": fixes.iter().map(|f| f.planned).sum::<u64>(),
        "fix_errors": fixes.iter().map(|f| f.errors).sum::<u64>(),
        "rows_moved": fixes.iter().map(|f| f.moved).sum::<u64>(),
        "leaks_before": fixes.iter().filter_map(|f| f.leaks_before).sum::<u64>(),
        "leaks_after": fixes.iter().filter_map(|f| f.leaks_after).sum::<u64>(),
        "proof_errors_after": fixes.iter().filter_map(|f| f.proof_errors_after).sum::<u64>(),
        "after_critical": fixes.iter().filter_map(|f| f.after_critical).sum::<u64>(),
        "after_high": fixes.iter().filter_map(|f| f.after_high).sum::<u64>(),
        "own_access_regressions": if regress.is_empty() { Value::Null } else { json!(regress.iter().sum::<u64>()) },
        "withheld": fixes.iter().map(|f| f.withheld).sum::<u64>(),
        "claimed_left": fixes.iter().map(|f| f.claimed_left.len()).sum::<usize>(),
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn tail(s: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

fn git_short_head(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
