use super::{generic_open_kind, open_cell_findings};
use crate::{Context, Finding, Rule, Severity};

/// Words with which a policy's author says its rows are published to everyone.
const PUBLISHED: &[&str] = &["public", "anyone", "everyone", "all users", "anonymous"];

pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    let mut findings = open_cell_findings(
        rule,
        ctx,
        |k, check| !check && generic_open_kind(k),
        "other tenants' rows can be read, updated or deleted",
    );
    for f in &mut findings {
        if let Some(why) = published_on_purpose(ctx, f) {
            f.severity = Severity::Medium;
            f.message.push_str(&format!(
                "; {why}, so this may be a public catalogue by design: confirm every tenant's rows are meant to be readable by anyone"
            ));
        }
    }
    findings
}

/// A read-only `USING (true)` policy whose name or comment says it publishes the rows
/// (`"Anyone can view services"` on a booking site): every tenant's rows are readable, and the
/// author says so. Still reported, as a question rather than a leak. Writes are never excused.
fn published_on_purpose(ctx: &Context, f: &Finding) -> Option<String> {
    if f.evidence["kind"] != "always_true" {
        return None;
    }
    let cells = f.evidence["cells"].as_array()?;
    if cells.is_empty()
        || !cells
            .iter()
            .all(|c| c.as_str().is_some_and(|c| c.ends_with(": select")))
    {
        return None;
    }
    let name = f.policy.as_deref()?;
    let rel = ctx
        .snapshot
        .relation(&tenantguard_catalog::QualifiedName::new(
            &f.object.schema,
            &f.object.name,
        ))?;
    let p = rel.policies.iter().find(|p| p.name == name)?;
    if p.command != tenantguard_catalog::PolicyCommand::Select {
        return None;
    }
    let said = |text: &str| {
        let lower = text.to_lowercase();
        PUBLISHED.iter().any(|w| lower.contains(w))
    };
    if said(&p.name) {
        Some(format!(
            "the policy's name {:?} says the rows are public",
            p.name
        ))
    } else if p.comment.as_deref().is_some_and(said) {
        Some("the policy's comment says the rows are public".to_string())
    } else {
        None
    }
}
