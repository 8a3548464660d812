//! The database schema as a deliberate step (PostgreSQL). An empty database is given the whole
//! schema on first open, so a newcomer's first run just works; a database in use is migrated
//! only by `escrowgrid migrate apply` (or with `auto_migrate = true`). Until then:
//!
//! - migrations this binary has that the database lacks (pending): reads work, writes are
//!   refused with "run `escrowgrid migrate apply`";
//! - migrations the database has that this binary does not know (a newer escrowgrid applied
//!   them): reads work if each of them is marked compatible (its file name ends in `_compat`:
//!   it only adds what older binaries can ignore), and writes are refused with "upgrade
//!   escrowgrid"; if one is not marked, the store does not open at all.
//!
//! Reading the state needs only SELECT on the migrations table, so a monitoring role that can
//! only read runs `health`, `metrics` and lists.

use super::{StoreError, StoreResult};
use serde::Serialize;
use sqlx::migrate::Migrator;

/// This binary's PostgreSQL migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The table sqlx keeps applied migrations in.
const TABLE: &str = "_sqlx_migrations";

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

/// The schema of a database beside the migrations this binary carries.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SchemaStatus {
    /// The newest version applied to the database (None: no schema yet).
    pub database_version: Option<i64>,
    /// The newest version this binary knows.
    pub binary_version: i64,
    pub applied: Vec<Migration>,
    /// This binary's migrations the database lacks.
    pub pending: Vec<Migration>,
    /// Applied migrations this binary does not know (applied by a newer escrowgrid).
    pub unknown: Vec<Migration>,
}

impl SchemaStatus {
    /// Why writes are refused, if they are.
    pub fn writes_refused(&self) -> Option<String> {
        if !self.unknown.is_empty() {
            return Some(self.upgrade());
        }
        if !self.pending.is_empty() {
            return Some(format!(
                "the database schema is at {}; this escrowgrid needs {} ({} pending: {}): run `escrowgrid migrate apply`",
                self.database_version.unwrap_or(0),
                self.binary_version,
                self.pending.len(),
                self.pending
                    .iter()
                    .map(|m| format!("{} {}", m.version, m.description))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        None
    }

    /// Why even reads are refused: a newer migration not marked compatible.
    pub fn reads_refused(&self) -> Option<String> {
        let breaking: Vec<&Migration> = self
            .unknown
            .iter()
            .filter(|m| !m.description.ends_with("compat"))
            .collect();
        if breaking.is_empty() {
            return None;
        }
        Some(format!(
            "{} (migration {} is not marked compatible with older binaries)",
            self.upgrade(),
            breaking[0].version
        ))
    }

    fn upgrade(&self) -> String {
        format!(
            "the database schema is at {}; this escrowgrid knows up to {}: upgrade escrowgrid",
            self.database_version.unwrap_or(0),
            self.binary_version
        )
    }
}

/// Reads the state: which of `migrator`'s migrations the database has, and which it has that
/// `migrator` lacks. Only SELECTs.
pub async fn status(pool: &sqlx::PgPool, migrator: &Migrator) -> StoreResult<SchemaStatus> {
    let map = |e: sqlx::Error| StoreError::Other(format!("cannot read the schema version: {e}"));
    let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
        .bind(TABLE)
        .fetch_one(pool)
        .await
        .map_err(map)?;
    let rows: Vec<(i64, String)> = if exists {
        sqlx::query_as(
            "SELECT version, description FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(pool)
        .await
        .map_err(map)?
    } else {
        Vec::new()
    };
    let known: Vec<Migration> = migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .map(|m| Migration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect();
    let applied: Vec<Migration> = rows
        .into_iter()
        .map(|(version, description)| Migration {
            version,
            description,
        })
        .collect();
    Ok(SchemaStatus {
        database_version: applied.iter().map(|m| m.version).max(),
        binary_version: known.iter().map(|m| m.version).max().unwrap_or(0),
        pending: known
            .iter()
            .filter(|k| !applied.iter().any(|a| a.version == k.version))
            .cloned()
            .collect(),
        unknown: applied
            .iter()
            .filter(|a| !known.iter().any(|k| k.version == a.version))
            .cloned()
            .collect(),
        applied,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(version: i64, description: &str) -> Migration {
        Migration {
            version,
            description: description.into(),
        }
    }

    fn status(applied: &[i64], binary: i64, unknown: Vec<Migration>) -> SchemaStatus {
        let applied: Vec<Migration> = applied.iter().map(|v| m(*v, "x")).collect();
        SchemaStatus {
            database_version: applied
                .iter()
                .map(|m| m.version)
                .chain(unknown.iter().map(|m| m.version))
                .max(),
            binary_version: binary,
            pending: (1..=binary)
                .filter(|v| !applied.iter().any(|a| a.version == *v))
                .map(|v| m(v, "y"))
                .collect(),
            unknown,
            applied,
        }
    }

    #[test]
    fn what_is_refused_at_each_schema() {
        let same = status(&[1, 2, 3], 3, vec![]);
        assert_eq!(same.writes_refused(), None);
        assert_eq!(same.reads_refused(), None);
        let behind = status(&[1, 2], 3, vec![]);
        let w = behind.writes_refused().unwrap();
        assert!(
            w.contains(
                "at 2; this escrowgrid needs 3 (1 pending: 3 y): run `escrowgrid migrate apply`"
            ),
            "{w}"
        );
        assert_eq!(behind.reads_refused(), None);
        let ahead = status(&[1, 2, 3], 3, vec![m(4, "add an index compat")]);
        assert_eq!(
            ahead.writes_refused().unwrap(),
            "the database schema is at 4; this escrowgrid knows up to 3: upgrade escrowgrid"
        );
        assert_eq!(ahead.reads_refused(), None);
        let breaking = status(
            &[1, 2, 3],
            3,
            vec![m(4, "add an index compat"), m(5, "split positions")],
        );
        let r = breaking.reads_refused().unwrap();
        assert!(
            r.contains(
                "at 5; this escrowgrid knows up to 3: upgrade escrowgrid (migration 5 is not marked"
            ),
            "{r}"
        );
    }
}
