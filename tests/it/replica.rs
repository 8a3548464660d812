//! A streaming read replica, on a primary and a replica of the test's own (`initdb`,
//! `pg_basebackup -R`, `pg_ctl`, on free ports): reads come from the replica, a process reads its
//! own writes at once, a paused or lagging replica is stepped around within the bound, and a
//! stopped one leaves everything working on the primary.

use crate::own_pg;
use escrowgrid::service::{Actor, NewInstitution, Service, ServiceConfig};
use escrowgrid::store::replica::{ReplicaSettings, ReplicaStatus};
use escrowgrid::store::{self, Backend, Options, PgSettings};
use std::time::{Duration, Instant};

fn actor() -> Actor {
    Actor::Local {
        user: "tester".into(),
    }
}

fn institution(name: &str) -> NewInstitution {
    NewInstitution {
        name: name.into(),
        regions: vec!["US".into()],
        verticals: vec![],
    }
}

async fn names(svc: &Service) -> Vec<String> {
    svc.list_institutions(&actor(), Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect()
}

async fn on(url: &str, sql: &str) -> Vec<(String,)> {
    let opts = store::postgres::connect_options(url).unwrap();
    let mut c = sqlx::ConnectOptions::connect(&opts).await.unwrap();
    sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_all(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn replica_status(svc: &Service) -> ReplicaStatus {
    svc.health(&actor())
        .await
        .replica
        .expect("a replica is configured")
}

/// Waits (up to 15 s) until the replica's state satisfies `ok`.
async fn until(svc: &Service, what: &str, ok: impl Fn(&ReplicaStatus) -> bool) -> ReplicaStatus {
    let t0 = Instant::now();
    loop {
        let s = replica_status(svc).await;
        if ok(&s) {
            return s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "never {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_replica_serves_reads_and_steps_aside_when_it_cannot() {
    let Some(primary) =
        own_pg::start_or_skip("a_read_replica_serves_reads_and_steps_aside_when_it_cannot")
    else {
        return;
    };
    let replica = primary.replica().expect("start a streaming replica");
    let max_lag = Duration::from_secs(2);
    let opts = Options {
        pg: PgSettings {
            statement_timeout: Duration::from_secs(5),
            replica: Some(ReplicaSettings {
                url: replica.url(),
                max_lag,
                wait: Duration::from_millis(300),
            }),
            ..PgSettings::default()
        },
        ..Options::default()
    };
    let svc = Service::new(
        store::open_with(Backend::Postgres, &primary.url(), &opts)
            .await
            .expect("open with a replica"),
        ServiceConfig::default(),
    );
    // Another process's writes: a store of its own, without the replica.
    let other = Service::new(
        store::open(Backend::Postgres, &primary.url(), Duration::from_millis(20))
            .await
            .unwrap(),
        ServiceConfig::default(),
    );
    let a = actor();
    until(&svc, "streaming", |s| s.state == "streaming" && s.in_use).await;

    // Read your writes: each write is seen by the very next read.
    for n in 0..20 {
        let i = svc
            .create_institution(&a, institution(&format!("Own {n}")))
            .await
            .unwrap();
        assert_eq!(svc.get_institution(&a, &i.id).await.unwrap().name, i.name);
        assert!(
            names(&svc).await.contains(&i.name),
            "write {n} not read back"
        );
    }
    let s = replica_status(&svc).await;
    assert!(
        s.replica_reads >= 20,
        "reads did not use the replica: {s:?}"
    );
    // The replica's own view of who reads from it.
    let readers = on(
        &replica.url(),
        "SELECT application_name FROM pg_stat_activity WHERE application_name = 'escrowgrid-replica'",
    )
    .await;
    assert!(
        !readers.is_empty(),
        "no escrowgrid connection on the replica"
    );

    // Replay paused: a fresh write of another process is not on the replica, and reads that
    // still go there (the replica is within its bound) do not see it — they come from it.
    other
        .create_institution(&a, institution("Fresh"))
        .await
        .unwrap();
    until(&svc, "replayed the fresh write", |s| s.lag_bytes == Some(0)).await;
    on(&replica.url(), "SELECT pg_wal_replay_pause()::text").await;
    let paused_at = Instant::now();
    other
        .create_institution(&a, institution("Unreplayed"))
        .await
        .unwrap();
    let seen = names(&svc).await;
    if paused_at.elapsed() < max_lag {
        assert!(
            !seen.contains(&"Unreplayed".to_string()),
            "read within the bound came from the primary"
        );
    }
    // Past the bound, reads go to the primary, and the state says why.
    let s = until(&svc, "stepped aside", |s| !s.in_use).await;
    assert_eq!(s.state, "paused");
    assert!(s.lag_bytes.unwrap() > 0, "{s:?}");
    assert!(
        s.lag_seconds.unwrap() * 1000.0 > max_lag.as_millis() as f64,
        "{s:?}"
    );
    assert!(names(&svc).await.contains(&"Unreplayed".to_string()));
    assert!(paused_at.elapsed() < max_lag + Duration::from_secs(3));

    // A write of this process while replay is paused is read back at once (from the primary,
    // after waiting its bound for the replica).
    let mine = svc
        .create_institution(&a, institution("Mine while paused"))
        .await
        .unwrap();
    assert_eq!(
        svc.get_institution(&a, &mine.id).await.unwrap().name,
        mine.name
    );

    // Replay resumed: the replica catches up and serves reads again.
    on(&replica.url(), "SELECT pg_wal_replay_resume()::text").await;
    let before = until(&svc, "streaming again", |s| {
        s.in_use && s.state == "streaming"
    })
    .await
    .replica_reads;
    assert!(names(&svc).await.contains(&"Mine while paused".to_string()));
    assert!(replica_status(&svc).await.replica_reads > before);

    // The replica stopped: everything keeps working on the primary.
    replica.stop().unwrap();
    let i = svc
        .create_institution(&a, institution("After the replica"))
        .await
        .unwrap();
    assert_eq!(svc.get_institution(&a, &i.id).await.unwrap().name, i.name);
    assert!(names(&svc).await.contains(&i.name));
    let s = until(&svc, "down", |s| s.state == "down").await;
    assert!(!s.in_use && s.error.is_some(), "{s:?}");
    assert!(svc.verify_ledger(&a).await.unwrap().ok);
}
