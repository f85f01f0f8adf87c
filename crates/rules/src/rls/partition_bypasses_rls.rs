use serde_json::json;

use super::{api_roles_with, tenanted_ancestor};
use crate::{Context, Finding, ObjectRef, Rule};

/// The parent's policies apply only to queries through the parent. A partition or inheritance
/// child queried directly uses its own RLS flag — usually off — and Supabase's default grants
/// give API roles access to it.
pub fn check(rule: &Rule, ctx: &Context) -> Vec<Finding> {
    ctx.snapshot
        .relations
        .iter()
        .filter(|r| r.kind.is_table() && !r.parents.is_empty() && !r.rls_enabled)
        .filter_map(|child| {
            let parent = tenanted_ancestor(ctx, child)?;
            let parent_rel = ctx.snapshot.relation(&parent)?;
            if !parent_rel.rls_enabled {
                return None; // the parent's own finding (rls-disabled) covers it
            }
            let readers = api_roles_with(ctx, child, "SELECT");
            (!readers.is_empty()).then(|| {
                let name = child.qualified_name();
                rule.finding(
                    ObjectRef::table(&name),
                    format!(
                        "{name} is a {} of {parent} without row level security of its own: {} read every tenant's rows by querying it directly",
                        if child.is_partition { "partition" } else { "child table" },
                        readers.join(", ")
                    ),
                    json!({ "parent": parent.to_string(), "readers": readers }),
                    Some(format!(
                        "ALTER TABLE {} ENABLE ROW LEVEL SECURITY;\n-- and copy {parent}'s policies onto it, or REVOKE the API roles' access to it",
                        name.sql()
                    )),
                )
            })
        })
        .collect()
}
