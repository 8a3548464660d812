//! The SQL stores' mark of a mirror's target (`MirrorOf`, table `mirror_of`, one row): read,
//! set and removed; and the condition the writer puts in each batch so that, while the mark is
//! there, nothing but a mirror's step (an import) writes.

use super::sql::{Dialect, Q, insert, select};
use super::sqlrows::parse_ts;
use super::tables::{MIRROR_OF, MirrorOfRow};
use super::{MirrorOf, StoreError, StoreResult};
use crate::domain::time;

impl TryFrom<MirrorOfRow> for MirrorOf {
    type Error = StoreError;
    fn try_from(r: MirrorOfRow) -> StoreResult<Self> {
        Ok(MirrorOf {
            source: r.source,
            started_at: parse_ts(&r.started_at)?,
            step_at: parse_ts(&r.step_at)?,
            head_seq: r.head_seq,
            source_head_seq: r.source_head_seq,
            behind_events: r.behind_events,
            behind_ms: r.behind_ms,
        })
    }
}

/// The mark, if there is one.
pub fn read(d: Dialect) -> Q {
    select(d, &MIRROR_OF, "WHERE id = 1")
}

/// Sets the mark (or its last step), or with None removes it; answers the row's id.
pub fn set(d: Dialect, mark: Option<&MirrorOf>) -> Q {
    let Some(m) = mark else {
        return Q::new(d, "DELETE FROM mirror_of RETURNING id");
    };
    let row = MirrorOfRow {
        id: 1,
        source: m.source.clone(),
        started_at: time::format(&m.started_at),
        step_at: time::format(&m.step_at),
        head_seq: m.head_seq,
        source_head_seq: m.source_head_seq,
        behind_events: m.behind_events,
        behind_ms: m.behind_ms,
    };
    let mut q = insert(d, &MIRROR_OF, row.args());
    q.push(
        " ON CONFLICT (id) DO UPDATE SET source = excluded.source, step_at = excluded.step_at, \
         head_seq = excluded.head_seq, source_head_seq = excluded.source_head_seq, \
         behind_events = excluded.behind_events, behind_ms = excluded.behind_ms RETURNING id",
    );
    q
}

/// True while the store is no mirror's target (a batch's condition).
pub const NOT_MARKED: &str = "NOT EXISTS (SELECT 1 FROM mirror_of)";

/// The refusal of a write to a marked store, naming the mirror's source from `mark`.
pub fn refused(mark: Option<MirrorOfRow>) -> StoreError {
    StoreError::Mirrored {
        of: mark.map_or_else(|| "another store".into(), |m| m.source),
    }
}
