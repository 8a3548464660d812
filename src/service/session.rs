//! A key's session lasts only as long as its key: every operation of a session signed in with an
//! institution key checks the stored key again — it must still exist, be unrevoked, and have the
//! hash, role and institution the session signed in with. A check is remembered for at most
//! `RECHECK`, so a revocation (or a key rewritten in the database) reaches every process on the
//! same database within that time; this process's own revocations are forgotten at once.

use super::{Actor, ServiceError, ServiceResult};
use crate::domain::time;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a key's check is trusted before the store is asked again. Streams re-check at least
/// this often too, so a revoked key's operations and streams stop within twice this (< 1 s).
pub const RECHECK: Duration = Duration::from_millis(400);

/// Checks remembered per key id: when, and the reason the session ended (None: still good).
#[derive(Default)]
pub struct Sessions {
    checked: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

/// Remembered checks at most; beyond that the map starts over (cheap: one read per key).
const CAPACITY: usize = 10_000;

impl Sessions {
    /// Ok while the actor's key is as it was at sign-in; `Unauthenticated` (saying why, and
    /// that the session has ended) once it is revoked, gone or changed. Root and the local
    /// operator have no key to check. A store that cannot be read is an error, never remembered.
    pub async fn admit(&self, store: &dyn Store, actor: &Actor) -> ServiceResult<()> {
        if let Some(r) = self.admit_now(actor) {
            return r;
        }
        let Actor::Key {
            key_id,
            institution_id,
            role,
            key_hash,
            ..
        } = actor
        else {
            return Ok(());
        };
        let stored = store.get_api_key(key_id).await?;
        let ended = match stored {
            None => Some(format!("API key {key_id} no longer exists")),
            Some(k) if k.revoked_at.is_some() => Some(format!(
                "API key {} ({}) was revoked at {}",
                k.id,
                crate::domain::text::sanitize(&k.label),
                k.revoked_at.as_ref().map(time::format).unwrap_or_default()
            )),
            Some(k)
                if !bool::from(k.key_hash.as_bytes().ct_eq(key_hash.as_bytes()))
                    || k.role != *role
                    || k.institution_id != *institution_id =>
            {
                Some(format!(
                    "API key {key_id} was changed in the store since this session signed in (its hash, role or institution)"
                ))
            }
            Some(_) => None,
        };
        {
            let mut map = self.lock();
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(key_id.clone(), (Instant::now(), ended.clone()));
        }
        ended.map_or(Ok(()), |why| Err(Self::ended(why)))
    }

    /// `admit` where it needs no read of the store: for root and the local operator, and for a
    /// key checked within `RECHECK`; None when the store must be asked.
    pub fn admit_now(&self, actor: &Actor) -> Option<ServiceResult<()>> {
        let Actor::Key { key_id, .. } = actor else {
            return Some(Ok(()));
        };
        match self.lock().get(key_id) {
            Some((at, ended)) if at.elapsed() < RECHECK => {
                Some(ended.clone().map_or(Ok(()), |why| Err(Self::ended(why))))
            }
            _ => None,
        }
    }

    /// Forgets what was checked of a key (this process just revoked it).
    pub fn forget(&self, key_id: &str) {
        self.lock().remove(key_id);
    }

    fn ended(why: String) -> ServiceError {
        ServiceError::Unauthenticated(format!("{why}: this session has ended; sign in again"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Option<String>)>> {
        self.checked.lock().unwrap_or_else(|p| p.into_inner())
    }
}
