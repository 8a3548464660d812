//! Records that never change once created (institutions, templates, assets: there is no update
//! or delete of them), kept after their first read so that a write does not read them again.
//! Per process and bounded; a miss reads the store, and what is not found is not remembered.

use crate::store::StoreResult;
use rustc_hash::FxHashMap as HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

/// Entries kept per kind; when full, the cache starts over (cheap, and rare at this size).
const CAPACITY: usize = 10_000;

pub struct Immutable<T> {
    map: RwLock<HashMap<String, Arc<T>>>,
}

impl<T> Default for Immutable<T> {
    fn default() -> Self {
        Immutable {
            map: RwLock::new(HashMap::default()),
        }
    }
}

impl<T> Immutable<T> {
    /// The record `id`, from the cache or else from `load`.
    pub async fn get<F, Fut>(&self, id: &str, load: F) -> StoreResult<Option<Arc<T>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<Option<T>>>,
    {
        if let Some(hit) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(Some(hit.clone()));
        }
        let found = load().await?.map(Arc::new);
        if let Some(v) = &found {
            let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
            if map.len() >= CAPACITY {
                map.clear();
            }
            map.insert(id.to_string(), v.clone());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn found_records_are_read_once_and_misses_every_time() {
        let c: Immutable<u32> = Immutable::default();
        let loads = AtomicUsize::new(0);
        let load = |v: Option<u32>| {
            loads.fetch_add(1, Ordering::SeqCst);
            async move { Ok(v) }
        };
        let got = |v: Option<Arc<u32>>| v.map(|a| *a);
        assert_eq!(got(c.get("a", || load(Some(7))).await.unwrap()), Some(7));
        assert_eq!(got(c.get("a", || load(Some(8))).await.unwrap()), Some(7));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(got(c.get("b", || load(None)).await.unwrap()), None);
        assert_eq!(got(c.get("b", || load(Some(9))).await.unwrap()), Some(9));
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }
}
