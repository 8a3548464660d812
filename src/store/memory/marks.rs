//! The memory store's mark of a mirror's target (`MirrorOf`: while set, only a mirror's steps
//! write) and the mirrors this store is the source of (`MirroredTo`).

use crate::store::{MirrorOf, MirroredTo};
use std::sync::RwLock;

#[derive(Default)]
pub(super) struct Marks {
    mark: RwLock<Option<MirrorOf>>,
    mirrors: RwLock<Vec<MirroredTo>>,
}

impl Marks {
    pub(super) fn mark(&self) -> Option<MirrorOf> {
        self.mark.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(super) fn set_mark(&self, mark: Option<&MirrorOf>) {
        *self.mark.write().unwrap_or_else(|p| p.into_inner()) = mark.cloned();
    }

    pub(super) fn mirrors(&self) -> Vec<MirroredTo> {
        self.mirrors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn set_mirror(&self, target: &str, m: Option<&MirroredTo>) {
        let mut mirrors = self.mirrors.write().unwrap_or_else(|p| p.into_inner());
        mirrors.retain(|x| x.target != target);
        mirrors.extend(m.cloned());
    }
}
