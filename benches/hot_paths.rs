//! Criterion benches of the hot pure paths: sealing a ledger event (the step every write runs),
//! money parsing, the position state machine, and drawing the Positions tab from a full page.
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
        }),
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

criterion_group!(benches, sealing, money, state_machine, positions_tab);
criterion_main!(benches);
