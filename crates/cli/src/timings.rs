//! `TENANTGUARD_TIMINGS=1`: each stage's time since the process started, on stderr — how the
//! static-audit benchmark's end-to-end number is broken down (docs/performance.md).

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<(Instant, bool)> = OnceLock::new();

/// Called first thing in `main`.
pub fn start() {
    START.get_or_init(|| {
        (
            Instant::now(),
            std::env::var_os("TENANTGUARD_TIMINGS").is_some_and(|v| !v.is_empty() && v != "0"),
        )
    });
}

/// Prints `stage` and the milliseconds since `start` when timings were asked for.
pub fn mark(stage: &str) {
    if let Some((t0, true)) = START.get() {
        eprintln!(
            "timing {:>8.1} ms  {stage}",
            t0.elapsed().as_secs_f64() * 1e3
        );
    }
}
