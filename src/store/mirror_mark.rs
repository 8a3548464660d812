//! The SQL stores' mark of a mirror's target (`MirrorOf`, table `mirror_of`, one row): read,
//! set and removed; and the condition the writer puts in each batch so that, while the mark is
//! there, nothing but a mirror's step (an import) writes.

use super::sql::{Arg, Dialect, Q, Ty, insert, select};
use super::sqlrows::parse_ts;
use super::tables::{MIRROR_OF, MIRRORED_TO, MirrorOfRow, MirroredToRow};
use super::{MirrorLast, MirrorOf, MirroredTo, StoreError, StoreResult};
use crate::domain::time;

/// A mirror's last step from a row's columns: when, and [head, source's head, events behind,
/// milliseconds behind].
fn last_of(
    step_at: &str,
    [head_seq, source_head_seq, behind_events, behind_ms]: [i64; 4],
) -> StoreResult<MirrorLast> {
    Ok(MirrorLast {
        step_at: parse_ts(step_at)?,
        head_seq,
        source_head_seq,
        behind_events,
        behind_ms,
    })
}

/// What an upsert of either table sets again: the last step's columns.
const LAST_STEP_AGAIN: &str = "step_at = excluded.step_at, head_seq = excluded.head_seq, \
     source_head_seq = excluded.source_head_seq, behind_events = excluded.behind_events, \
     behind_ms = excluded.behind_ms";

impl TryFrom<MirrorOfRow> for MirrorOf {
    type Error = StoreError;
    fn try_from(r: MirrorOfRow) -> StoreResult<Self> {
        Ok(MirrorOf {
            started_at: parse_ts(&r.started_at)?,
            last: last_of(
                &r.step_at,
                [r.head_seq, r.source_head_seq, r.behind_events, r.behind_ms],
            )?,
            source: r.source,
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
        step_at: time::format(&m.last.step_at),
        head_seq: m.last.head_seq,
        source_head_seq: m.last.source_head_seq,
        behind_events: m.last.behind_events,
        behind_ms: m.last.behind_ms,
    };
    let mut q = insert(d, &MIRROR_OF, row.args());
    q.push(" ON CONFLICT (id) DO UPDATE SET source = excluded.source, ")
        .push(LAST_STEP_AGAIN)
        .push(" RETURNING id");
    q
}

impl TryFrom<MirroredToRow> for MirroredTo {
    type Error = StoreError;
    fn try_from(r: MirroredToRow) -> StoreResult<Self> {
        Ok(MirroredTo {
            started_at: parse_ts(&r.started_at)?,
            last: last_of(
                &r.step_at,
                [r.head_seq, r.source_head_seq, r.behind_events, r.behind_ms],
            )?,
            target: r.target,
        })
    }
}

/// The stores this one is mirrored to.
pub fn read_mirrored_to(d: Dialect) -> Q {
    select(d, &MIRRORED_TO, "ORDER BY target")
}

/// Records a mirror's last step on its source's side, or forgets it; answers the row's target.
pub fn set_mirrored_to(d: Dialect, target: &str, m: Option<&MirroredTo>) -> Q {
    let Some(m) = m else {
        let mut q = Q::new(d, "DELETE FROM mirrored_to WHERE target = ");
        q.bind(Ty::Text, Arg::Text(Some(target.into())))
            .push(" RETURNING target");
        return q;
    };
    let row = MirroredToRow {
        target: m.target.clone(),
        started_at: time::format(&m.started_at),
        step_at: time::format(&m.last.step_at),
        head_seq: m.last.head_seq,
        source_head_seq: m.last.source_head_seq,
        behind_events: m.last.behind_events,
        behind_ms: m.last.behind_ms,
    };
    let mut q = insert(d, &MIRRORED_TO, row.args());
    q.push(" ON CONFLICT (target) DO UPDATE SET ")
        .push(LAST_STEP_AGAIN)
        .push(" RETURNING target");
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
