//! The configuration's layering, checks and messages.
use super::*;

#[test]
fn sqlite_synchronous_defaults_to_full_and_is_checked() {
    let c = load(&Overrides::default(), &env(&[])).unwrap();
    assert_eq!(c.sqlite_synchronous, crate::store::SqliteSync::Full);
    let c = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_SQLITE_SYNCHRONOUS", "NORMAL")]),
    )
    .unwrap();
    assert_eq!(c.sqlite_synchronous, crate::store::SqliteSync::Normal);
    let e = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_SQLITE_SYNCHRONOUS", "fast")]),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ESCROWGRID_SQLITE_SYNCHRONOUS: 'fast' is not a synchronous mode"),
        "{e}"
    );
}

#[test]
fn pg_settings_come_from_file_and_env_and_are_checked() {
    let c = load(&Overrides::default(), &env(&[])).unwrap();
    assert_eq!(c.pg, crate::store::PgSettings::default());
    let (_d, p) = write("statement_timeout_ms = 2500\npg_max_connections = 4\n");
    let c = load(
        &ov_file(&p),
        &env(&[("ESCROWGRID_PG_ACQUIRE_TIMEOUT_MS", "750")]),
    )
    .unwrap();
    assert_eq!(c.pg.statement_timeout, Duration::from_millis(2500));
    assert_eq!(c.pg.max_connections, 4);
    assert_eq!(c.pg.acquire_timeout, Duration::from_millis(750));
    let c = load(
        &ov_file(&p),
        &env(&[("ESCROWGRID_STATEMENT_TIMEOUT_MS", "900")]),
    )
    .unwrap();
    assert_eq!(
        c.pg.statement_timeout,
        Duration::from_millis(900),
        "env wins"
    );
    let e = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_STATEMENT_TIMEOUT_MS", "soon")]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ESCROWGRID_STATEMENT_TIMEOUT_MS: 'soon' is not a whole number"
    );
    let (_d, p) = write("pg_max_connections = 0\n");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "config file {}: pg_max_connections: must be between 1 and 1000",
            p.display()
        )
    );
    let (_d, p) = write("pg_max_connections = 2\npg_min_connections = 3\n");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err();
    assert!(
        e.to_string().contains("more than pg_max_connections"),
        "{e}"
    );
}

/// A build without the feature refuses `[onchain] enabled = true` rather than ignore it.
#[cfg(not(feature = "onchain"))]
#[test]
fn onchain_enabled_without_the_feature_is_refused() {
    let (_d, p) = write("[onchain]\nenabled = true\n");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("onchain.enabled: this escrowgrid is built without on-chain anchoring"),
        "{e}"
    );
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// The settings a deployment relies on from the environment, and where the file is found.
#[test]
fn read_only_and_the_config_file_from_the_environment() {
    let c = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_READ_ONLY", "true")]),
    )
    .unwrap();
    assert!(c.read_only);
    let e = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_READ_ONLY", "maybe")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("ESCROWGRID_READ_ONLY: 'maybe'"), "{e}");
    let (_d, p) = write("store = \"memory\"\n");
    let c = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_CONFIG", leak(p.to_str().unwrap()))]),
    )
    .unwrap();
    assert_eq!(c.backend, Backend::Memory);
    assert_eq!(c.config_file.as_deref(), Some(p.as_path()));
    let e = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_CONFIG", "/nonexistent/escrowgrid.toml")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("/nonexistent/escrowgrid.toml"), "{e}");
    // XDG_CONFIG_DIRS, then /etc/escrowgrid, after the user's own directory.
    let (d, p) = write("store = \"memory\"\n");
    let xdg = d.path().join("xdg");
    std::fs::create_dir_all(xdg.join("escrowgrid")).unwrap();
    std::fs::copy(&p, xdg.join("escrowgrid/config.toml")).unwrap();
    let search = config_search(&env(&[("XDG_CONFIG_DIRS", leak(xdg.to_str().unwrap()))]));
    let at = |path: &Path| search.iter().position(|s| s == path).unwrap();
    assert!(at(&xdg.join("escrowgrid/config.toml")) < at(Path::new("/etc/escrowgrid/config.toml")));
    assert_eq!(
        search.last().unwrap(),
        Path::new("/etc/escrowgrid/config.toml")
    );
}

#[cfg(feature = "onchain")]
#[test]
fn onchain_settings_come_from_file_and_env() {
    let c = load(&Overrides::default(), &env(&[])).unwrap();
    assert!(!c.onchain.enabled);
    let (_d, p) =
        write("[onchain]\nenabled = true\nrpc_url = \"http://chain:8545\"\nevery_events = 1\n");
    let c = load(
        &ov_file(&p),
        &env(&[(
            "ESCROWGRID_ONCHAIN_CONTRACT",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        )]),
    )
    .unwrap();
    assert!(c.onchain.enabled);
    assert_eq!(c.onchain.rpc_url, "http://chain:8545");
    assert_eq!(c.onchain.every_events, 1);
    assert_eq!(c.onchain.every_seconds, 300);
    assert_eq!(
        c.onchain.contract.as_deref(),
        Some("0x5FbDB2315678afecb367f032d93F642f64180aa3")
    );
    let c = load(
        &Overrides::default(),
        &env(&[("ONCHAIN_LEDGER_ENABLED", "true")]),
    )
    .unwrap();
    assert!(c.onchain.enabled, "the reference's variable");
    let e = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_ONCHAIN_CONTRACT", "0x12")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("not a 0x… address"), "{e}");
    let (_d, p) = write("[onchain]\nprivate_key = \"0xabc\"\n");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err();
    assert!(
        e.to_string().contains("unknown key `onchain.private_key`"),
        "{e}"
    );
}

fn env(pairs: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
    let mut m: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    m.insert("ESCROWGRID_DATA_DIR", "/data");
    m
}

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, text).unwrap();
    (dir, p)
}

fn ov_file(p: &Path) -> Overrides {
    Overrides {
        config_file: Some(p.to_path_buf()),
        ..Default::default()
    }
}

#[test]
fn default_is_sqlite_in_the_data_dir() {
    let (_d, p) = write("");
    let c = load(&ov_file(&p), &env(&[])).unwrap();
    assert_eq!(c.backend, Backend::Sqlite);
    assert_eq!(c.database_url, "sqlite:///data/escrowgrid.db");
    assert_eq!(c.log_dir, PathBuf::from("/data/logs"));
    assert_eq!(c.log_level, "info");
}

#[test]
fn layers_file_then_env_then_flags() {
    let (_d, p) = write("database_url = \"sqlite:///file.db\"\nlog_level = \"debug\"\n");
    let c = load(&ov_file(&p), &env(&[])).unwrap();
    assert_eq!(c.database_url, "sqlite:///file.db");
    assert_eq!(c.log_level, "debug");
    let c = load(&ov_file(&p), &env(&[("DATABASE_URL", "sqlite:///seed.db")])).unwrap();
    assert_eq!(c.database_url, "sqlite:///seed.db", "env beats file");
    let e = env(&[
        ("DATABASE_URL", "sqlite:///seed.db"),
        ("ESCROWGRID_DATABASE_URL", "sqlite:///ours.db"),
    ]);
    assert_eq!(
        load(&ov_file(&p), &e).unwrap().database_url,
        "sqlite:///ours.db",
        "our name beats the seed's"
    );
    let mut ov = ov_file(&p);
    ov.database_url = Some("postgres://u@h/db".into());
    let c = load(&ov, &e).unwrap();
    assert_eq!(
        (c.backend, c.database_url.as_str()),
        (Backend::Postgres, "postgres://u@h/db"),
        "flag beats env; backend follows the scheme"
    );
}

#[test]
fn memory_and_explicit_store() {
    let (_d, p) = write("store = \"memory\"");
    let c = load(&ov_file(&p), &env(&[])).unwrap();
    assert_eq!(c.backend, Backend::Memory);
    let c = load(&ov_file(&p), &env(&[("STORE_BACKEND", "sqlite")])).unwrap();
    assert_eq!(c.backend, Backend::Sqlite);
}

#[test]
fn errors_name_the_key() {
    let (_d, p) = write("stroe = \"memory\"");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("unknown key `stroe` (did you mean `store`?)"),
        "{e}"
    );
    let (_d, p) = write("store = \"oracle\"");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "config file {}: store: 'oracle' is not a store",
            p.display()
        )),
        "{e}"
    );
    let (_d, p) = write("sqlite_poll_ms = 0");
    let e = load(&ov_file(&p), &env(&[])).unwrap_err().to_string();
    assert!(
        e.ends_with("sqlite_poll_ms: must be between 1 and 60000"),
        "{e}"
    );
    let e = load(
        &Overrides::default(),
        &env(&[("ESCROWGRID_SQLITE_POLL_MS", "0")]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("ESCROWGRID_SQLITE_POLL_MS:"), "{e}");
    let (_d, p) = write("");
    let e = load(&ov_file(&p), &env(&[("ESCROWGRID_STORE", "postgres")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("database_url: the postgres store needs a database URL"),
        "{e}"
    );
    let e = load(
        &ov_file(&p),
        &env(&[("ESCROWGRID_DATABASE_URL", "mysql://x")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("ESCROWGRID_DATABASE_URL: cannot tell the store"),
        "{e}"
    );
    let mut ov = ov_file(&p);
    ov.store = Some("sqlite".into());
    ov.database_url = Some("postgres://u:pw@h/db".into());
    let e = load(&ov, &env(&[])).unwrap_err().to_string();
    assert!(
        e.contains("--database-url: is a postgres URL but the store is sqlite"),
        "{e}"
    );
    let (_d, p) = write("log_level = \"escrowgrid=debug,sqlx=warn\"");
    assert!(load(&ov_file(&p), &env(&[])).is_ok());
    let (_d, p) = write("log_level = \"loud\"");
    assert!(
        load(&ov_file(&p), &env(&[]))
            .unwrap_err()
            .to_string()
            .contains("log_level:")
    );
    let (_d, p) = write("log_level = \"loud=\"");
    assert!(
        load(&ov_file(&p), &env(&[]))
            .unwrap_err()
            .to_string()
            .contains("log_level:")
    );
    let (_d, p) = write("[console]\ndemo_rate = -1.0");
    assert!(
        load(&ov_file(&p), &env(&[]))
            .unwrap_err()
            .to_string()
            .contains("console.demo_rate:")
    );
    let e = load(&ov_file(Path::new("/nonexistent/x.toml")), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("config file /nonexistent/x.toml:"), "{e}");
}

#[test]
fn example_config_is_valid_and_complete() {
    let text = include_str!("../../config.example.toml");
    let parsed: FileConfig = toml::from_str(&uncomment(text))
        .expect("config.example.toml parses with every key uncommented");
    assert!(parsed.store.is_some() && parsed.database_url.is_some() && parsed.log_level.is_some());
    assert!(parsed.sqlite_poll_ms.is_some() && parsed.console.mouse.is_some());
    assert!(parsed.sqlite_synchronous.is_some());
}

/// The example documents keys as `# key = value`; uncomment those lines.
fn uncomment(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.contains(" = ") || rest.starts_with('[') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}
