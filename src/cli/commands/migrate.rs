//! `migrate status` and `migrate apply [--dry-run]`: the schema as a deliberate step.

use crate::cli::*;
use crate::domain::text::counted;
use crate::store::schema::SchemaStatus;

pub(crate) async fn migrate(
    svc: &dyn Api,
    actor: &Actor,
    c: MigrateCmd,
    json: bool,
) -> ServiceResult<i32> {
    let (backend, status) = svc.migrations().await?;
    let Some(status) = status else {
        // SQLite files and memory stores carry their schema with them.
        let (_, v) = svc.schema().await?;
        if json {
            print_json(&json!({"backend": backend, "schemaVersion": v, "migratedOnOpen": true}));
        } else {
            outln!(
                "{backend}: schema at version {} (migrated when the store opens)",
                v.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
            );
        }
        return Ok(0);
    };
    match c {
        MigrateCmd::Status => {
            print_status(&status, json);
            Ok(if status.pending.is_empty() && status.unknown.is_empty() {
                0
            } else {
                1
            })
        }
        MigrateCmd::Apply { dry_run: true } => {
            if json {
                print_json(
                    &json!({"dryRun": true, "wouldApply": status.pending, "status": status}),
                );
            } else if status.pending.is_empty() {
                outln!("nothing to apply: the schema is at {}", version(&status));
            } else {
                outln!(
                    "would apply {}:",
                    counted(status.pending.len() as u64, "migration", "migrations")
                );
                for m in &status.pending {
                    outln!("  {} {}", m.version, m.description);
                }
            }
            Ok(0)
        }
        MigrateCmd::Apply { dry_run: false } => {
            let before = status.pending.clone();
            let after = crate::cli::local(svc, "migrate apply")?
                .apply_migrations(actor)
                .await?
                .ok_or_else(|| ServiceError::Internal("no schema to migrate".into()))?;
            if json {
                print_json(&json!({"applied": before, "status": after}));
            } else {
                for m in &before {
                    outln!("applied {} {}", m.version, m.description);
                }
                print_status(&after, false);
            }
            Ok(0)
        }
    }
}

fn version(s: &SchemaStatus) -> String {
    s.database_version
        .map(|v| v.to_string())
        .unwrap_or_else(|| "none (an empty database)".into())
}

fn print_status(s: &SchemaStatus, json: bool) {
    if json {
        print_json(s);
        return;
    }
    outln!("database schema:  {}", version(s));
    outln!(
        "this escrowgrid:  {} (escrowgrid {})",
        s.binary_version,
        crate::build::VERSION
    );
    outln!(
        "applied:          {}",
        counted(s.applied.len() as u64, "migration", "migrations")
    );
    for m in &s.pending {
        outln!("pending:          {} {}", m.version, m.description);
    }
    for m in &s.unknown {
        outln!(
            "unknown:          {} {} (applied by a newer escrowgrid)",
            m.version,
            m.description
        );
    }
    match s.writes_refused() {
        Some(why) => outln!("writes:           refused: {why}"),
        None => outln!("writes:           allowed"),
    }
}
