//! A write made ready before the data's lock is taken: everything a commit can work out from
//! the write alone — the records' canonical text (hashed later by the linking thread,
//! `seal.rs`), the position's key, the ids as the records keep them — so that the time under
//! the lock, which every other caller waits out, is spent on the data only.

use super::positions::PosKey;
use super::records::{AuditIds, AuditSids, PosOf};
use super::sid::Sid;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::{LedgerDraft, PreparedEvent};
use crate::store::{Change, Write};

pub(super) struct Ready {
    pub change: Change,
    /// The key of the position the change is about, if it is about one.
    pub pos_key: Option<PosKey>,
    pub ledger: Option<LedgerIn>,
    pub audit: Option<AuditIn>,
}

impl Ready {
    pub(super) fn of(w: Write) -> Ready {
        let pos_key = match &w.change {
            Change::CreatePosition(x, _) => Some(PosKey::of(&x.id)),
            Change::TransitionPosition { position, .. } => Some(PosKey::of(&position.id)),
            _ => None,
        };
        Ready {
            change: w.change,
            pos_key,
            ledger: w.ledger.map(LedgerIn::new),
            audit: w.audit.map(AuditIn::new),
        }
    }
}

/// A ledger event's canonical text up to its hash, and its ids as `Ev` keeps them.
pub(super) struct LedgerIn {
    pub prepared: PreparedEvent,
    pub id: Sid,
    pub entity: Sid,
    pub position: PosOf,
}

impl LedgerIn {
    fn new(draft: LedgerDraft) -> LedgerIn {
        Self::of(draft.prepare_unhashed_with_id())
    }

    fn of(prepared: PreparedEvent) -> LedgerIn {
        let d = &prepared.draft;
        let position = match &d.position_id {
            None => PosOf::None,
            Some(p) if *p == d.entity_id => PosOf::Entity,
            Some(p) => PosOf::Other(Sid::of(p)),
        };
        LedgerIn {
            id: Sid::of(&prepared.id),
            entity: Sid::of(&d.entity_id),
            position,
            prepared,
        }
    }

    /// The event about `entity_id` instead (a policy upsert keeps the stored policy's id).
    pub(super) fn with_entity_id(self, entity_id: &str) -> LedgerIn {
        if self.prepared.draft.entity_id == entity_id {
            return self;
        }
        Self::of(self.prepared.with_entity_id(entity_id))
    }
}

/// An audit record, the canonical text its digest covers, and its ids as `Au` keeps them.
pub(super) struct AuditIn {
    pub record: AuditEvent,
    pub body: String,
    /// The record's id as `AuditIds` looks it up.
    pub key: Option<u128>,
    pub ids: AuditSids,
}

impl AuditIn {
    pub(super) fn new(record: AuditEvent) -> AuditIn {
        let body = record.canonical_body();
        let ids = AuditSids {
            id: Sid::of(&record.id),
            resource: record.resource_id.as_deref().map(Sid::of),
            op: record.op_id.as_deref().map(Sid::of),
        };
        AuditIn {
            key: AuditIds::key(&ids.id),
            record,
            body,
            ids,
        }
    }

    /// The record about the resource `id` instead (a policy upsert keeps the stored policy's
    /// id): its digest's text and kept id follow.
    pub(super) fn with_resource_id(&mut self, id: &str) {
        if self.record.resource_id.as_deref() != Some(id) {
            self.record.resource_id = Some(id.to_string());
            self.body = self.record.canonical_body();
            self.ids.resource = Some(Sid::of(id));
        }
    }
}
