//! A PostgreSQL outage, on a server of the test's own (never the shared one on 5432): `initdb`
//! and `pg_ctl` in a temporary directory, run as the `postgres` user (the server refuses root),
//! on a free port. It is stopped for 10 s under a writer and a ledger stream.

use crate::own_pg;
use escrowgrid::service::stream::{StreamFilter, StreamItem};
use escrowgrid::service::{NewPosition, Service, ServiceConfig, ServiceError};
use escrowgrid::store::{self, Backend};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_under_a_writer_and_a_stream() {
    let Some(pg) = own_pg::start_or_skip("a_postgres_outage_under_a_writer_and_a_stream") else {
        return;
    };
    let store = store::open(Backend::Postgres, &pg.url(), Duration::from_millis(20))
        .await
        .expect("open the test's own server");
    let svc = Arc::new(Service::new(store.clone(), ServiceConfig::default()));
    let actor = escrowgrid::service::Actor::Local {
        user: "tester".into(),
    };
    let f = crate::common::fixture_on(&svc, &actor).await;

    // The stream, from the head on.
    let head = svc.ledger_head_seq(&actor).await.unwrap();
    let seen = Arc::new(Mutex::new(Vec::<i64>::new()));
    let mut sub = svc.subscribe(&actor, head, StreamFilter::default());
    let seen2 = seen.clone();
    let stream = tokio::spawn(async move {
        while let Some(item) = sub.next().await {
            if let StreamItem::Event(e) = item {
                seen2.lock().unwrap().push(e.seq);
            }
        }
    });

    // The writer: one position every 50 ms, each call timed.
    let log = Arc::new(Mutex::new(
        Vec::<(Instant, Duration, Result<(), String>)>::new(),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (svc, actor, log, stop) = (svc.clone(), actor.clone(), log.clone(), stop.clone());
        let (inst, asset) = (f.institution.clone(), f.asset.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let t0 = Instant::now();
                let r = svc
                    .create_position(
                        &actor,
                        NewPosition {
                            institution_id: Some(inst.clone()),
                            asset_id: asset.clone(),
                            holder_reference: format!("OUTAGE-{n}"),
                            currency: "USD".into(),
                            amount: "100".into(),
                            external_reference: None,
                        },
                    )
                    .await;
                let r = r.map(|_| ()).map_err(|e: ServiceError| e.to_string());
                log.lock().unwrap().push((t0, t0.elapsed(), r));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.stop().unwrap();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    pg.pg_ctl_start().unwrap();
    let up = Instant::now();
    // Writes resume by themselves.
    let back = loop {
        let ok_after = log
            .lock()
            .unwrap()
            .iter()
            .find(|(t0, _, r)| *t0 >= up && r.is_ok())
            .map(|(t0, d, _)| *t0 + *d);
        if let Some(t) = ok_after {
            break t;
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "writes never resumed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();

    let log = log.lock().unwrap().clone();
    let failed: Vec<_> = log.iter().filter(|(_, _, r)| r.is_err()).collect();
    let slowest = log.iter().map(|(_, d, _)| *d).max().unwrap();
    assert!(!failed.is_empty(), "the outage was felt");
    assert!(
        slowest < Duration::from_secs(12),
        "every call returned within a bound: slowest {slowest:?}"
    );
    for (_, _, r) in &failed {
        let e = r.as_ref().unwrap_err();
        assert!(
            e.contains("unavailable"),
            "a failure says the store is unavailable: {e}"
        );
    }
    let reconnect = back.saturating_duration_since(up);
    assert!(
        reconnect < Duration::from_secs(5),
        "a write succeeded {reconnect:?} after the server returned"
    );

    // The stream delivers every event once, in order, through the outage.
    let head = svc.ledger_head_seq(&actor).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().unwrap().last().copied().unwrap_or(0) < head {
        assert!(
            Instant::now() < deadline,
            "the stream caught up with seq {head}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.lock().unwrap().clone();
    let first = seen[0];
    assert_eq!(
        seen,
        (first..=head).collect::<Vec<_>>(),
        "no gap and no duplicate"
    );
    stream.abort();
    let r = svc.check(&actor).await.unwrap();
    assert!(r.ok, "{:#?}", r.findings);
    eprintln!(
        "outage: {} writes, {} refused while down {:?}, slowest call {slowest:?}, writes back {reconnect:?} after the server returned, {} events streamed",
        log.len(),
        failed.len(),
        up - down,
        seen.len()
    );
}
