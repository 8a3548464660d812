//! Test harness: a fresh store of each backend per test. PostgreSQL tests need
//! ESCROWGRID_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test); each test gets
//! its own schema, dropped afterwards, so tests run in parallel without seeing each other's rows.
#![allow(dead_code)]

use escrowgrid::service::{
    Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, Service, ServiceConfig,
};
use escrowgrid::store::{self, Backend, SharedStore};
use serde_json::json;
use std::time::Duration;

pub const PG_ENV: &str = "ESCROWGRID_TEST_DATABASE_URL";

pub struct Harness {
    pub store: SharedStore,
    pub svc: Service,
    /// The service as the suite's calls reach it: this process's (`svc`), or, for the suites
    /// run both ways, a client of `escrowgrid serve`'s routes over the same store.
    pub api: std::sync::Arc<dyn escrowgrid::service::api::Api>,
    pub actor: Actor,
    /// The URL a second process would use to reach the same data.
    pub url: String,
    _guard: Guard,
}

enum Guard {
    None,
    Dir(tempfile::TempDir),
    Schema(PgSchema),
}

/// A PostgreSQL schema of one test; dropped (with everything in it) when this is dropped.
pub struct PgSchema {
    pub base: String,
    pub schema: String,
    /// The base URL with search_path set to the schema.
    pub url: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (base, schema) = (self.base.clone(), self.schema.clone());
        // Drop runs outside any runtime we can block on: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(opts) = store::postgres::connect_options(&base)
                    && let Ok(mut c) = sqlx::ConnectOptions::connect(&opts).await
                {
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::Executor::execute(&mut c, sqlx::AssertSqlSafe(sql)).await;
                }
            });
        })
        .join();
    }
}

/// The built binary in a clean environment: none of the caller's store, key or log settings, and
/// its data and config directories under `data`.
pub fn escrowgrid(data: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_escrowgrid"));
    for k in [
        "ESCROWGRID_STORE",
        "ESCROWGRID_DATABASE_URL",
        "STORE_BACKEND",
        "DATABASE_URL",
        "ESCROWGRID_API_KEY",
        "ESCROWGRID_ROOT_API_KEY",
        "ROOT_API_KEY",
        "ESCROWGRID_LOG_LEVEL",
        "ESCROWGRID_LOG_FORMAT",
        "ESCROWGRID_LOG",
        "ESCROWGRID_LOG_DIR",
        "ESCROWGRID_LOG_TARGET",
        "RUST_LOG",
        "ESCROWGRID_STATEMENT_TIMEOUT_MS",
        "ESCROWGRID_LISTEN",
        "PORT",
        "ESCROWGRID_TLS_CERT",
        "ESCROWGRID_TLS_KEY",
        "ESCROWGRID_RATE_LIMIT_PER_S",
    ] {
        c.env_remove(k);
    }
    c.env("ESCROWGRID_DATA_DIR", data)
        .env("ESCROWGRID_CONFIG_DIR", data.join("cfg"));
    c
}

pub fn postgres_url() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|v| !v.is_empty())
}

pub fn skip_postgres(test: &str) {
    eprintln!(
        "SKIPPED {test} on postgres: set {PG_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
    );
}

/// A URL for `base` whose search_path is `schema`.
pub fn with_schema(base: &str, schema: &str) -> String {
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options[search_path]={schema}")
}

/// Creates a fresh schema.
pub async fn new_pg_schema(base: &str) -> PgSchema {
    let schema = format!("eg_{}", uuid::Uuid::now_v7().simple());
    let opts = store::postgres::connect_options(base).expect("valid test URL");
    let mut c = sqlx::ConnectOptions::connect(&opts)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::Executor::execute(
        &mut c,
        sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")),
    )
    .await
    .expect("create schema");
    let url = with_schema(base, &schema);
    PgSchema {
        base: base.to_string(),
        schema,
        url,
    }
}

impl Harness {
    pub async fn new(backend: Backend) -> Option<Harness> {
        let (store, url, guard) = match backend {
            Backend::Memory => (
                store::open(Backend::Memory, "", Duration::from_millis(50))
                    .await
                    .unwrap(),
                String::new(),
                Guard::None,
            ),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                let s = store::open(Backend::Sqlite, &url, Duration::from_millis(20))
                    .await
                    .unwrap();
                (s, url, Guard::Dir(dir))
            }
            Backend::Postgres => {
                let base = postgres_url()?;
                let schema = new_pg_schema(&base).await;
                let url = schema.url.clone();
                let s = store::open(Backend::Postgres, &url, Duration::from_millis(20))
                    .await
                    .expect("open the PostgreSQL store");
                (s, url, Guard::Schema(schema))
            }
        };
        let svc = Service::new(store.clone(), ServiceConfig::default());
        Some(Harness {
            api: std::sync::Arc::new(Service::new(store.clone(), ServiceConfig::default())),
            store,
            svc,
            actor: Actor::Local {
                user: "tester".into(),
            },
            url,
            _guard: guard,
        })
    }

    /// The same store reached through the HTTP API: a server (the routes of `escrowgrid
    /// serve`, plain HTTP on loopback, in this process) over it, and a client signed in as root.
    pub async fn through_http(mut self) -> Self {
        const ROOT: &str = "root-key-of-the-suite-through-http";
        let server = std::sync::Arc::new(Service::new(
            self.store.clone(),
            ServiceConfig {
                root_api_key: Some(ROOT.into()),
                ..Default::default()
            },
        ));
        let cfg = escrowgrid::config::ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            rate_limit_per_s: 0,
            ..Default::default()
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let r = escrowgrid::server::serve(server, cfg, std::future::pending(), |addr| {
                let _ = tx.send(addr);
            })
            .await;
            if let Err(e) = r {
                panic!("the suite's server stopped: {e}");
            }
        });
        let addr = rx.await.expect("the suite's server listens");
        let remote =
            escrowgrid::client::Remote::new(&format!("http://{addr}"), None, Some(ROOT.into()))
                .unwrap();
        self.actor = escrowgrid::service::api::Api::authenticate(&remote, None)
            .await
            .unwrap();
        self.api = std::sync::Arc::new(remote);
        self
    }

    /// A service over the same data as another process would have it: its own store
    /// connection (SQL backends) and its own caches.
    pub async fn other_process(&self) -> Service {
        let store = match self.store.backend() {
            Backend::Memory => self.store.clone(),
            b => store::open(b, &self.url, Duration::from_millis(20))
                .await
                .unwrap(),
        };
        Service::new(store, ServiceConfig::default())
    }

    /// A second service over the same store with other settings.
    pub fn service_with(&self, config: ServiceConfig) -> Service {
        Service::new(self.store.clone(), config)
    }

    /// A new API key of `institution` with `role`, and the actor its token signs in as.
    pub async fn key(
        &self,
        institution: &str,
        role: &str,
    ) -> (escrowgrid::service::CreatedKey, Actor) {
        let k = self
            .api
            .create_api_key(
                &self.actor,
                Some(institution.to_string()),
                "ops".into(),
                role.into(),
            )
            .await
            .unwrap();
        let actor = self.api.authenticate(Some(&k.token)).await.unwrap();
        (k, actor)
    }

    pub async fn fixture(&self) -> Fixture {
        fixture_on(&self.svc, &self.actor).await
    }

    /// Creates a position, returning the service's answer.
    pub async fn position_result(
        &self,
        f: &Fixture,
        holder: &str,
        amount: &str,
    ) -> escrowgrid::service::ServiceResult<escrowgrid::domain::Position> {
        self.svc
            .create_position(
                &self.actor,
                NewPosition {
                    institution_id: Some(f.institution.clone()),
                    asset_id: f.asset.clone(),
                    holder_reference: holder.into(),
                    currency: "USD".into(),
                    amount: amount.into(),
                    external_reference: None,
                },
            )
            .await
    }

    pub async fn position(
        &self,
        f: &Fixture,
        holder: &str,
        amount: &str,
    ) -> escrowgrid::domain::Position {
        self.position_result(f, holder, amount).await.unwrap()
    }
}

/// Walks a store's whole chain from seq 1, verifying every link (panics at a break); returns the
/// verifier (events checked, head) and each event's kind in seq order.
pub async fn walk_chain(
    store: &SharedStore,
) -> (
    escrowgrid::domain::ledger::ChainVerifier,
    Vec<escrowgrid::domain::LedgerKind>,
) {
    let mut v = escrowgrid::domain::ledger::ChainVerifier::default();
    let mut kinds = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .read_ledger(&escrowgrid::store::LedgerQuery {
                after_seq: after,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for ev in &page {
            if let Err(b) = v.push(ev) {
                panic!("the chain breaks at seq {}: {}", b.seq, b.reason);
            }
            kinds.push(ev.kind);
        }
    }
    (v, kinds)
}

/// One institution (US, EU_UK) with a CONSTR_ESCROW template (USD, US, 10..1000000) and an asset.
pub async fn fixture_on(svc: &Service, a: &Actor) -> Fixture {
    let inst = svc
        .create_institution(
            a,
            NewInstitution {
                name: "Acme Bank".into(),
                regions: vec!["US".into(), "EU_UK".into()],
                verticals: vec![],
            },
        )
        .await
        .unwrap();
    let tmpl = svc
        .create_template(
            a,
            NewTemplate {
                institution_id: Some(inst.id.clone()),
                code: "CONSTR_ESCROW".into(),
                name: "Escrow".into(),
                vertical: "CONSTRUCTION".into(),
                region: "US".into(),
                config: json!({"currency": "USD", "region": "US", "minAmount": "10", "maxAmount": "1000000"}),
            },
        )
        .await
        .unwrap();
    let asset = svc
        .create_asset(
            a,
            NewAsset {
                institution_id: Some(inst.id.clone()),
                template_id: tmpl.id.clone(),
                label: "Tower".into(),
                metadata: None,
            },
        )
        .await
        .unwrap();
    Fixture {
        institution: inst.id,
        template: tmpl.id,
        asset: asset.id,
    }
}

#[derive(Clone)]
pub struct Fixture {
    pub institution: String,
    pub template: String,
    pub asset: String,
}

/// Runs each listed async test function `f(backend)` on SQLite and on PostgreSQL (which the
/// function skips, saying why, when no test server is configured): `on_sqlite::f`,
/// `on_postgres::f`.
#[macro_export]
macro_rules! for_sql_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(escrowgrid::store::Backend::Sqlite).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(escrowgrid::store::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Runs each listed async test function against memory, SQLite and PostgreSQL.
#[macro_export]
macro_rules! for_all_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = $crate::common::Harness::new(escrowgrid::store::Backend::Memory).await.unwrap();
                    super::$name(&h).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = $crate::common::Harness::new(escrowgrid::store::Backend::Sqlite).await.unwrap();
                    super::$name(&h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    match $crate::common::Harness::new(escrowgrid::store::Backend::Postgres).await {
                        Some(h) => super::$name(&h).await,
                        None => $crate::common::skip_postgres(stringify!($name)),
                    }
                }
            )*
        }
    };
}

/// Runs one statement on the harness's database over a connection of its own (as another
/// client of the database would: an attacker with the file or the login), returning the rows it
/// changed or the database's error text.
pub async fn raw_sql(h: &Harness, sql: &str) -> Result<u64, String> {
    use sqlx::{ConnectOptions, Executor};
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match h.store.backend() {
        Backend::Sqlite => {
            let path = h.url.trim_start_matches("sqlite://");
            let mut c = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            c.execute(sql)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
        Backend::Postgres => {
            let opts = store::postgres::connect_options(&h.url).map_err(|e| e.to_string())?;
            let mut c = opts.connect().await.map_err(|e| e.to_string())?;
            c.execute(sql)
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| e.to_string())
        }
        Backend::Memory => Err("the memory store has no SQL".into()),
    }
}

/// `raw_sql` that must succeed.
pub async fn sql_exec(h: &Harness, sql: &str) -> u64 {
    raw_sql(h, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Drops the append-only guards of the history tables, as an attacker who holds the database
/// would, so that a test can edit what the database otherwise refuses to change.
pub async fn unlock_history(h: &Harness) {
    for table in ["ledger_events", "audit_events", "position_events"] {
        match h.store.backend() {
            Backend::Sqlite => {
                for op in ["update", "delete"] {
                    sql_exec(
                        h,
                        &format!("DROP TRIGGER IF EXISTS {table}_append_only_{op}"),
                    )
                    .await;
                }
            }
            _ => {
                sql_exec(h, &format!("ALTER TABLE {table} DISABLE TRIGGER USER")).await;
            }
        }
    }
}

/// Runs each listed async test function on memory, SQLite and PostgreSQL, each two ways: through
/// the in-process service (`<backend>::f`) and through the HTTP API (`<backend>_http::f`).
#[macro_export]
macro_rules! for_all_backends_both_ways {
    ($($name:ident),* $(,)?) => {
        $crate::for_all_backends!($($name),*);
        mod memory_http {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = $crate::common::Harness::new(escrowgrid::store::Backend::Memory).await.unwrap();
                    super::$name(&h.through_http().await).await;
                }
            )*
        }
        mod sqlite_http {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = $crate::common::Harness::new(escrowgrid::store::Backend::Sqlite).await.unwrap();
                    super::$name(&h.through_http().await).await;
                }
            )*
        }
        mod postgres_http {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    match $crate::common::Harness::new(escrowgrid::store::Backend::Postgres).await {
                        Some(h) => super::$name(&h.through_http().await).await,
                        None => $crate::common::skip_postgres(stringify!($name)),
                    }
                }
            )*
        }
    };
}
