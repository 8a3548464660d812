//! `escrowgrid serve`, run as a process and called over HTTPS: every status of the error shape,
//! keys checked per request, limits, the operation id in audit records and headers, the live
//! ledger over SSE (resume, revocation, shutdown), probes and metrics read by a Prometheus
//! parser.

use crate::common;
use crate::tls::{ca, leaf};
use rcgen::ExtendedKeyUsagePurpose;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROOT: &str = "root-key-for-the-serve-tests-0123456789";

struct Server {
    child: Child,
    base: String,
    client: reqwest::Client,
    /// The CA the server's certificate is signed by (TLS servers).
    ca_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on a free port: over TLS (a certificate for `localhost` from a CA of the
/// test's own, which the client trusts) unless `plain`; `url` is the store (None: the SQLite
/// file in the data directory).
fn start(url: Option<&str>, plain: bool, env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::escrowgrid(dir.path());
    if let Some(u) = url {
        c.args(["--database-url", u]);
    }
    c.args(["serve", "--listen", "127.0.0.1:0"])
        .env("ESCROWGRID_ROOT_API_KEY", ROOT)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if !plain {
        let authority = ca("serve test CA");
        let (cert, key) = leaf(
            &authority,
            "localhost",
            &["localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (cp, kp) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        std::fs::write(&cp, cert).unwrap();
        std::fs::write(&kp, key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), &authority.pem).unwrap();
        c.env("ESCROWGRID_TLS_CERT", &cp)
            .env("ESCROWGRID_TLS_KEY", &kp);
        client = client.add_root_certificate(
            reqwest::Certificate::from_pem(authority.pem.as_bytes()).unwrap(),
        );
    }
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("serve says where it listens");
    let addr = line
        .strip_prefix("serving on ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    // The certificate names localhost, not 127.0.0.1.
    let base = addr.replace("127.0.0.1", "localhost");
    assert_eq!(base.starts_with("https://"), !plain, "{line}");
    Server {
        child,
        base,
        client: client.build().unwrap(),
        ca_file: dir.path().join("ca.pem"),
        _dir: dir,
    }
}

impl Server {
    fn req(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    /// (status, body, operation id header).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut r = self.req(method, path, key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let op = resp
            .headers()
            .get("x-operation-id")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, op)
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.call(reqwest::Method::GET, path, Some(key), None).await;
        (s, v)
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        let (s, v, _) = self
            .call(reqwest::Method::POST, path, Some(key), Some(body))
            .await;
        (s, v)
    }

    /// An institution with a template, an asset and an admin key: (institution, asset, token).
    async fn fixture(&self) -> (String, String, String) {
        let (s, i) = self
            .post(
                "/v1/institutions",
                ROOT,
                json!({"name": "Harbor Trust", "regions": ["US"], "verticals": ["CONSTRUCTION"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}");
        let inst = i["id"].as_str().unwrap().to_string();
        let (s, t) = self
            .post(
                "/v1/templates",
                ROOT,
                json!({"institutionId": inst, "code": "CONSTR_ESCROW", "name": "Escrow",
                       "vertical": "CONSTRUCTION", "region": "US",
                       "config": {"currency": "USD", "region": "US", "minAmount": "10", "maxAmount": "1000000"}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let (s, a) = self
            .post(
                "/v1/assets",
                ROOT,
                json!({"institutionId": inst, "templateId": t["id"], "label": "Tower"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let (s, k) = self
            .post(
                "/v1/api-keys",
                ROOT,
                json!({"institutionId": inst, "label": "ops", "role": "admin"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{k}");
        (
            inst,
            a["id"].as_str().unwrap().to_string(),
            k["token"].as_str().unwrap().to_string(),
        )
    }

    async fn position(&self, key: &str, asset: &str, amount: &str) -> Value {
        let (s, p) = self
            .post(
                "/v1/positions",
                key,
                json!({"assetId": asset, "holderReference": "HOLDER-1", "currency": "USD", "amount": amount}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        p
    }

    fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }
}

/// The next `ledger` event's data.
async fn next_ledger(r: &mut SseReader) -> Option<Value> {
    loop {
        match r.next(Duration::from_secs(5)).await {
            Some((e, _, d)) if e == "ledger" => return Some(d),
            Some(_) => continue,
            None => return None,
        }
    }
}

/// One Server-Sent Event: (event, id, data).
type Sse = (String, Option<String>, Value);

/// Reads a stream's events as they come.
struct SseReader {
    resp: reqwest::Response,
    buf: String,
}

impl SseReader {
    async fn open(s: &Server, key: &str, path: &str, last_id: Option<i64>) -> SseReader {
        let mut r = s.req(reqwest::Method::GET, path, Some(key));
        if let Some(id) = last_id {
            r = r.header("Last-Event-ID", id.to_string());
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        SseReader {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (heartbeat comments skipped), or None when the stream ended or nothing
    /// came within `within`.
    async fn next(&mut self, within: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::from("message"), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (heartbeat)
                }
                return Some((event, id, serde_json::from_str(&data).unwrap()));
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(c))) => self.buf.push_str(&String::from_utf8_lossy(&c)),
                _ => return None,
            }
        }
    }
}

async fn behaviour(url: Option<&str>) {
    let s = start(url, false, &[]);
    if url.is_some() {
        // PostgreSQL through the server: the schema's status is read there (applying pending
        // migrations stays the schema owner's, on the database's host).
        let dir = tempfile::tempdir().unwrap();
        let cli = |args: &[&str]| {
            common::escrowgrid(dir.path())
                .args([
                    "--server",
                    &s.base,
                    "--ca-cert",
                    &s.ca_file.display().to_string(),
                ])
                .args(["--api-key", ROOT])
                .args(args)
                .output()
                .unwrap()
        };
        let o = cli(&["migrate", "status"]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(out.contains("writes:           allowed"), "{out}");
        // Nothing pending: `apply` says so, as it does in process.
        let o = cli(&["migrate", "apply", "--dry-run"]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("nothing to apply"),
            "{o:?}"
        );
    }

    // Probes answer without a key.
    let (st, v, _) = s.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!((st, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (st, v, _) = s.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["ready"], true, "{v}");

    // /v1 does not: 401 in the CLI's error shape, with the operation id.
    let (st, v, op) = s
        .call(reqwest::Method::GET, "/v1/positions", None, None)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], "UNAUTHENTICATED");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer"),
        "{v}"
    );
    assert!(v["details"].is_object());
    assert!(op.unwrap().starts_with("op_"));
    let (st, v) = s.get("/v1/positions", "ak_0000").await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED"))
    );

    // The chain as the server's background check found it (its first pass runs at start).
    let t0 = Instant::now();
    let chain = loop {
        let (_, v, _) = s.call(reqwest::Method::GET, "/ready", None, None).await;
        if !v["chain"].is_null() {
            break v["chain"].clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "no chain check: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(chain["ok"], true, "{chain}");

    let (inst, asset, admin) = s.fixture().await;

    // Creates by the institution's key; the operation id of the response is its audit record's,
    // which names the client's address.
    let (st, p, op) = s
        .call(
            reqwest::Method::POST,
            "/v1/positions",
            Some(&admin),
            Some(json!({"assetId": asset, "holderReference": "H-9", "currency": "USD", "amount": "2500.00"})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["institutionId"], inst.as_str());
    let op = op.unwrap();
    let (st, audit) = s
        .get("/v1/audit?action=POSITION_CREATED&limit=5", ROOT)
        .await;
    assert_eq!(st, StatusCode::OK, "{audit}");
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["opId"] == op.as_str()
                && r["resourceId"] == p["id"]
                && r["client"] == "127.0.0.1"),
        "no audit record with op id {op} from 127.0.0.1: {audit}"
    );
    s.position(&admin, &asset, "100").await;

    // 400: invalid input names the fields.
    let (st, v) = s
        .post(
            "/v1/positions",
            &admin,
            json!({"assetId": asset, "holderReference": "H", "currency": "USD", "amount": "1.5.5"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["code"], "VALIDATION_FAILED");
    assert_eq!(v["details"]["fields"][0]["field"], "amount", "{v}");
    // …and so does a body that is not the type's.
    let (st, v) = s
        .post(
            "/v1/positions",
            &admin,
            json!({"assetId": asset, "colour": "red"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("colour"), "{v}");

    // 404, for an id and for a route.
    let (st, v) = s
        .get(
            "/v1/positions/pos_0192d7b0-0000-7000-8000-000000000000",
            &admin,
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND")),
        "{v}"
    );
    let (st, v) = s.get("/v1/nothing-here", &admin).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("/v1/nothing-here"),
        "{v}"
    );

    // A position with its lifecycle; a stale version is 409 with the fresh state.
    let id = p["id"].as_str().unwrap();
    let (st, v) = s
        .post(
            &format!("/v1/positions/{id}/transition"),
            &admin,
            json!({"to": "FUNDED", "expectVersion": p["version"]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["position"]["state"], "FUNDED");
    let (st, v) = s
        .post(
            &format!("/v1/positions/{id}/transition"),
            &admin,
            json!({"to": "RELEASED", "expectVersion": p["version"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "CONCURRENCY_CONFLICT");
    assert_eq!(v["details"]["position"]["state"], "FUNDED", "{v}");
    let (st, v) = s
        .post(
            &format!("/v1/positions/{id}/transition"),
            &admin,
            json!({"to": "CREATED"}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("INVALID_TRANSITION")),
        "{v}"
    );
    let (st, d) = s.get(&format!("/v1/positions/{id}"), &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(d["events"].as_array().unwrap().len(), 1, "{d}");

    // Keyset pages, as the CLI's.
    let (st, page) = s.get("/v1/positions?limit=1", &admin).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(page["pagination"]["hasMore"], true, "{page}");
    let after = page["pagination"]["nextAfter"].as_str().unwrap();
    let (_, rest) = s
        .get(&format!("/v1/positions?limit=1&after={after}"), &admin)
        .await;
    assert_eq!(rest["pagination"]["hasMore"], false, "{rest}");
    assert_ne!(rest["data"][0]["id"], page["data"][0]["id"]);
    let (st, v) = s.get("/v1/positions?limit=0", &admin).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = s.get("/v1/positions?state=SLEEPING", &admin).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // 403: a read-only key reads but does not write.
    let (_, k) = s
        .post(
            "/v1/api-keys",
            &admin,
            json!({"label": "auditor", "role": "read_only"}),
        )
        .await;
    let viewer = k["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{k}"))
        .to_string();
    let (st, v) = s
        .post(
            "/v1/positions",
            &viewer,
            json!({"assetId": asset, "holderReference": "H", "currency": "USD", "amount": "50"}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("FORBIDDEN")),
        "{v}"
    );
    let (st, _) = s.get("/v1/positions", &viewer).await;
    assert_eq!(st, StatusCode::OK);
    // Root-only operations refuse an institution's admin.
    let (st, v) = s.get("/v1/check", &admin).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s.get("/v1/check", ROOT).await;
    assert_eq!(st, StatusCode::OK, "{v}");

    // A revoked key is refused on its very next request.
    let (st, v) = s
        .post(
            &format!(
                "/v1/api-keys/{}/revoke",
                k["apiKey"]["id"].as_str().unwrap()
            ),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s.get("/v1/positions", &viewer).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["error"].as_str().unwrap().contains("revoked"), "{v}");

    // 413: a body over the limit, answered (not a broken pipe while the client still writes)
    // and named in the error shape.
    let big = "x".repeat(2 << 20);
    for _ in 0..3 {
        let (st, v) = s.post("/v1/institutions", ROOT, json!({"name": big})).await;
        assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
        assert_eq!(v["code"], "PAYLOAD_TOO_LARGE", "{v}");
        assert!(
            v["error"].as_str().unwrap().contains("at most 1048576"),
            "{v}"
        );
    }

    // The ledger: pages by seq, one event whole, verified.
    let (st, l) = s.get("/v1/ledger?limit=2", ROOT).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(l["data"][0]["seq"], 1);
    assert_eq!(l["pagination"]["nextAfter"], 2, "{l}");
    let (st, e) = s.get("/v1/ledger/1", ROOT).await;
    assert_eq!(
        (st, e["event"]["seq"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{e}"
    );
    let (st, v) = s.get("/v1/ledger/verify", ROOT).await;
    assert_eq!((st, v["ok"].as_bool()), (StatusCode::OK, Some(true)), "{v}");

    // The export streams the store's lines, ending with the trailer.
    let resp = s
        .req(reqwest::Method::GET, "/v1/export", Some(ROOT))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert!(last.to_string().contains("sha256"), "{last}");
    let (st, _) = s.get("/v1/export", &admin).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Metrics: valid Prometheus text with every request answered, by route.
    let text = s
        .req(reqwest::Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text parses");
    // The parser folds a histogram's series into one value: its +Inf bucket is the count.
    let h = scrape
        .samples
        .iter()
        .find(|x| {
            x.metric == "escrowgrid_http_request_duration_seconds"
                && x.labels.get("route") == Some("POST /v1/positions")
        })
        .unwrap_or_else(|| panic!("no request histogram for POST /v1/positions:\n{text}"));
    let prometheus_parse::Value::Histogram(buckets) = &h.value else {
        panic!("not a histogram: {:?}", h.value)
    };
    let all = buckets.iter().find(|c| c.less_than.is_infinite()).unwrap();
    assert!(all.count >= 4.0, "{buckets:?}");
    assert!(
        scrape
            .samples
            .iter()
            .any(|x| x.metric == "escrowgrid_http_request_errors_total"
                && x.labels.get("status") == Some("403")),
        "{text}"
    );
    assert!(
        scrape.samples.iter().any(|x| x.metric == "escrowgrid_up"),
        "{text}"
    );

    // The OpenAPI document lists every route the server answers: each route this test reached
    // (the server's own route templates, from its request metrics) is in it, and each operation
    // in it is answered (not the fallback's "no such route").
    let (st, doc, _) = s
        .call(reqwest::Method::GET, "/v1/openapi.json", None, None)
        .await;
    assert_eq!(st, StatusCode::OK);
    let mut documented = std::collections::BTreeSet::new();
    let mut labelled = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().unwrap().keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
            // As the metrics label it (`:id` for `{id}`).
            labelled.insert(format!(
                "{} {}",
                method.to_uppercase(),
                path.replace('{', ":").replace('}', "")
            ));
        }
    }
    let reached: std::collections::BTreeSet<String> = scrape
        .samples
        .iter()
        .filter(|x| x.metric == "escrowgrid_http_request_duration_seconds")
        .filter_map(|x| x.labels.get("route").map(str::to_string))
        .filter(|r| !r.ends_with(" unmatched"))
        .collect();
    assert!(reached.len() >= 15, "{reached:?}");
    let missing: Vec<_> = reached.difference(&labelled).collect();
    assert!(
        missing.is_empty(),
        "answered but not documented: {missing:?}"
    );
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        if path.ends_with("/stream") {
            continue; // answered above, by the stream test
        }
        let path = path
            .replace("{seq}", "1")
            .replace("{id}", "x_0192d7b0-0000-7000-8000-000000000000");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method != reqwest::Method::GET).then(|| json!({}));
        let (st, v, _) = s.call(method, &path, Some(ROOT), body).await;
        assert!(
            !(st == StatusCode::NOT_FOUND && v.to_string().contains("no such route"))
                && st != StatusCode::METHOD_NOT_ALLOWED,
            "{op} is documented but not answered: {st} {v}"
        );
    }
    assert!(
        doc["components"]["schemas"]["Position"]["properties"]["amount"].is_object(),
        "the types' schemas are in the document: {}",
        doc["components"]["schemas"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_every_caller_by_its_key_sqlite() {
    behaviour(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_every_caller_by_its_key_postgres() {
    let Some(base) = common::postgres_url() else {
        return common::skip_postgres("serve_answers_every_caller_by_its_key");
    };
    let schema = common::new_pg_schema(&base).await;
    behaviour(Some(&schema.url)).await;
}

/// The live ledger: ids are seqs, a reconnect resumes after Last-Event-ID, a revoked key's
/// stream ends within a second, and SIGTERM ends every stream with a final event and the
/// process cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_streams_resumes_and_ends() {
    let s = start(None, false, &[]);
    let (_inst, asset, admin) = s.fixture().await;
    let mut root = SseReader::open(&s, ROOT, "/v1/ledger/stream?after=0", None).await;
    let mut seen = Vec::new();
    while let Some((event, id, data)) = root.next(Duration::from_secs(5)).await {
        if event == "ledger" {
            assert_eq!(id, Some(data["seq"].to_string()));
            seen.push(data["seq"].as_i64().unwrap());
            if seen.len() == 4 {
                break;
            }
        }
    }
    assert_eq!(seen, vec![1, 2, 3, 4], "the fixture's events, in order");

    // The institution's key sees its own events as they commit.
    let mut own = SseReader::open(&s, &admin, "/v1/ledger/stream?after=4", None).await;
    s.position(&admin, &asset, "700").await;
    let e = next_ledger(&mut own).await.expect("the new event");
    assert_eq!(
        (e["seq"].as_i64(), e["kind"].as_str()),
        (Some(5), Some("POSITION_CREATED")),
        "{e}"
    );
    drop(own);

    // A reconnect with Last-Event-ID resumes after it: no gap, no duplicate.
    s.position(&admin, &asset, "800").await;
    let mut again = SseReader::open(&s, &admin, "/v1/ledger/stream", Some(4)).await;
    let a = next_ledger(&mut again).await.unwrap();
    let b = next_ledger(&mut again).await.unwrap();
    assert_eq!((a["seq"].as_i64(), b["seq"].as_i64()), (Some(5), Some(6)));

    // Revoking the key ends its open stream within a second.
    let (_, keys) = s.get("/v1/api-keys", ROOT).await;
    let key_id = keys["data"][0]["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    let (st, _) = s
        .post(&format!("/v1/api-keys/{key_id}/revoke"), ROOT, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let end = loop {
        match again.next(Duration::from_secs(3)).await {
            Some((e, _, d)) if e == "end" => break d,
            Some(_) => continue,
            None => panic!("the revoked key's stream did not end"),
        }
    };
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!(end["code"], "UNAUTHENTICATED", "{end}");

    // SIGTERM: the open stream gets a final event, the process exits 0 within the grace.
    let t0 = Instant::now();
    s.signal(libc::SIGTERM);
    let end = loop {
        match root.next(Duration::from_secs(5)).await {
            Some((e, _, d)) if e == "end" => break d,
            Some(_) => continue,
            None => panic!("the stream did not end with a final event"),
        }
    };
    assert_eq!(end["code"], "SHUTTING_DOWN", "{end}");
    let mut s = s;
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(12), "serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

/// Settings that would expose keys are refused; each key's rate and each address's failed
/// sign-ins are limited with 429 and Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_unsafe_settings_and_limits_callers() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::escrowgrid(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("serve needs a root API key"), "{err}");
    let out = common::escrowgrid(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("ESCROWGRID_ROOT_API_KEY", ROOT)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a loopback address and no TLS"), "{err}");

    let s = start(None, true, &[("ESCROWGRID_RATE_LIMIT_PER_S", "1")]);
    assert!(s.base.starts_with("http://"));
    // A burst of two, then 429 until the bucket refills.
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..4 {
        let r = s
            .req(reqwest::Method::GET, "/v1/institutions", Some(ROOT))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["code"], "RATE_LIMITED", "{v}");
            statuses.push(429);
        } else {
            statuses.push(r.status().as_u16());
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() >= 1));

    // Failed sign-ins from one address: after ten, 429 — even for a good key from there.
    let bad = "ak_".to_string() + &"0".repeat(48);
    let mut codes = Vec::new();
    for _ in 0..12 {
        let r = s
            .req(reqwest::Method::GET, "/v1/positions", Some(&bad))
            .send()
            .await
            .unwrap();
        codes.push(r.status().as_u16());
    }
    assert_eq!(&codes[..10], &[401; 10], "{codes:?}");
    assert_eq!(codes[11], 429, "{codes:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s
        .req(reqwest::Method::GET, "/v1/health", Some(ROOT))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}

/// What differs between two runs of the same commands: ids, times, hashes, durations.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    // Ids: a lower-case prefix, `_`, a UUID.
    while let Some(i) = rest.find('_') {
        let head = &rest[..i];
        let start = head
            .rfind(|c: char| !c.is_ascii_lowercase())
            .map_or(0, |p| p + 1);
        let tail = &rest[i + 1..];
        let uuid_len = tail
            .chars()
            .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
            .count();
        if start < i && uuid_len == 36 {
            out.push_str(&head[..start]);
            out.push_str("<id>");
            rest = &tail[uuid_len..];
        } else {
            out.push_str(&rest[..=i]);
            rest = tail;
        }
    }
    out.push_str(rest);
    let mut o = String::new();
    for word in out.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == ',') {
        let w = word.trim_end_matches(|c: char| c.is_whitespace() || c == '"' || c == ',');
        let sep = &word[w.len()..];
        let is_time =
            w.len() >= 19 && w.as_bytes()[4] == b'-' && w.contains('T') && w.ends_with('Z');
        // A hash, or its first 12 characters (which may all be digits).
        let is_hash = w.len() >= 12 && w.chars().all(|c| c.is_ascii_hexdigit());
        let is_token = w.starts_with("ak_") && w.len() == 51;
        o.push_str(if is_time {
            "<time>"
        } else if is_hash {
            "<hash>"
        } else if is_token {
            "<token>"
        } else {
            w
        });
        o.push_str(sep);
    }
    o
}

/// The CLI through a server (`--server`, `--ca-cert`, no database URL) answers as it does in
/// process: the same output, messages and exit status for each command, on the same data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_through_a_server_answers_as_in_process() {
    let s = start(None, false, &[]);
    let local = tempfile::tempdir().unwrap();
    let here = tempfile::tempdir().unwrap();
    let ca = s.ca_file.display().to_string();
    let through = |args: &[&str]| {
        let mut c = common::escrowgrid(here.path());
        c.args(["--server", &s.base, "--ca-cert", &ca, "--api-key", ROOT]);
        c.args(args).output().unwrap()
    };
    let in_process = |args: &[&str]| {
        let mut c = common::escrowgrid(local.path());
        c.env("ESCROWGRID_ROOT_API_KEY", ROOT)
            .args(["--api-key", ROOT]);
        c.args(args).output().unwrap()
    };
    // Each command both ways; ids come from the first run's JSON and are mapped to the second's.
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut both = |args: Vec<String>| -> (Value, Value) {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let b: Vec<String> = args
            .iter()
            .map(|x| {
                let mut x = x.clone();
                for (from, to) in &ids {
                    x = x.replace(from.as_str(), to);
                }
                x
            })
            .collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let (r, l) = (through(&a), in_process(&b));
        let show = |o: &std::process::Output| {
            format!(
                "exit {:?}\n{}{}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        assert_eq!(
            normalized(&show(&r)),
            normalized(&show(&l)),
            "`{}` differs through the server",
            args.join(" ")
        );
        let json =
            |o: &std::process::Output| serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let (rj, lj) = (json(&r), json(&l));
        if let (Some(x), Some(y)) = (rj["id"].as_str(), lj["id"].as_str()) {
            ids.push((x.to_string(), y.to_string()));
        }
        (rj, lj)
    };
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let (inst, _) = both(v(&[
        "--json",
        "institution",
        "create",
        "--name",
        "Harbor Trust",
        "--region",
        "US",
        "--vertical",
        "CONSTRUCTION",
    ]));
    let inst = inst["id"].as_str().unwrap().to_string();
    let cfg = r#"{"currency":"USD","region":"US","minAmount":"10","maxAmount":"1000000"}"#;
    let (t, _) = both(v(&[
        "--json",
        "template",
        "create",
        "--institution",
        &inst,
        "--code",
        "CONSTR_ESCROW",
        "--name",
        "Escrow",
        "--vertical",
        "CONSTRUCTION",
        "--region",
        "US",
        "--template-config",
        cfg,
    ]));
    let t = t["id"].as_str().unwrap().to_string();
    let (a, _) = both(v(&[
        "--json",
        "asset",
        "create",
        "--institution",
        &inst,
        "--template",
        &t,
        "--label",
        "Tower",
    ]));
    let a = a["id"].as_str().unwrap().to_string();
    let (p, _) = both(v(&[
        "--json",
        "position",
        "create",
        "--institution",
        &inst,
        "--asset",
        &a,
        "--holder",
        "H-1",
        "--currency",
        "USD",
        "--amount",
        "250000.00",
    ]));
    let p = p["id"].as_str().unwrap().to_string();
    both(v(&[
        "position",
        "create",
        "--institution",
        &inst,
        "--asset",
        &a,
        "--holder",
        "H-2",
        "--currency",
        "USD",
        "--amount",
        "1200",
    ]));
    both(v(&["position", "transition", &p, "--to", "FUNDED"]));
    // Refusals: the same one line and exit status.
    both(v(&["position", "transition", &p, "--to", "CREATED"]));
    both(v(&[
        "position",
        "transition",
        &p,
        "--to",
        "RELEASED",
        "--expect-state",
        "CREATED",
    ]));
    both(v(&[
        "position",
        "create",
        "--institution",
        &inst,
        "--asset",
        &a,
        "--holder",
        "H",
        "--currency",
        "USD",
        "--amount",
        "1.5.5",
    ]));
    both(v(&[
        "position",
        "show",
        "pos_0192d7b0-0000-7000-8000-000000000000",
    ]));
    both(v(&[
        "--json",
        "position",
        "show",
        "pos_0192d7b0-0000-7000-8000-000000000000",
    ]));
    // Reads, as tables, JSON and CSV.
    for out in [&[][..], &["--json"], &["-o", "csv"]] {
        let mut args = v(out);
        args.extend(v(&["position", "list", "--limit", "1"]));
        both(args);
    }
    both(v(&["position", "show", &p]));
    both(v(&["--json", "position", "show", &p]));
    both(v(&["institution", "list"]));
    both(v(&["institution", "show", &inst]));
    both(v(&["--json", "institution", "show", &inst]));
    both(v(&["template", "list"]));
    both(v(&["asset", "list", "--institution", &inst]));
    both(v(&[
        "policy",
        "set",
        "--institution",
        &inst,
        "--region",
        "US",
        "--max-amount",
        "500000",
    ]));
    both(v(&["policy", "list"]));
    both(v(&[
        "apikey",
        "create",
        "--institution",
        &inst,
        "--label",
        "ops",
        "--role",
        "admin",
    ]));
    both(v(&["apikey", "list"]));
    both(v(&["ledger", "list"]));
    both(v(&["ledger", "tail", "--last", "3"]));
    both(v(&["audit", "list", "--limit", "5"]));
    both(v(&["check"]));
    both(v(&["migrate", "status"]));
    both(v(&["--json", "migrate", "status"]));

    // `ledger tail --follow` follows the server's stream: a new event arrives as a line.
    let mut follow = common::escrowgrid(here.path())
        .args(["--server", &s.base, "--ca-cert", &ca, "--api-key", ROOT])
        .args(["ledger", "tail", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let o = through(&[
        "--json",
        "position",
        "create",
        "--institution",
        &inst,
        "--asset",
        &a,
        "--holder",
        "H-3",
        "--currency",
        "USD",
        "--amount",
        "75",
    ]);
    assert!(o.status.success(), "{o:?}");
    let created: Value = serde_json::from_slice(&o.stdout).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let e = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("the followed event");
        let e: Value = serde_json::from_str(&line).unwrap();
        if e["entityId"] == created["id"] {
            break e;
        }
    };
    assert_eq!(e["kind"], "POSITION_CREATED");
    unsafe {
        libc::kill(follow.id() as i32, libc::SIGINT);
    }
    let st = follow.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{st:?}");

    // What runs only where the database is says so.
    both(v(&["migrate", "apply"]));
    // A key the server does not know: refused by the server, exit 2.
    let o = common::escrowgrid(here.path())
        .args([
            "--server",
            &s.base,
            "--ca-cert",
            &ca,
            "--api-key",
            "wrong",
            "position",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("invalid API key"),
        "{o:?}"
    );
    // A server that is not there: exit 1, saying which.
    let o = common::escrowgrid(here.path())
        .args([
            "--server",
            "https://localhost:9",
            "--api-key",
            ROOT,
            "position",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the server https://localhost:9"),
        "{o:?}"
    );
    // Keys never cross the network in the clear.
    let o = common::escrowgrid(here.path())
        .args([
            "--server",
            "http://escrow.example:4000",
            "--api-key",
            ROOT,
            "position",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    // The export through the server is the store's whole (to a file, and to standard output);
    // it imports through another server into its empty store, and checks clean there.
    let file = here.path().join("book.jsonl");
    let o = through(&["export", file.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    let o = through(&["export", "-"]);
    assert!(o.status.success(), "{o:?}");
    let piped = String::from_utf8(o.stdout).unwrap();
    let saved = std::fs::read_to_string(&file).unwrap();
    assert_eq!(piped.lines().count(), saved.lines().count());
    assert!(piped.lines().last().unwrap().contains("\"trailer\""));
    let empty = start(None, false, &[]);
    let ca2 = empty.ca_file.display().to_string();
    let on_empty = |args: &[&str]| {
        common::escrowgrid(here.path())
            .args([
                "--server",
                &empty.base,
                "--ca-cert",
                &ca2,
                "--api-key",
                ROOT,
            ])
            .args(args)
            .output()
            .unwrap()
    };
    let o = on_empty(&["import", file.to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("both chains verified"),
        "{o:?}"
    );
    let o = on_empty(&["check"]);
    assert!(o.status.success(), "{o:?}");
    // A second import into the now full store is refused, saying why; so is the demo data set.
    let o = on_empty(&["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("an import needs an empty store"),
        "{o:?}"
    );
    let o = on_empty(&["seed", "--demo", "--positions", "5"]);
    assert_ne!(o.status.code(), Some(0), "a store that is not empty: {o:?}");
    // The demo data set loads through a server into an empty store.
    let other = start(None, false, &[]);
    let o = common::escrowgrid(here.path())
        .args([
            "--server",
            &other.base,
            "--ca-cert",
            &other.ca_file.display().to_string(),
        ])
        .args(["--api-key", ROOT, "seed", "--demo", "--positions", "5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let (st, page) = other.get("/v1/positions", ROOT).await;
    assert_eq!(
        (st, page["data"].as_array().unwrap().len()),
        (StatusCode::OK, 5)
    );
}

/// The console's reads through a server: what the console asks (sorted, backwards and filtered
/// position pages, counts, summaries, verified slices, ledger and audit filters) is answered as
/// the in-process service answers it over the same store, and a console signed in through the
/// server loads its tabs from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_through_a_server_reads_what_it_reads_in_process() {
    use escrowgrid::service::api::Api;
    use escrowgrid::service::{
        AuditQuery, LedgerQuery, PositionCursor, PositionFilter, PositionQuery, PositionSortKey,
        Service, ServiceConfig,
    };
    let book = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", book.path().join("book.db").display());
    let o = common::escrowgrid(book.path())
        .args([
            "--database-url",
            &url,
            "seed",
            "--demo",
            "--positions",
            "80",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let s = start(Some(&url), false, &[("ESCROWGRID_RATE_LIMIT_PER_S", "0")]);
    let remote: Arc<dyn Api> =
        Arc::new(escrowgrid::client::Remote::new(&s.base, Some(&s.ca_file), None).unwrap());
    let root = remote.authenticate(Some(ROOT)).await.unwrap();
    assert_eq!(root, escrowgrid::service::Actor::Root);
    let here = Service::new(
        escrowgrid::store::open(
            escrowgrid::store::Backend::Sqlite,
            &url,
            Duration::from_millis(50),
        )
        .await
        .unwrap(),
        ServiceConfig::default(),
    );
    let local = escrowgrid::service::Actor::Local { user: "t".into() };
    let ids =
        |v: &[escrowgrid::domain::Position]| v.iter().map(|p| p.id.clone()).collect::<Vec<_>>();

    for (sort, descending, backwards, state) in [
        (PositionSortKey::Amount, true, false, None),
        (PositionSortKey::Holder, false, true, None),
        (
            PositionSortKey::State,
            false,
            false,
            Some(escrowgrid::domain::PositionState::Funded),
        ),
        (PositionSortKey::Updated, true, true, None),
    ] {
        let q = |cursor: Option<PositionCursor>| PositionQuery {
            filter: PositionFilter {
                state,
                ..Default::default()
            },
            sort,
            descending,
            backwards,
            cursor,
            limit: 7,
        };
        let a = remote.list_positions(&root, q(None)).await.unwrap();
        let b = here.list_positions(&local, q(None)).await.unwrap();
        assert_eq!(ids(&a), ids(&b), "{sort:?} first page");
        assert!(!a.is_empty());
        let c = Some(PositionCursor::of(sort, &a[0]));
        let a2 = remote.list_positions(&root, q(c.clone())).await.unwrap();
        let b2 = here.list_positions(&local, q(c)).await.unwrap();
        assert_eq!(ids(&a2), ids(&b2), "{sort:?} from a cursor");
        let f = PositionFilter {
            state,
            ..Default::default()
        };
        assert_eq!(
            remote.count_positions(&root, f.clone()).await.unwrap(),
            here.count_positions(&local, f).await.unwrap()
        );
    }
    let inst = here
        .list_institutions(&local, escrowgrid::service::Page::first(1))
        .await
        .unwrap();
    let (a, b) = (
        remote
            .institution_summary(&root, &inst[0].id)
            .await
            .unwrap(),
        here.institution_summary(&local, &inst[0].id).await.unwrap(),
    );
    assert_eq!(
        (a.templates, a.assets, a.positions),
        (b.templates, b.assets, b.positions)
    );
    let (a, b) = (
        remote.verify_slice(&root, None, Some(25)).await.unwrap(),
        here.verify_slice(&local, None, Some(25)).await.unwrap(),
    );
    assert_eq!(
        (a.ok, a.partial, a.head_seq, a.checked),
        (b.ok, b.partial, b.head_seq, b.checked)
    );
    let from = Some((a.head_seq, a.head_hash.clone()));
    let (a, b) = (
        remote.verify_from(&root, from.clone()).await.unwrap(),
        here.verify_from(&local, from).await.unwrap(),
    );
    assert_eq!(
        (a.ok, a.from_seq, a.head_seq),
        (b.ok, b.from_seq, b.head_seq)
    );
    let lq = || LedgerQuery {
        text: Some("funded".into()),
        since: Some(escrowgrid::domain::time::parse("2000-01-01T00:00:00Z").unwrap()),
        limit: 20,
        ..Default::default()
    };
    let (a, b) = (
        remote.ledger(&root, lq()).await.unwrap(),
        here.ledger(&local, lq()).await.unwrap(),
    );
    assert_eq!(
        a.iter().map(|e| e.seq).collect::<Vec<_>>(),
        b.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    assert!(!a.is_empty());
    let aq = || AuditQuery {
        oldest_first: true,
        limit: 10,
        ..Default::default()
    };
    let (a, b) = (
        remote.audit(&root, aq()).await.unwrap(),
        here.audit(&local, aq()).await.unwrap(),
    );
    assert_eq!(
        a.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        b.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );

    // A console signed in through the server loads its tabs from it.
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let exec = escrowgrid::tui::exec::Executor::new(remote.clone(), root.clone(), tx);
    let session = escrowgrid::tui::app::Session {
        backend: "server".into(),
        target: remote.target(),
        ..escrowgrid::tui::app::Session::of(&root, false)
    };
    let mut app = escrowgrid::tui::app::App::new(
        session,
        escrowgrid::tui::keymap::KeyMap::default(),
        escrowgrid::tui::theme::Theme::default(),
    );
    app.update(escrowgrid::tui::app::Msg::Resize(160, 48));
    app.start();
    escrowgrid::tui::exec::settle(&mut app, &exec).await;
    assert_eq!(app.positions().total, Some(80));
    assert!(!app.positions().rows.is_empty());
    app.update(escrowgrid::tui::app::Msg::Key(
        crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('5'),
            crossterm::event::KeyModifiers::NONE,
        ),
    ));
    escrowgrid::tui::exec::settle(&mut app, &exec).await;
    let screen = crate::tui::render_to_string(&app, 160, 48);
    assert!(
        screen.contains("sqlite"),
        "the Health tab shows the server's store:\n{screen}"
    );
    assert!(
        screen.contains(&format!("{} ready", remote.target())),
        "the Health tab shows the server's readiness:\n{screen}"
    );
}

/// The store going away under a running server: requests are `503` with `Retry-After` in the
/// error shape, `/ready` is `503` naming the reason while `/health` still answers, and both
/// recover when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_is_503_and_not_ready_until_it_is_back() {
    let Some(pg) = crate::own_pg::start_or_skip("a_store_outage_is_503_and_not_ready") else {
        return;
    };
    let url = format!("{}?connect_timeout=2", pg.url());
    let s = start(
        Some(&url),
        true,
        &[
            ("ESCROWGRID_PG_ACQUIRE_TIMEOUT_MS", "1000"),
            ("ESCROWGRID_PG_CONNECT_TIMEOUT_MS", "1000"),
            ("ESCROWGRID_STATEMENT_TIMEOUT_MS", "2000"),
        ],
    );
    let (st, _) = s.get("/v1/positions", ROOT).await;
    assert_eq!(st, StatusCode::OK);
    pg.stop().unwrap();
    let resp = s
        .req(reqwest::Method::GET, "/v1/positions", Some(ROOT))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], "STORE_UNAVAILABLE", "{v}");
    let (st, v, _) = s.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["ready"], false);
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap()
            .contains("store unreachable"),
        "{v}"
    );
    let (st, _, _) = s.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(st, StatusCode::OK, "liveness does not depend on the store");
    pg.pg_ctl_start().unwrap();
    let t0 = Instant::now();
    loop {
        let (st, _, _) = s.call(reqwest::Method::GET, "/ready", None, None).await;
        if st == StatusCode::OK {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (st, _) = s.get("/v1/positions", ROOT).await;
    assert_eq!(st, StatusCode::OK);
}

/// SIGTERM while a request is in flight: the server takes no new connection, lets the request
/// finish within the grace (here an import whose body is still arriving), and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_in_flight_finish() {
    // A book to import: the demo data set, exported from a store of this test.
    let book = tempfile::tempdir().unwrap();
    let o = common::escrowgrid(book.path())
        .args(["seed", "--demo", "--positions", "20"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let file = book.path().join("book.jsonl");
    let o = common::escrowgrid(book.path())
        .args(["export", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let bytes = std::fs::read(&file).unwrap();

    let s = start(None, true, &[]);
    // The body arrives in ten pieces over about two seconds.
    let pieces: Vec<Vec<u8>> = bytes
        .chunks(bytes.len().div_ceil(10))
        .map(|c| c.to_vec())
        .collect();
    let body = futures::stream::unfold(pieces.into_iter(), |mut it| async move {
        let next = it.next()?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Some((Ok::<_, std::io::Error>(next), it))
    });
    let request = s
        .req(reqwest::Method::POST, "/v1/import", Some(ROOT))
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No new connection is taken (a fresh client, so no pooled connection is reused).
    let fresh = reqwest::Client::new();
    assert!(
        fresh
            .get(format!("{}/health", s.base))
            .send()
            .await
            .is_err(),
        "a new connection was served after SIGTERM"
    );
    let resp = in_flight
        .await
        .unwrap()
        .expect("the request in flight was answered");
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.unwrap();
    assert!(v["ledgerEvents"].as_u64().unwrap() > 20, "{v}");
    let mut s = s;
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(12), "serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
