//! The memory store's `Store::import`: a whole store loaded into this empty one, or a mirror's
//! step appended where the chains end, under the one lock.

use super::{Data, MemoryStore, Ready};
use crate::store::{Heads, StoreError, StoreResult, Write};

impl MemoryStore {
    /// `Store::import`: an import into this empty store, or a mirror's step appended where the
    /// chains end.
    pub(super) fn import_writes(
        &self,
        writes: Vec<Write>,
        after: Option<Heads>,
        expect: Heads,
    ) -> StoreResult<()> {
        let mut guard = self.data.write_blocking();
        let d = &mut *guard;
        match &after {
            None if !d.ledger.is_empty() || !d.audit.is_empty() || !d.institutions.is_empty() => {
                return Err(StoreError::Constraint(
                    "an import needs an empty store; this one holds records".into(),
                ));
            }
            Some(after) if self.heads_of(d) != *after => {
                return Err(crate::store::moved(&self.heads_of(d), after));
            }
            _ => {}
        }
        let run = || {
            for (i, w) in writes.into_iter().enumerate() {
                self.apply(d, Ready::of(w))
                    .map_err(|e| StoreError::Constraint(format!("write {} failed: {e}", i + 1)))?;
            }
            let heads = self.heads_of(d);
            if heads != expect {
                return Err(StoreError::Constraint(format!(
                    "the import would end at ledger seq {} and audit seq {}, the export at \
                     ledger seq {} and audit seq {}",
                    heads.ledger.0, heads.audit.0, expect.ledger.0, expect.audit.0
                )));
            }
            Ok(heads.ledger.0)
        };
        match run() {
            Ok(seq) => {
                drop(guard);
                self.head_tx.send_replace(seq);
                Ok(())
            }
            Err(e) => {
                // An import: the store was empty, and nothing of it stays. A mirror's step: the
                // writes before the failed one stay (each whole, in order: the next step starts
                // after them) — this store keeps no copy to go back to.
                if after.is_none() {
                    self.seal.reset();
                    *d = Data::default();
                }
                Err(e)
            }
        }
    }
}
