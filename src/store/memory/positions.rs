//! The positions as the in-memory store keeps them. A get reads one position from one place:
//! its id is its key (the UUID of `pos_…` as two integers), the institution and asset it shares
//! with many others are kept once (`Names`), and its holder and external references sit inline
//! when short (up to 24 bytes). Kept as a `Position`, each of its five strings was a read from
//! elsewhere in memory — at a million positions, a cache miss each, and most of a get's time.

use super::records::{Chunked, Lc, Names};
use super::sid::{id_text, uuid_of};
use crate::domain::time::Timestamp;
use crate::domain::{
    Asset, Balance, Currency, Money, Position, PositionLifecycleEvent, PositionState,
    held_for_sorting,
};
use crate::store::query::{PositionFilter, PositionQuery, PositionSortKey, SortFields};
use crate::store::{clamp_limit, report};
use compact_str::CompactString;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Bound::{self, Excluded, Unbounded};
use std::sync::Arc;

const POS: &str = "pos_";

/// A position's id as the store keys it: the UUID of `pos_<uuid>` as two integers, any other id
/// as its text. Ordered as the ids' text is (for `pos_` and a lower-case UUID of fixed length,
/// text order is the UUID's numeric order).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum PosKey {
    Uuid(u64, u64),
    Text(Box<str>),
}

impl PosKey {
    pub(super) fn of(id: &str) -> PosKey {
        match uuid_of(POS, id) {
            Some(v) => PosKey::Uuid((v >> 64) as u64, v as u64),
            None => PosKey::Text(id.into()),
        }
    }

    fn text(&self) -> Cow<'_, str> {
        match self {
            PosKey::Uuid(hi, lo) => {
                // Written into a buffer, not through `format!`: a page builds fifty of these.
                let v = (u128::from(*hi) << 64) | u128::from(*lo);
                Cow::Owned(String::from(&*id_text(POS, v)))
            }
            PosKey::Text(t) => Cow::Borrowed(t),
        }
    }
}

impl Ord for PosKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (PosKey::Uuid(a, b), PosKey::Uuid(c, d)) => (a, b).cmp(&(c, d)),
            (PosKey::Text(a), PosKey::Text(b)) => a.cmp(b),
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialOrd for PosKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A position as the store keeps it (its id is its key).
pub(super) struct Pos {
    institution_id: Arc<str>,
    asset_id: Arc<str>,
    holder_reference: CompactString,
    external_reference: Option<CompactString>,
    currency: Currency,
    amount: Money,
    pub state: PositionState,
    pub version: i64,
    released: Option<Balance>,
    held: Option<Balance>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl Pos {
    pub(super) fn keep(p: Position, names: &mut Names) -> Pos {
        Pos {
            institution_id: names.get(&p.institution_id),
            asset_id: names.get(&p.asset_id),
            holder_reference: p.holder_reference.into(),
            external_reference: p.external_reference.map(Into::into),
            currency: p.currency,
            amount: p.amount,
            state: p.state,
            version: p.version,
            released: p.released,
            held: p.held,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    /// A transition's step, in place: what a lifecycle step changes (the SQL stores' UPDATE sets
    /// the same five columns); the rest of a position never changes once written.
    pub(super) fn step(&mut self, next: &Position) {
        self.state = next.state;
        self.version = next.version;
        self.updated_at = next.updated_at;
        self.released = next.released;
        self.held = next.held;
    }

    /// The position whose key is `key`.
    fn to_position(&self, key: &PosKey) -> Position {
        Position {
            id: key.text().into_owned(),
            institution_id: String::from(&*self.institution_id),
            asset_id: String::from(&*self.asset_id),
            holder_reference: String::from(self.holder_reference.as_str()),
            currency: self.currency,
            amount: self.amount,
            state: self.state,
            external_reference: self.external_reference.as_deref().map(str::to_string),
            version: self.version,
            released: self.released,
            held: self.held,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn sort_fields(&self) -> SortFields<'_> {
        SortFields {
            updated_at: &self.updated_at,
            institution_id: &self.institution_id,
            asset_id: &self.asset_id,
            holder_reference: &self.holder_reference,
            amount: self.amount,
            currency: self.currency,
            state: self.state,
            held: held_for_sorting(self.released, self.held, self.amount),
        }
    }

    /// Whether the position (keyed `key`) passes `f`.
    fn matches(&self, key: &PosKey, f: &PositionFilter, assets: &BTreeMap<String, Asset>) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if !eq(&f.institution_id, &self.institution_id)
            || !eq(&f.asset_id, &self.asset_id)
            || !eq(&f.holder_reference, &self.holder_reference)
            || f.state.is_some_and(|s| s != self.state)
        {
            return false;
        }
        if let Some(t) = &f.template_id
            && assets
                .get(&*self.asset_id)
                .is_none_or(|a| &a.template_id != t)
        {
            return false;
        }
        if let Some(text) = f.text.as_deref().filter(|s| !s.is_empty()) {
            // ASCII case folding, like SQLite's LIKE.
            let needle = text.to_ascii_lowercase();
            let hit = |s: &str| s.to_ascii_lowercase().contains(&needle);
            return hit(&key.text())
                || hit(&self.holder_reference)
                || self.external_reference.as_deref().is_some_and(hit);
        }
        true
    }
}

/// A position and its lifecycle, oldest first.
pub(super) struct PosEntry {
    pub p: Pos,
    pub events: Vec<Lc>,
}

/// The positions: kept in the order they came, never moved (a growing table of a million is
/// never copied to a larger block); found by id through a hash table of their places alone (4
/// bytes each, so the table stays small enough to be cached, and growing it moves little), and
/// in id order through a tree of the keys.
#[derive(Default)]
pub(super) struct Positions {
    slots: Chunked<(PosKey, PosEntry)>,
    by_key: hashbrown::HashTable<u32>,
    order: BTreeMap<PosKey, u32>,
}

fn hash_of(k: &PosKey) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(k)
}

fn slot_of<T>(slots: &Chunked<T>, i: u32) -> &T {
    slots.get(i as usize).expect("a slot the maps point at")
}

impl Positions {
    /// The place of the position keyed `k`.
    fn place(&self, k: &PosKey) -> Option<u32> {
        let slots = &self.slots;
        self.by_key
            .find(hash_of(k), |&i| slot_of(slots, i).0 == *k)
            .copied()
    }

    pub(super) fn get(&self, k: &PosKey) -> Option<&PosEntry> {
        self.place(k).map(|i| &slot_of(&self.slots, i).1)
    }

    /// The position with id `id`.
    pub(super) fn position(&self, id: &str) -> Option<Position> {
        let k = PosKey::of(id);
        self.get(&k).map(|e| e.p.to_position(&k))
    }

    /// The lifecycle of the position with id `id`, oldest first.
    pub(super) fn events(&self, id: &str) -> Vec<PositionLifecycleEvent> {
        self.get(&PosKey::of(id))
            .map(|e| e.events.iter().map(|l| l.to_event(id)).collect())
            .unwrap_or_default()
    }

    pub(super) fn get_mut(&mut self, k: &PosKey) -> Option<&mut PosEntry> {
        let i = self.place(k)?;
        self.slots.get_mut(i as usize).map(|s| &mut s.1)
    }

    pub(super) fn contains(&self, k: &PosKey) -> bool {
        self.place(k).is_some()
    }

    /// Adds the position keyed `k`, or replaces the one kept under it.
    pub(super) fn insert(&mut self, k: PosKey, e: PosEntry) {
        let h = hash_of(&k);
        let slots = &self.slots;
        if let Some(&i) = self.by_key.find(h, |&i| slot_of(slots, i).0 == k) {
            if let Some(kept) = self.slots.get_mut(i as usize) {
                kept.1 = e;
            }
            return;
        }
        let i = u32::try_from(self.slots.len()).expect("fewer than 4 billion positions");
        self.by_key
            .insert_unique(h, i, |&j| hash_of(&slot_of(slots, j).0));
        self.order.insert(k.clone(), i);
        self.slots.push((k, e));
    }

    /// Every position with its key, in the order they came.
    fn all(&self) -> impl Iterator<Item = (&PosKey, &Pos)> {
        self.slots.iter().map(|(k, e)| (k, &e.p))
    }

    /// How many positions pass `f`.
    pub(super) fn count(&self, f: &PositionFilter, assets: &BTreeMap<String, Asset>) -> usize {
        self.all().filter(|(k, p)| p.matches(k, f, assets)).count()
    }

    /// What the funded positions (of one institution, or all) hold, by currency; positions
    /// whose balance is not known left out.
    pub(super) fn held_totals(&self, inst: Option<&str>) -> Vec<(Currency, Balance)> {
        let mut held: BTreeMap<&str, (Currency, rust_decimal::Decimal)> = Default::default();
        for (_, p) in self.all() {
            if !report::HOLDING.contains(&p.state)
                || p.released.is_none()
                || inst.is_some_and(|i| i != &*p.institution_id)
            {
                continue;
            }
            let h = p.held.map(|h| h.as_decimal()).unwrap_or_default();
            held.entry(p.currency.as_str())
                .or_insert((p.currency, rust_decimal::Decimal::ZERO))
                .1 += h;
        }
        held.into_values()
            .map(|(c, total)| {
                let b = Balance::parse(&total.normalize().to_string()).unwrap_or_default();
                (c, b)
            })
            .collect()
    }

    /// The positions in id order within `range` (both ways).
    fn in_order(
        &self,
        range: (Bound<PosKey>, Bound<PosKey>),
    ) -> impl DoubleEndedIterator<Item = (&PosKey, &Pos)> {
        self.order
            .range(range)
            .map(|(k, &i)| (k, &slot_of(&self.slots, i).1.p))
    }

    /// One page of positions for `q`.
    pub(super) fn page(
        &self,
        q: &PositionQuery,
        assets: &BTreeMap<String, Asset>,
    ) -> Vec<Position> {
        let key = q.sort;
        let desc = q.descending ^ q.backwards;
        let limit = clamp_limit(q.limit) as usize;
        let pass = |(k, p): &(&PosKey, &Pos)| p.matches(k, &q.filter, assets);
        let mut out: Vec<Position> = if key == PositionSortKey::Created {
            // Creation order is id order: walk the keys from the cursor (a keyset page).
            let after = q.cursor.as_ref().map(|c| PosKey::of(&c.id));
            let rows: Box<dyn Iterator<Item = (&PosKey, &Pos)>> = match (after, desc) {
                (None, false) => Box::new(self.in_order((Unbounded, Unbounded))),
                (None, true) => Box::new(self.in_order((Unbounded, Unbounded)).rev()),
                (Some(k), false) => Box::new(self.in_order((Excluded(k), Unbounded))),
                (Some(k), true) => Box::new(self.in_order((Unbounded, Excluded(k))).rev()),
            };
            rows.filter(pass)
                .take(limit)
                .map(|(k, p)| p.to_position(k))
                .collect()
        } else {
            // The key's value, then the id (whose order its key's is).
            let mut rows: Vec<(String, &PosKey, &Pos)> = self
                .all()
                .filter(pass)
                .map(|(k, p)| (key.value_of(&p.sort_fields()), k, p))
                .collect();
            rows.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
            if desc {
                rows.reverse();
            }
            let cursor = q
                .cursor
                .as_ref()
                .map(|c| (c.value.as_str(), PosKey::of(&c.id)));
            let after = |r: &&(String, &PosKey, &Pos)| match &cursor {
                None => true,
                Some((value, id)) => {
                    let here = (r.0.as_str(), r.1);
                    let there = (*value, id);
                    if desc { here < there } else { here > there }
                }
            };
            rows.iter()
                .filter(after)
                .take(limit)
                .map(|(_, k, p)| p.to_position(k))
                .collect()
        };
        if q.backwards {
            out.reverse();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_keys_order_as_their_text() {
        let ids = [
            "pos_01900000-0000-7000-8000-000000000001",
            "pos_01900000-0000-7000-8000-00000000000a",
            "pos_0190000f-0000-7000-8000-000000000000",
            "pos_ffffffff-ffff-7fff-bfff-ffffffffffff",
            "pos_01900000-0000-7000-8000-00000000000A",
            "pos_x",
            "abc",
            "pos_",
            "pos_01900000-0000-7000-8000-0000000000011",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(PosKey::of(a).cmp(&PosKey::of(b)), a.cmp(b), "{a} vs {b}");
            }
            assert_eq!(PosKey::of(a).text(), a);
        }
        assert!(matches!(PosKey::of(ids[0]), PosKey::Uuid(..)));
        let made = crate::domain::ids::new_id(crate::domain::ids::POSITION);
        assert!(matches!(PosKey::of(&made), PosKey::Uuid(..)), "{made}");
        assert!(
            matches!(PosKey::of(ids[4]), PosKey::Text(_)),
            "upper case stays text"
        );
    }
}
