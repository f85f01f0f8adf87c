//! The proof in a terminal: one table × attack matrix per attacker, then every leak and error
//! with its detail.

use std::fmt::Write as _;

use tenantguard_probe::{
    Attack, AttackResult, Command, ObjectKind, Outcome, OwnOutcome, ProofReport, Reconciliation,
};

fn short(a: Attack) -> &'static str {
    match a {
        Attack::Read => "read",
        Attack::ReadReturning => "return",
        Attack::Insert => "insert",
        Attack::Update => "update",
        Attack::UpdateAll => "upd-all",
        Attack::Move => "move",
        Attack::Delete => "delete",
        Attack::DeleteAll => "del-all",
        Attack::Upsert => "upsert",
        Attack::ExistsOracle => "oracle",
        Attack::Call => "call",
    }
}

fn cell(r: &AttackResult) -> String {
    match r.outcome {
        Outcome::Blocked => "ok".into(),
        Outcome::Leak => format!("LEAK {}", r.rows),
        Outcome::Error => "error".into(),
        Outcome::Skipped => "-".into(),
        Outcome::Info => "info".into(),
        Outcome::NotApplicable => "n/a".into(),
    }
}

pub fn render_proof_text(p: &ProofReport) -> String {
    let mut out = String::new();
    if let Some(t) = &p.tenants {
        let _ = writeln!(
            out,
            "Proof on {}: tenant A = {} attacks tenant B = {} ({}){}",
            p.database,
            t.attacker,
            t.victim,
            t.how_chosen,
            if p.read_only { ", read-only" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "ok = blocked, LEAK n = n of B's rows read or written, info = B's key revealed, - = not applicable\n"
    );
    let attacks: Vec<Attack> = Attack::TABLE_ATTACKS
        .into_iter()
        .filter(|a| p.results.iter().any(|r| r.attack == *a))
        .collect();
    for label in &p.roles {
        let mine: Vec<&AttackResult> = p.results.iter().filter(|r| &r.role == label).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(out, "as {label}:");
        let mut objects: Vec<&str> = vec![];
        for r in &mine {
            if r.kind == ObjectKind::Table && !objects.contains(&r.table.as_str()) {
                objects.push(&r.table);
            }
        }
        let width = objects.iter().map(|o| o.len()).max().unwrap_or(5).max(5);
        let _ = write!(out, "  {:width$}", "table");
        for a in &attacks {
            let _ = write!(out, " {:>8}", short(*a));
        }
        out.push('\n');
        for o in &objects {
            let _ = write!(out, "  {o:width$}");
            for a in &attacks {
                let c = mine
                    .iter()
                    .find(|r| r.table == *o && r.attack == *a)
                    .map(|r| cell(r))
                    .unwrap_or_default();
                let _ = write!(out, " {c:>8}");
            }
            out.push('\n');
        }
        let others: Vec<&&AttackResult> = mine
            .iter()
            .filter(|r| r.kind != ObjectKind::Table)
            .collect();
        for r in others {
            let what = match r.kind {
                ObjectKind::View => "view",
                ObjectKind::MaterializedView => "materialized view",
                _ => "function",
            };
            let _ = writeln!(out, "  {what} {}: {} {}", r.table, short(r.attack), cell(r));
        }
        out.push('\n');
    }
    render_own_access(&mut out, p);
    let listed = |out: &mut String, title: &str, o: Outcome| {
        let rows: Vec<&AttackResult> = p.results.iter().filter(|r| r.outcome == o).collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for r in rows {
            let _ = writeln!(
                out,
                "  {} {} as {}: {}",
                r.table,
                r.attack.name(),
                r.role,
                r.detail
            );
        }
        out.push('\n');
    };
    listed(&mut out, "LEAKS", Outcome::Leak);
    // The oracle fires on nearly every table with a global primary key: one line per role.
    for label in &p.roles {
        let tables: Vec<&str> = p
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Info && &r.role == label)
            .map(|r| r.table.as_str())
            .collect();
        if !tables.is_empty() {
            let _ = writeln!(
                out,
                "Revealed as {label}: a unique violation on B's key tells the caller the row exists, in {} table(s): {}\n",
                tables.len(),
                tables.join(", ")
            );
        }
    }
    listed(
        &mut out,
        "Errors (neither blocked nor leaked)",
        Outcome::Error,
    );
    for n in &p.notes {
        let _ = writeln!(out, "note: {n}");
    }
    let s = &p.summary;
    let _ = writeln!(
        out,
        "{} attacks in {:.1} s: {} leak(s) on {} object(s), {} blocked, {} error(s), {} skipped, {} info, {} not applicable",
        s.attacks,
        p.elapsed_ms as f64 / 1000.0,
        s.leaks,
        s.leaking_objects,
        s.blocked,
        s.errors,
        s.skipped,
        s.info,
        s.not_applicable
    );
    if p.claims_suspect && s.leaks == 0 {
        let _ = writeln!(
            out,
            "0 leaks is not evidence here: tenant A could not read its own rows either (its claims are probably wrong)"
        );
    }
    out
}

/// The positive control beside the attack matrix: A on its own rows, per attacker acting for
/// A (`ok`, `DENIED`, `error`, `-`), then what kept A from them.
fn render_own_access(out: &mut String, p: &ProofReport) {
    if p.claims_suspect {
        let _ = writeln!(
            out,
            "WARNING: tenant A could not read its own rows in any table: its claims are probably wrong, and \"blocked\" below proves nothing\n"
        );
    }
    if p.own_access.is_empty() {
        return;
    }
    let word = |o: OwnOutcome| match o {
        OwnOutcome::Ok => "ok",
        OwnOutcome::Denied => "DENIED",
        OwnOutcome::Error => "error",
        OwnOutcome::Skipped => "-",
    };
    for label in &p.roles {
        let mine: Vec<_> = p.own_access.iter().filter(|o| &o.role == label).collect();
        if mine.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "own rows, as {label} for A (ok = A reached its own row, DENIED = A was kept from it):"
        );
        let mut tables: Vec<&str> = vec![];
        for o in &mine {
            if !tables.contains(&o.table.as_str()) {
                tables.push(&o.table);
            }
        }
        let width = tables.iter().map(|t| t.len()).max().unwrap_or(5).max(5);
        let _ = write!(out, "  {:width$}", "table");
        for c in ["select", "insert", "update", "delete"] {
            let _ = write!(out, " {c:>8}");
        }
        out.push('\n');
        for t in &tables {
            let _ = write!(out, "  {t:width$}");
            for c in Command::ALL {
                let w = mine
                    .iter()
                    .find(|o| o.table == *t && o.command == c)
                    .map(|o| word(o.outcome))
                    .unwrap_or_default();
                let _ = write!(out, " {w:>8}");
            }
            out.push('\n');
        }
        out.push('\n');
    }
}

pub fn render_reconciliation_text(items: &[Reconciliation]) -> String {
    let mut out = String::new();
    let missed: Vec<_> = items
        .iter()
        .filter(|r| r.kind == tenantguard_probe::Disagreement::AnalyserMissedLeak)
        .collect();
    if !missed.is_empty() {
        let _ = writeln!(
            out,
            "!!! ANALYSER BUG: {} cell(s) the static analysis called safe leaked under attack:",
            missed.len()
        );
        for r in &missed {
            let _ = writeln!(
                out,
                "!!!   {} {:?} as {}: {} ({})",
                r.table,
                r.command,
                r.role,
                r.detail,
                r.attacks.join(", ")
            );
        }
        out.push('\n');
    }
    let not_exploited: Vec<_> = items
        .iter()
        .filter(|r| r.kind == tenantguard_probe::Disagreement::FlaggedNotExploited)
        .collect();
    if !not_exploited.is_empty() {
        let _ = writeln!(
            out,
            "Flagged by the analysis but not exploited by the proof:"
        );
        for r in not_exploited {
            let _ = writeln!(
                out,
                "  {} {:?} as {}: {}",
                r.table, r.command, r.role, r.detail
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantguard_probe::{Attacker, OwnAccess, ProofSummary};

    #[test]
    fn own_access_matrix_and_the_suspect_claims_warning() {
        let own = |command, outcome| OwnAccess {
            table: "public.docs".into(),
            role: "authenticated".into(),
            command,
            outcome,
            detail: String::new(),
        };
        let mut p = ProofReport {
            tool: "tenantguard".into(),
            version: "0".into(),
            database: "db".into(),
            tenants: None,
            roles: vec!["authenticated".into()],
            attackers: vec![Attacker {
                label: "authenticated".into(),
                role: "authenticated".into(),
                settings: vec![],
                has_tenant: true,
            }],
            read_only: false,
            results: vec![],
            own_access: vec![
                own(Command::Select, OwnOutcome::Denied),
                own(Command::Insert, OwnOutcome::Ok),
                own(Command::Update, OwnOutcome::Skipped),
                own(Command::Delete, OwnOutcome::Error),
            ],
            claims_suspect: true,
            summary: ProofSummary::default(),
            elapsed_ms: 0,
            notes: vec![],
        };
        let text = render_proof_text(&p);
        assert!(
            text.contains("WARNING: tenant A could not read its own rows"),
            "{text}"
        );
        assert!(text.contains("0 leaks is not evidence"), "{text}");
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("public.docs"))
            .expect("a row for public.docs");
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            ["public.docs", "DENIED", "ok", "-", "error"]
        );
        p.claims_suspect = false;
        let text = render_proof_text(&p);
        assert!(
            !text.contains("WARNING") && !text.contains("not evidence"),
            "{text}"
        );
    }
}
