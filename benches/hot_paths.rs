//! Criterion benches of the hot paths: sealing a ledger event and an audit record (the steps every
//! write runs), the in-memory store's commit and get, a create and a transition through the
//! service on it, money parsing, the position state machine,
//! and drawing the Positions tab from a full page.
//! Run with `cargo bench`; compare runs on one machine, not figures across machines.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use escrowgrid::domain::ledger::{GENESIS_HASH, LedgerDraft, compute_hash};
use escrowgrid::domain::{EntityType, LedgerKind, Money, PositionState, ids, lifecycle, time};
use serde_json::json;
use std::hint::black_box;

fn create_draft(i: u64) -> LedgerDraft {
    let id = ids::new_id(ids::POSITION);
    LedgerDraft {
        id: None,
        kind: LedgerKind::PositionCreated,
        entity_type: EntityType::Position,
        entity_id: id.clone(),
        institution_id: "inst_01900000-0000-7000-8000-000000000001".into(),
        position_id: Some(id),
        at: time::now(),
        payload: json!({
            "institutionId": "inst_01900000-0000-7000-8000-000000000001",
            "assetId": "ast_01900000-0000-7000-8000-000000000001",
            "holderReference": format!("ACME-BUILD-{i:04}"), "currency": "USD",
            "amount": "1250.5", "externalReference": "INV-2026-0042", "state": "CREATED",
            "actor": "local:alice",
        })
        .into(),
    }
}

fn sealing(c: &mut Criterion) {
    let mut g = c.benchmark_group("sealing");
    g.bench_function("prepare (before the lock)", |b| {
        b.iter_batched(
            || (create_draft(7), ids::new_id(ids::LEDGER_EVENT)),
            |(d, id)| black_box(d.prepare(id)),
            BatchSize::SmallInput,
        )
    });
    let prepared = create_draft(7).prepare(ids::new_id(ids::LEDGER_EVENT));
    g.bench_function("chain step (under the lock)", |b| {
        b.iter(|| black_box(prepared.chain_hash(black_box(41), GENESIS_HASH)))
    });
    let sealed = create_draft(7).seal(ids::new_id(ids::LEDGER_EVENT), 41, GENESIS_HASH);
    g.bench_function("verify one event (canonical bytes + SHA-256)", |b| {
        b.iter(|| black_box(compute_hash(black_box(&sealed))))
    });
    // What sealing cost before: the event through serde_json::Value and the canonicalizer
    // library, then SHA-256, all of it under the lock.
    g.bench_function(
        "reference: the same through serde_json::Value + canonicalizer",
        |b| {
            use sha2::Digest;
            b.iter(|| {
                let mut v = serde_json::to_value(black_box(&sealed)).unwrap();
                v.as_object_mut().unwrap().remove("hash");
                let text = serde_json_canonicalizer::to_string(&v).unwrap();
                black_box(hex::encode(sha2::Sha256::digest(text.as_bytes())))
            })
        },
    );
    g.finish();
}

fn audit_record(i: u64) -> escrowgrid::domain::audit::AuditEvent {
    let d = create_draft(i);
    escrowgrid::domain::audit::AuditEvent {
        id: ids::new_id(ids::AUDIT),
        occurred_at: time::now(),
        actor: "local:alice".into(),
        api_key_id: None,
        institution_id: None,
        action: "POSITION_CREATED".into(),
        outcome: escrowgrid::domain::Outcome::Success,
        resource_type: Some("position".into()),
        resource_id: Some(d.entity_id.clone()),
        subject_institution_id: Some(d.institution_id.clone()),
        payload: Some(d.payload),
        error: None,
        op_id: Some(ids::new_id(ids::OPERATION)),
        client: None,
        seq: None,
        prev_hash: None,
        hash: None,
    }
}

fn audit(c: &mut Criterion) {
    use escrowgrid::domain::audit::link_hash;
    let mut g = c.benchmark_group("audit");
    let a = audit_record(7);
    g.bench_function("digest (canonical bytes written directly + SHA-256)", |b| {
        b.iter(|| black_box(black_box(&a).digest()))
    });
    // What the digest cost before: the record through serde_json::Value and the canonical
    // writer.
    g.bench_function("reference: the digest through serde_json::Value", |b| {
        use sha2::Digest;
        b.iter(|| {
            let mut v = serde_json::to_value(black_box(&a)).unwrap();
            for k in ["seq", "prevHash", "hash"] {
                v.as_object_mut().unwrap().remove(k);
            }
            let text = escrowgrid::domain::ledger::canonical_value(&v);
            black_box(hex::encode(sha2::Sha256::digest(text.as_bytes())))
        })
    });
    let digest = a.digest();
    g.bench_function("link (under the lock)", |b| {
        b.iter(|| black_box(link_hash(black_box(&digest), GENESIS_HASH, 41)))
    });
    g.finish();
}

/// The in-memory store on its own (no service): a create's commit with its ledger event and
/// audit record, and a get, over a store that already holds 100,000 positions.
fn memory_store(c: &mut Criterion) {
    use escrowgrid::domain::{Institution, Position};
    use escrowgrid::store::memory::MemoryStore;
    use escrowgrid::store::{Change, Store, Write};
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let now = time::now();
    let inst = "inst_01900000-0000-7000-8000-000000000001".to_string();
    let asset = "ast_01900000-0000-7000-8000-000000000001".to_string();
    rt.block_on(async {
        store
            .commit(Write {
                change: Change::CreateInstitution(Institution {
                    id: inst.clone(),
                    name: "Bench".into(),
                    regions: vec![],
                    verticals: vec![],
                    created_at: now,
                    updated_at: now,
                }),
                ledger: None,
                audit: None,
            })
            .await
            .unwrap();
    });
    let position = |id: String| Position {
        id,
        institution_id: inst.clone(),
        asset_id: asset.clone(),
        holder_reference: "H-1".into(),
        currency: "USD".parse().unwrap(),
        amount: Money::parse("1250.50").unwrap(),
        state: PositionState::Created,
        external_reference: None,
        version: 0,
        released: Some(escrowgrid::domain::Balance::ZERO),
        held: Some(Money::parse("1250.50").unwrap().into()),
        created_at: now,
        updated_at: now,
    };
    let ids: Vec<String> = (0..100_000).map(|_| ids::new_id(ids::POSITION)).collect();
    store.load_positions_unchecked(ids.iter().cloned().map(position));
    let mut g = c.benchmark_group("memory store");
    g.bench_function("get (100,000 positions)", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 7919) % ids.len();
            black_box(rt.block_on(store.get_position(&ids[i])).unwrap())
        })
    });
    g.bench_function(
        "commit a create with its ledger event and audit record",
        |b| {
            b.iter_batched(
                || {
                    let mut d = create_draft(1);
                    d.institution_id = inst.clone();
                    let mut a = audit_record(1);
                    a.payload = Some(d.payload.clone());
                    (d, a)
                },
                |(d, a)| {
                    // The change itself left out: what is measured is sealing and keeping the
                    // ledger event and the audit record.
                    let w = Write {
                        change: Change::None,
                        ledger: Some(d),
                        audit: Some(a),
                    };
                    black_box(rt.block_on(store.commit(w)).unwrap())
                },
                BatchSize::SmallInput,
            )
        },
    );
    g.finish();
}

fn money(c: &mut Criterion) {
    let mut g = c.benchmark_group("money");
    for text in ["1250.50", "999999999999999.99999999", "0.00000001"] {
        g.bench_function(format!("parse {text}"), |b| {
            b.iter(|| black_box(Money::parse(black_box(text))))
        });
    }
    g.bench_function("parse refused (exponent)", |b| {
        b.iter(|| black_box(Money::parse(black_box("1e3"))))
    });
    g.finish();
}

fn state_machine(c: &mut Criterion) {
    c.bench_function("state machine: every (from, to) pair", |b| {
        b.iter(|| {
            for from in PositionState::ALL {
                for to in PositionState::ALL {
                    let _ = black_box(lifecycle::check(*from, *to));
                }
            }
        })
    });
}

/// The Positions tab at 160×48 with a full page loaded, drawn as the console draws it.
fn positions_tab(c: &mut Criterion) {
    use escrowgrid::service::{
        Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, Service, ServiceConfig,
    };
    use escrowgrid::store::memory::MemoryStore;
    use escrowgrid::tui::app::{App, Msg, Session};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (app, _exec) = rt.block_on(async {
        let svc = Arc::new(Service::new(
            Arc::new(MemoryStore::new()),
            ServiceConfig::default(),
        ));
        let a = Actor::local();
        let inst = svc
            .create_institution(
                &a,
                NewInstitution {
                    name: "Harbor Trust Bank".into(),
                    regions: vec!["US".into()],
                    verticals: vec![],
                },
            )
            .await
            .unwrap();
        let t = svc
            .create_template(
                &a,
                NewTemplate {
                    institution_id: Some(inst.id.clone()),
                    code: "CONSTR_ESCROW".into(),
                    name: "Escrow".into(),
                    vertical: "CONSTRUCTION".into(),
                    region: "US".into(),
                    config: json!({"currency": "USD", "region": "US"}),
                },
            )
            .await
            .unwrap();
        let asset = svc
            .create_asset(
                &a,
                NewAsset {
                    institution_id: Some(inst.id.clone()),
                    template_id: t.id,
                    label: "Harbor Tower".into(),
                    metadata: None,
                },
            )
            .await
            .unwrap();
        for i in 0..300 {
            svc.create_position(
                &a,
                NewPosition {
                    institution_id: Some(inst.id.clone()),
                    asset_id: asset.id.clone(),
                    holder_reference: format!("ACME-BUILD-{i:04}"),
                    currency: "USD".into(),
                    amount: format!("{}.{:02}", 1000 + i * 37, i % 100),
                    external_reference: (i % 3 == 0).then(|| format!("INV-{i:05}")),
                },
            )
            .await
            .unwrap();
        }
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let exec = escrowgrid::tui::exec::Executor::new(svc.clone(), a.clone(), tx);
        let session = Session {
            backend: "memory".into(),
            target: "memory".into(),
            operator: a.describe(),
            ..Session::of(&a, false)
        };
        let mut app = App::new(
            session,
            escrowgrid::tui::keymap::KeyMap::default(),
            escrowgrid::tui::theme::Theme::default(),
        );
        app.update(Msg::Resize(160, 48));
        app.start();
        escrowgrid::tui::exec::settle(&mut app, &exec).await;
        // The Positions tab.
        app.update(Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('3'),
            crossterm::event::KeyModifiers::NONE,
        )));
        escrowgrid::tui::exec::settle(&mut app, &exec).await;
        (app, exec)
    });
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 48)).unwrap();
    c.bench_function("draw the Positions tab, 160x48, full page", |b| {
        b.iter(|| {
            term.draw(|f| escrowgrid::tui::chrome::draw(f, &app))
                .unwrap();
        })
    });
}

/// A create and a transition through the service on the in-memory store, as `bench write` runs
/// them with one caller: the key check, the operation's timing and id, the ledger event and audit
/// record sealed and kept.
fn service_writes(c: &mut Criterion) {
    use escrowgrid::service::{Actor, NewPosition, Service, ServiceConfig, TransitionRequest};
    use escrowgrid::store::memory::MemoryStore;
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let svc = Service::new(Arc::new(MemoryStore::new()), ServiceConfig::default());
    let actor = Actor::Root;
    let (inst, asset) = rt
        .block_on(escrowgrid::bench::fixture(&svc, &actor))
        .unwrap();
    let new = |i: u64| NewPosition {
        institution_id: Some(inst.clone()),
        asset_id: asset.clone(),
        holder_reference: format!("H-{i}"),
        currency: "USD".into(),
        amount: "1250.50".into(),
        external_reference: None,
    };
    let mut g = c.benchmark_group("service on the memory store");
    let mut i = 0;
    g.bench_function("create a position", |b| {
        b.iter(|| {
            i += 1;
            black_box(rt.block_on(svc.create_position(&actor, new(i))).unwrap())
        })
    });
    g.bench_function("transition a position (CREATED to FUNDED)", |b| {
        b.iter_batched(
            || {
                i += 1;
                rt.block_on(svc.create_position(&actor, new(i))).unwrap().id
            },
            |id| {
                let req = TransitionRequest {
                    to: "FUNDED".into(),
                    ..Default::default()
                };
                black_box(
                    rt.block_on(svc.transition_position(&actor, &id, req))
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// A write's payload from its type to the canonical text its ledger event and audit record
/// share: written directly, against the way through a `serde_json::Value`.
fn payloads(c: &mut Criterion) {
    use escrowgrid::domain::ledger::CanonicalJson;
    use escrowgrid::domain::payloads::{Payload, PositionCreated, Transition};
    use escrowgrid::domain::{Balance, Currency, Money, PositionState};
    let mut g = c.benchmark_group("payload");
    let created = Payload::PositionCreated(PositionCreated {
        institution_id: "inst_01900000-0000-7000-8000-000000000001".into(),
        asset_id: "ast_01900000-0000-7000-8000-000000000001".into(),
        holder_reference: "ACME-BUILD-0007".into(),
        currency: Currency::Usd,
        amount: Money::parse("1250.5").unwrap(),
        external_reference: Some("INV-2026-0042".into()),
        state: PositionState::Created,
        actor: "local:alice".into(),
    });
    let step = Payload::PositionStateChanged(Transition {
        from_state: PositionState::Funded,
        to_state: PositionState::PartiallyReleased,
        reason: None,
        lifecycle_event_id: ids::new_id(ids::LIFECYCLE_EVENT),
        version: 3,
        actor: "local:alice".into(),
        metadata: Some(None),
        amount: Some(Some(Balance::parse("250").unwrap())),
        held: Some(Some(Balance::parse("1000.5").unwrap())),
    });
    for (name, p) in [("create", &created), ("transition", &step)] {
        g.bench_function(format!("{name}: canonical text written directly"), |b| {
            b.iter(|| black_box(black_box(p).canonical()))
        });
        g.bench_function(
            format!("{name}: reference, through serde_json::Value"),
            |b| b.iter(|| black_box(CanonicalJson::of(&black_box(p).to_value()))),
        );
    }
    g.finish();
}

criterion_group!(
    benches,
    sealing,
    payloads,
    audit,
    memory_store,
    service_writes,
    money,
    state_machine,
    positions_tab
);
criterion_main!(benches);
