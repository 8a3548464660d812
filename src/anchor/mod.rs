//! On-chain anchoring of the ledger (`--features onchain`): the head of the hash chain published
//! to the `Anchor` contract (`contracts/Anchor.sol`) every `every_events` events or
//! `every_seconds`, whichever comes first, through the durable outbox in the store
//! (`domain::anchor`). A third party proves the whole history by recomputing the chain from the
//! events (a database, or an export) and comparing it with the heads the chain recorded.
//!
//! This module holds what every build knows: the `[onchain]` settings, the signer's key, and the
//! comparison. The chain client and the worker (`chain.rs`, `worker.rs`) exist in builds with the
//! feature only.

#[cfg(feature = "onchain")]
pub mod chain;
#[cfg(feature = "onchain")]
pub mod worker;

use crate::domain::ledger::{LedgerEvent, compute_hash};
use serde::{Deserialize, Serialize};

/// The `[onchain]` table of the config file; every key also `ESCROWGRID_ONCHAIN_<KEY>`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnchainFile {
    pub enabled: Option<bool>,
    pub rpc_url: Option<String>,
    pub chain_id: Option<u64>,
    pub contract: Option<String>,
    pub every_events: Option<u64>,
    pub every_seconds: Option<u64>,
    pub confirmations: Option<u64>,
}

/// The resolved `[onchain]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnchainConfig {
    pub enabled: bool,
    pub rpc_url: String,
    /// The chain the RPC endpoint must serve (checked before anything is sent).
    pub chain_id: Option<u64>,
    /// The Anchor contract's address (0x…); `anchor deploy` prints one.
    pub contract: Option<String>,
    /// Anchor when this many events arrived since the last anchor (1: every event)…
    pub every_events: u64,
    /// …or when this many seconds passed with newer events, whichever comes first.
    pub every_seconds: u64,
    /// Blocks after the anchor's own before it counts as confirmed.
    pub confirmations: u64,
}

impl Default for OnchainConfig {
    fn default() -> Self {
        OnchainConfig {
            enabled: false,
            rpc_url: "http://127.0.0.1:8545".into(),
            chain_id: None,
            contract: None,
            every_events: 100,
            every_seconds: 300,
            confirmations: 1,
        }
    }
}

/// Where the signer's key comes from: `ESCROWGRID_ONCHAIN_KEY`, or a file named by
/// `ESCROWGRID_ONCHAIN_KEY_FILE` that only its owner may read. Never a flag or the config file,
/// never logged.
/// `env` reads a variable (the process's environment, or a map in tests).
pub fn signer_key(env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if let Some(k) = env("ESCROWGRID_ONCHAIN_KEY") {
        return Ok(k.trim().to_string());
    }
    let Some(path) = env("ESCROWGRID_ONCHAIN_KEY_FILE") else {
        return Err(
            "no signer key: set ESCROWGRID_ONCHAIN_KEY, or ESCROWGRID_ONCHAIN_KEY_FILE to a file only you can read"
                .into(),
        );
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(&path)
            .map_err(|e| format!("ESCROWGRID_ONCHAIN_KEY_FILE {path}: {e}"))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "ESCROWGRID_ONCHAIN_KEY_FILE {path} can be read by others (mode {:o}): chmod 600 it",
                meta.permissions().mode() & 0o777
            ));
        }
    }
    std::fs::read_to_string(&path)
        .map(|k| k.trim().to_string())
        .map_err(|e| format!("ESCROWGRID_ONCHAIN_KEY_FILE {path}: {e}"))
}

/// One anchor as the chain recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainAnchor {
    pub seq: i64,
    /// Hex, without 0x.
    pub head: String,
    pub block: u64,
    pub tx_hash: String,
}

/// The outcome of checking a ledger against the chain's anchors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorVerification {
    pub ok: bool,
    pub anchors: usize,
    /// Events recomputed.
    pub events: u64,
    /// The newest anchored seq that matched.
    pub verified_to: Option<i64>,
    /// The first seq where the ledger departs from what the chain recorded.
    pub mismatch_seq: Option<i64>,
    pub reason: Option<String>,
}

/// Recomputes the chain from the events themselves (each hash from its content and the hash
/// recomputed before it, never the stored hashes) and checks every anchor against it. A mismatch
/// names the first seq whose event no longer hashes as it did when sealed (an edit), or, where
/// every event still matches its stored hash, the anchored seq itself.
pub struct Recomputer {
    prev: String,
    expected_seq: i64,
    events: u64,
    /// The first seq whose recomputed hash differs from its stored one.
    first_departure: Option<i64>,
    /// seq → recomputed hash, for the anchored seqs only.
    wanted: std::collections::BTreeMap<i64, Option<String>>,
    gap: Option<String>,
}

impl Recomputer {
    pub fn new(anchors: &[ChainAnchor]) -> Self {
        Recomputer {
            prev: crate::domain::ledger::GENESIS_HASH.to_string(),
            expected_seq: 1,
            events: 0,
            first_departure: None,
            wanted: anchors.iter().map(|a| (a.seq, None)).collect(),
            gap: None,
        }
    }

    pub fn push(&mut self, ev: &LedgerEvent) {
        if self.gap.is_some() {
            return;
        }
        if ev.seq != self.expected_seq {
            self.gap = Some(format!(
                "the ledger jumps from seq {} to {}",
                self.expected_seq - 1,
                ev.seq
            ));
            return;
        }
        let mut e = ev.clone();
        e.prev_hash = self.prev.clone();
        let h = compute_hash(&e);
        if h != ev.hash && self.first_departure.is_none() {
            self.first_departure = Some(ev.seq);
        }
        if let Some(slot) = self.wanted.get_mut(&ev.seq) {
            *slot = Some(h.clone());
        }
        self.prev = h;
        self.expected_seq += 1;
        self.events += 1;
    }

    pub fn finish(self, anchors: &[ChainAnchor]) -> AnchorVerification {
        let mut verified_to = None;
        for a in anchors {
            let got = self.wanted.get(&a.seq).cloned().flatten();
            match got {
                Some(h) if h.eq_ignore_ascii_case(&a.head) => verified_to = Some(a.seq),
                other => {
                    let seq = self
                        .first_departure
                        .filter(|d| *d <= a.seq)
                        .unwrap_or(a.seq);
                    let reason = match (other, &self.gap) {
                        (None, Some(gap)) => format!("seq {} was anchored, but {gap}", a.seq),
                        (None, None) => format!(
                            "seq {} was anchored (block {}), but the ledger ends before it",
                            a.seq, a.block
                        ),
                        (Some(_), _) if seq < a.seq => format!(
                            "event {seq} does not hash as sealed, so the chain no longer reaches the head anchored at seq {} (block {})",
                            a.seq, a.block
                        ),
                        (Some(h), _) => format!(
                            "seq {} hashes to {h}, the chain recorded {} (block {}, tx {})",
                            a.seq, a.head, a.block, a.tx_hash
                        ),
                    };
                    return AnchorVerification {
                        ok: false,
                        anchors: anchors.len(),
                        events: self.events,
                        verified_to,
                        mismatch_seq: Some(seq),
                        reason: Some(reason),
                    };
                }
            }
        }
        AnchorVerification {
            ok: true,
            anchors: anchors.len(),
            events: self.events,
            verified_to,
            mismatch_seq: None,
            reason: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(vars: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: BTreeMap<&str, String> = vars.iter().cloned().collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_signer_key_comes_from_the_environment_or_an_owner_only_file() {
        assert_eq!(
            signer_key(&env(&[("ESCROWGRID_ONCHAIN_KEY", " 0xabc \n".into())])).unwrap(),
            "0xabc"
        );
        assert!(
            signer_key(&env(&[]))
                .unwrap_err()
                .starts_with("no signer key")
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, "0xdef\n").unwrap();
        let named = env(&[("ESCROWGRID_ONCHAIN_KEY_FILE", file.display().to_string())]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = signer_key(&named).unwrap_err();
            assert!(e.contains("can be read by others (mode 644)"), "{e}");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(signer_key(&named).unwrap(), "0xdef");
    }

    fn event(seq: i64, prev: &str, name: &str) -> LedgerEvent {
        let mut e: LedgerEvent = serde_json::from_value(serde_json::json!({
            "seq": seq, "id": format!("led_{seq}"), "kind": "INSTITUTION_CREATED",
            "entityType": "institution", "entityId": format!("inst_{seq}"),
            "institutionId": format!("inst_{seq}"), "positionId": null,
            "at": "2026-11-29T08:00:00.000Z", "payload": {"name": name},
            "prevHash": prev, "hash": ""
        }))
        .unwrap();
        e.hash = compute_hash(&e);
        e
    }

    #[test]
    fn anchors_are_checked_against_the_recomputed_chain() {
        let mut events = Vec::new();
        let mut prev = crate::domain::ledger::GENESIS_HASH.to_string();
        for seq in 1..=6 {
            let e = event(seq, &prev, &format!("Bank {seq}"));
            prev = e.hash.clone();
            events.push(e);
        }
        let anchor = |seq: i64| ChainAnchor {
            seq,
            head: events[seq as usize - 1].hash.clone(),
            block: seq as u64,
            tx_hash: "0x".into(),
        };
        let anchors = vec![anchor(3), anchor(6)];
        let run = |evs: &[LedgerEvent]| {
            let mut r = Recomputer::new(&anchors);
            evs.iter().for_each(|e| r.push(e));
            r.finish(&anchors)
        };
        let ok = run(&events);
        assert!(
            ok.ok && ok.verified_to == Some(6) && ok.events == 6,
            "{ok:?}"
        );

        // An edit (its stored hash left alone) fails at the edited seq.
        let mut edited = events.clone();
        edited[4].payload["name"] = "Forged".into();
        let v = run(&edited);
        assert_eq!(
            (v.ok, v.mismatch_seq, v.verified_to),
            (false, Some(5), Some(3))
        );

        // A rewrite with every hash recomputed still differs from what the chain recorded.
        let mut rewritten = Vec::new();
        let mut prev = crate::domain::ledger::GENESIS_HASH.to_string();
        for seq in 1..=6 {
            let e = event(seq, &prev, if seq == 2 { "Other" } else { "Bank" });
            prev = e.hash.clone();
            rewritten.push(e);
        }
        let v = run(&rewritten);
        assert_eq!((v.ok, v.mismatch_seq), (false, Some(3)));

        // A ledger cut before an anchored seq says so.
        let v = run(&events[..4]);
        assert_eq!(v.mismatch_seq, Some(6));
        assert!(v.reason.unwrap().contains("ends before it"));
    }
}
