//! Access that ends when it should: a key's sessions and streams stop when the key is revoked,
//! removed or rewritten — in this process, in another process on the same database, and through
//! the CLI.

use crate::common::{self, Harness};
use escrowgrid::domain::Outcome;
use escrowgrid::service::stream::{StreamFilter, StreamItem};
use escrowgrid::service::{AuditQuery, ServiceError};
use escrowgrid::service::{ServiceResult, TransitionRequest};
use escrowgrid::store::Backend;
use std::time::{Duration, Instant};

/// The bound within which a revocation made elsewhere reaches a session and its streams.
const WITHIN: Duration = Duration::from_secs(1);

fn to(state: &str) -> TransitionRequest {
    TransitionRequest {
        to: state.into(),
        ..Default::default()
    }
}

fn ended<T: std::fmt::Debug>(r: &ServiceResult<T>) -> Option<String> {
    match r {
        Err(ServiceError::Unauthenticated(m)) => Some(m.clone()),
        _ => None,
    }
}

/// The failure records in the audit trail (of `action`, or all), newest first.
async fn failures(h: &Harness, action: Option<&str>) -> Vec<escrowgrid::domain::audit::AuditEvent> {
    h.svc
        .audit(
            &h.actor,
            AuditQuery {
                outcome: Some(Outcome::Failure),
                action: action.map(Into::into),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// Waits (polling) until `op` is refused as an ended session; returns the message and how long
/// after `t0` it came. Panics after `WITHIN` and a margin.
async fn refused_within<T: std::fmt::Debug, F, Fut>(t0: Instant, op: F) -> (String, Duration)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ServiceResult<T>>,
{
    loop {
        let r = op().await;
        if let Some(m) = ended(&r) {
            return (m, t0.elapsed());
        }
        assert!(
            t0.elapsed() < WITHIN * 3,
            "still admitted {:?} after the key was revoked: {r:?}",
            t0.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stream's end, and how long after `t0` it came.
async fn stream_end(
    sub: &mut escrowgrid::service::stream::Subscription,
    t0: Instant,
) -> (ServiceError, Duration) {
    loop {
        match tokio::time::timeout(WITHIN * 3, sub.next()).await {
            Ok(Some(StreamItem::Ended(e))) => return (e, t0.elapsed()),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream closed without saying why"),
            Err(_) => panic!("the stream of a revoked key is still open"),
        }
    }
}

async fn a_key_revoked_elsewhere_stops_its_sessions_and_streams(h: &Harness) {
    let f = h.fixture().await;
    let (key, actor) = h.key(&f.institution, "admin").await;
    let p = h.position(&f, "H-1", "100").await;
    let mut sub = h.svc.subscribe(&actor, 0, StreamFilter::default());
    h.svc
        .transition_position(&actor, &p.id, to("FUNDED"))
        .await
        .expect("the key works before it is revoked");

    let other = h.other_process().await;
    other
        .revoke_api_key(&h.actor, &key.api_key.id)
        .await
        .unwrap();
    let t0 = Instant::now();
    let (why, read_after) = refused_within(t0, || h.svc.get_position(&actor, &p.id)).await;
    assert!(
        why.contains("revoked") && why.contains("this session has ended"),
        "{why}"
    );
    assert!(read_after < WITHIN, "refused only after {read_after:?}");
    let write = h
        .svc
        .transition_position(&actor, &p.id, to("RELEASED"))
        .await;
    assert!(ended(&write).is_some(), "{write:?}");
    let (e, stream_after) = stream_end(&mut sub, t0).await;
    assert!(e.to_string().contains("revoked"), "{e}");
    assert!(
        stream_after < WITHIN,
        "the stream ended only after {stream_after:?}"
    );

    // Nothing was done with the key after its revocation, and the refusals are on record.
    let now = h.svc.get_position(&h.actor, &p.id).await.unwrap();
    assert_eq!(now.state.as_str(), "FUNDED");
    let audit = failures(h, Some("AUTH_FAILED")).await;
    assert!(
        audit
            .iter()
            .any(|a| a.api_key_id.as_deref() == Some(&key.api_key.id)),
        "the refused operations are audited: {audit:?}"
    );
}

async fn a_key_revoked_in_this_process_stops_at_once(h: &Harness) {
    let f = h.fixture().await;
    let (key, actor) = h.key(&f.institution, "admin").await;
    // Its own key: the next operation is refused, with no wait for a recheck.
    assert!(h.svc.counts(&actor).await.is_ok());
    h.svc.revoke_api_key(&actor, &key.api_key.id).await.unwrap();
    let r = h.svc.counts(&actor).await;
    assert!(ended(&r).is_some(), "{r:?}");
    // Root and the local operator have no key to lose.
    assert!(h.svc.counts(&h.actor).await.is_ok());
}

/// A get is checked, counted and audited the same on every store — also where the store answers
/// it at once (the in-memory store's reads skip the awaited path): another institution's
/// position is refused with one failure record, a missing one is not found, and every call
/// shows in the operation figures, each refusal under its code.
async fn a_get_is_checked_counted_and_audited_alike(h: &Harness) {
    let mine = h.fixture().await;
    let theirs = h.fixture().await;
    let own = h.position(&mine, "H-1", "100").await;
    let other = h.position(&theirs, "H-2", "100").await;
    let (_, actor) = h.key(&mine.institution, "read_only").await;
    let figures = || {
        h.svc
            .metrics()
            .figures()
            .into_iter()
            .find(|f| f.name == "get_position")
            .map(|f| (f.count, f.errors))
            .unwrap_or_default()
    };
    let refusals = || async { failures(h, Some("POSITION_READ")).await.len() };
    let (count0, errors0) = figures();
    let refused0 = refusals().await;
    for _ in 0..3 {
        let p = h.svc.get_position(&actor, &own.id).await.unwrap();
        assert_eq!(p, own);
    }
    let r = h.svc.get_position(&actor, &other.id).await;
    assert!(matches!(r, Err(ServiceError::Forbidden { .. })), "{r:?}");
    let missing = "pos_01900000-0000-7000-8000-000000000000";
    let r = h.svc.get_position(&actor, missing).await;
    assert!(matches!(r, Err(ServiceError::NotFound { .. })), "{r:?}");
    assert_eq!(refusals().await, refused0 + 1, "one record of the refusal");
    let (count, errors) = figures();
    assert_eq!(count, count0 + 5, "every get counted");
    let more = |code: &str| {
        errors.get(code).copied().unwrap_or(0) - errors0.get(code).copied().unwrap_or(0)
    };
    assert_eq!((more("FORBIDDEN"), more("NOT_FOUND")), (1, 1), "{errors:?}");
}

for_all_backends!(
    a_get_is_checked_counted_and_audited_alike,
    a_key_revoked_elsewhere_stops_its_sessions_and_streams,
    a_key_revoked_in_this_process_stops_at_once,
    one_refusal_one_record_and_no_token_kept,
    invisible_characters_are_refused_in_names,
);

/// A key whose stored hash is rewritten (the hijack of another's key) ends the sessions that
/// signed in with the real token: the store no longer holds what they signed in with.
async fn a_rewritten_key_hash_ends_its_sessions(backend: Backend) {
    let Some(h) = Harness::new(backend).await else {
        return common::skip_postgres("a_rewritten_key_hash_ends_its_sessions");
    };
    let f = h.fixture().await;
    let (key, actor) = h.key(&f.institution, "admin").await;
    assert!(h.svc.counts(&actor).await.is_ok());
    let forged =
        escrowgrid::domain::apikey::hash_token(&escrowgrid::domain::apikey::generate_token());
    common::sql_exec(
        &h,
        &format!(
            "UPDATE api_keys SET key_hash = '{forged}' WHERE id = '{}'",
            key.api_key.id
        ),
    )
    .await;
    let t0 = Instant::now();
    let (why, after) = refused_within(t0, || h.svc.counts(&actor)).await;
    assert!(why.contains("changed in the store"), "{why}");
    assert!(after < WITHIN, "{after:?}");
}

/// `ledger tail --follow` with a key that another process revokes ends within a second, exit 2,
/// saying why.
#[test]
fn a_following_tail_ends_when_its_key_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let data = dir.path().join("data");
    let run = |args: &[&str], key: &str| {
        let mut c = common::escrowgrid(&data);
        c.env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .arg("--database-url")
            .arg(&url)
            .arg("--api-key")
            .arg(key)
            .args(args);
        c
    };
    let json = |args: &[&str]| {
        let out = run(args, "s3cret-root").arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    json(&["seed", "--demo", "--positions", "5"]);
    let inst = json(&["institution", "list"])["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = json(&[
        "apikey",
        "create",
        "--institution",
        &inst,
        "--label",
        "tail",
        "--role",
        "read_only",
    ]);
    let (token, id) = (
        key["token"].as_str().unwrap().to_string(),
        key["apiKey"]["id"].as_str().unwrap().to_string(),
    );
    let mut tail = run(&["ledger", "tail", "--follow"], &token)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(tail.try_wait().unwrap().is_none(), "the tail follows");
    json(&["apikey", "revoke", &id]);
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = tail.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(5) {
            let _ = tail.kill();
            panic!("the tail of a revoked key is still running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(tail.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("revoked") && err.contains("session has ended"),
        "{err}"
    );
    // The second process notices on its own (the recheck), so allow for process start-up.
    assert!(took < Duration::from_secs(2), "ended after {took:?}");
}

/// A refused transition leaves exactly one audit record (not a read record as well); a failed
/// sign-in keeps nothing of the token it was given.
async fn one_refusal_one_record_and_no_token_kept(h: &Harness) {
    let mine = h.fixture().await;
    let theirs = h.fixture().await;
    let p = h.position(&theirs, "H-1", "100").await;
    let (_, actor) = h.key(&mine.institution, "admin").await;
    let failures = || failures(h, None);
    let before = failures().await.len();
    // Another institution's position, and a move the state machine refuses.
    let r = h.svc.transition_position(&actor, &p.id, to("FUNDED")).await;
    assert!(matches!(r, Err(ServiceError::Forbidden { .. })), "{r:?}");
    let after = failures().await;
    assert_eq!(
        after.len(),
        before + 1,
        "{:#?}",
        &after[..after.len() - before]
    );
    assert_eq!(after[0].action, "POSITION_TRANSITIONED");
    let r = h
        .svc
        .transition_position(&h.actor, &p.id, to("RELEASED"))
        .await;
    assert!(
        matches!(r, Err(ServiceError::InvalidTransition { .. })),
        "{r:?}"
    );
    assert_eq!(failures().await.len(), before + 2);

    // A wrong token of the right shape: refused, and not a character of it kept.
    let wrong = escrowgrid::domain::apikey::generate_token();
    assert!(h.svc.authenticate(Some(&wrong)).await.is_err());
    let rec = failures().await.remove(0);
    assert_eq!(rec.action, "AUTH_FAILED");
    let text = serde_json::to_string(&rec).unwrap();
    assert!(
        !text.contains(&wrong[..11]) && !text.contains(&wrong[3..11]),
        "{text}"
    );
    assert_eq!(rec.actor, "unknown key");
}

/// Invisible and direction characters are refused in every name a write takes, as control
/// characters are.
async fn invisible_characters_are_refused_in_names(h: &Harness) {
    use escrowgrid::service::NewInstitution;
    let f = h.fixture().await;
    for c in [
        '\u{200E}', '\u{061C}', '\u{2028}', '\u{00AD}', '\u{FEFF}', '\u{200B}',
    ] {
        let name = format!("Harbor{c} Trust");
        let e = h
            .svc
            .create_institution(
                &h.actor,
                NewInstitution {
                    name,
                    regions: vec!["US".into()],
                    verticals: vec![],
                },
            )
            .await
            .unwrap_err();
        assert!(
            e.field_errors().iter().any(|x| x.field == "name"),
            "U+{:04X}: {e}",
            c as u32
        );
        let e = h
            .position_result(&f, &format!("ACME{c}"), "100")
            .await
            .unwrap_err();
        assert!(
            e.field_errors()
                .iter()
                .any(|x| x.field == "holderReference"),
            "U+{:04X}: {e}",
            c as u32
        );
    }
}

for_sql_backends!(a_rewritten_key_hash_ends_its_sessions,);
