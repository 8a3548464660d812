//! The one startup path, shared by the CLI, the console and the benches: the store the
//! configuration names (and how to show where it is, password redacted), the service over it,
//! and who the caller is.

use crate::config::Config;
use crate::service::{Actor, Service, ServiceConfig, ServiceError, ServiceResult};
use crate::store::{self, Backend, StoreResult};

/// An open store: what the console's connect screen holds until the service is built over it.
pub use crate::store::SharedStore;

/// Where the data lives, for people: the database URL with any password replaced by `***`.
pub fn target(cfg: &Config, backend: Backend) -> String {
    match backend {
        Backend::Memory => "memory (this process only)".into(),
        Backend::Postgres => store::postgres::redact(&cfg.database_url),
        Backend::Sqlite => cfg.database_url.clone(),
    }
}

/// Opens `backend` (the configured one, or memory for a demo) with the configured options; the
/// schema is set up as `store::open_with` says. The data directory is created on first use; a
/// SQLite file anywhere else must be in a directory that exists.
pub async fn open_store(cfg: &Config, backend: Backend) -> StoreResult<SharedStore> {
    if backend == Backend::Sqlite
        && store::sqlite::file_path(&cfg.database_url).is_some_and(|p| p.starts_with(&cfg.data_dir))
    {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            store::StoreError::Unavailable(format!(
                "cannot create the data directory {}: {e}",
                cfg.data_dir.display()
            ))
        })?;
    }
    store::open_with(backend, &cfg.database_url, &cfg.store_options()).await
}

/// The SQLite file that opening the store will create, when it is outside the data directory:
/// said aloud ("created new database …"), so a mistyped path shows at once.
pub fn new_database(cfg: &Config, backend: Backend) -> Option<std::path::PathBuf> {
    if backend != Backend::Sqlite {
        return None;
    }
    store::sqlite::file_path(&cfg.database_url)
        .filter(|p| !p.exists() && !p.starts_with(&cfg.data_dir))
}

/// The service over `store`, with the configuration's keys and read-only switch.
pub fn service(cfg: &Config, store: SharedStore, log_file: Option<String>) -> Service {
    Service::new(
        store,
        ServiceConfig {
            root_api_key: cfg.root_api_key.clone(),
            read_only: cfg.read_only,
            log_file,
        },
    )
}

/// The caller, from the configured API key (or none).
pub async fn authenticate(cfg: &Config, svc: &Service) -> ServiceResult<Actor> {
    svc.authenticate(cfg.api_key.as_deref()).await
}

/// Opens the store at `url` (`which` names the argument in errors); a SQLite file that does not
/// exist is refused unless `new_ok`.
pub async fn open_url(
    cfg: &crate::config::Config,
    which: &str,
    url: &str,
    new_ok: bool,
) -> ServiceResult<Service> {
    let backend = crate::config::backend_of_url(which, url)
        .map_err(|e| ServiceError::field(which, e.to_string()))?;
    if backend == Backend::Sqlite
        && !new_ok
        && let Some(path) = store::sqlite::file_path(url)
        && !path.exists()
    {
        return Err(ServiceError::field(
            which,
            format!("no database at {}", path.display()),
        ));
    }
    let store = store::open_with(backend, url, &cfg.store_options())
        .await
        .map_err(|e| match ServiceError::from(e) {
            ServiceError::Unavailable(m) => {
                ServiceError::Unavailable(format!("{which} ({}): {m}", shown(url)))
            }
            other => other,
        })?;
    Ok(Service::new(store, ServiceConfig::default()))
}

/// Where a store is, for people (a PostgreSQL password replaced by `***`).
pub fn shown(url: &str) -> String {
    store::postgres::redact(url)
}
