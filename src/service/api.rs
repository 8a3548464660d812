//! The service's operations as one interface, answered in this process (`Service`, over its
//! store) or by a server (`crate::client::Remote`, over HTTPS with an API key): the CLI takes
//! `&dyn Api`, so a command works the same either way — the same outputs, messages and exit
//! statuses.

use super::stream::{StreamFilter, Subscription};
use super::{
    Actor, AuditQuery, CheckReport, CreatedKey, EventDetail, Finding, InstitutionDetail,
    InstitutionSummary, LedgerQuery, NewAsset, NewInstitution, NewPosition, NewTemplate, Page,
    PolicyInput, PositionDetail, PositionFilter, PositionQuery, RevokeOutcome, Service,
    ServiceResult, TransitionOutcome, TransitionRequest, VerifyReport,
};
use crate::domain::apikey::ApiKey;
use crate::domain::audit::AuditEvent;
use crate::domain::ledger::LedgerEvent;
use crate::domain::{Asset, AssetTemplate, Institution, InstitutionPolicy, Position};
use crate::service::backup::BackupSummary;
use crate::service::health::HealthReport;
use crate::witness::{StoreKey, Witnessed};

/// Generates the trait and its in-process implementation (each method calls the service's own)
/// from one list, so the two cannot drift apart.
macro_rules! api {
    ($( $(#[$m:meta])* async fn $name:ident(&self $(, $arg:ident: $ty:ty)* ) -> $ret:ty; )*) => {
        #[async_trait::async_trait]
        pub trait Api: Send + Sync {
            /// True when callers must present a key.
            fn requires_key(&self) -> bool;
            /// Streams ledger events with seq > `after`, scoped to the actor's institution.
            fn subscribe(&self, actor: &Actor, after: i64, filter: StreamFilter) -> Subscription;
            /// The service in this process, for the commands that only it can run (migrations,
            /// imports, the demo data set); None for a server's client.
            fn local(&self) -> Option<&Service>;
            /// Where the store is, as an operator reads it (a server's URL for a client).
            fn target(&self) -> String;
            /// The ledger's chain verified on from `from`, or from seq 1.
            async fn verify_from(&self, actor: &Actor, from: Option<(i64, String)>) -> ServiceResult<VerifyReport> {
                self.verify_slice(actor, from, None).await
            }
            $( $(#[$m])* async fn $name(&self $(, $arg: $ty)*) -> $ret; )*
        }

        #[async_trait::async_trait]
        impl Api for Service {
            fn requires_key(&self) -> bool {
                Service::requires_key(self)
            }
            fn subscribe(&self, actor: &Actor, after: i64, filter: StreamFilter) -> Subscription {
                Service::subscribe(self, actor, after, filter)
            }
            fn local(&self) -> Option<&Service> {
                Some(self)
            }
            fn target(&self) -> String {
                self.store_target()
            }
            $( async fn $name(&self $(, $arg: $ty)*) -> $ret {
                Service::$name(self $(, $arg)*).await
            } )*
        }
    };
}

api! {
    async fn authenticate(&self, token: Option<&str>) -> ServiceResult<Actor>;
    async fn create_institution(&self, actor: &Actor, input: NewInstitution) -> ServiceResult<Institution>;
    async fn list_institutions(&self, actor: &Actor, page: Page) -> ServiceResult<Vec<Institution>>;
    async fn get_institution(&self, actor: &Actor, id: &str) -> ServiceResult<Institution>;
    async fn get_position(&self, actor: &Actor, id: &str) -> ServiceResult<Position>;
    /// Entities by kind, scoped to the actor's institution.
    async fn counts(&self, actor: &Actor) -> ServiceResult<crate::store::Counts>;
    async fn institution_detail(&self, actor: &Actor, id: &str) -> ServiceResult<InstitutionDetail>;
    async fn create_template(&self, actor: &Actor, input: NewTemplate) -> ServiceResult<AssetTemplate>;
    async fn list_templates(&self, actor: &Actor, institution_id: Option<String>, page: Page) -> ServiceResult<Vec<AssetTemplate>>;
    async fn get_template(&self, actor: &Actor, id: &str) -> ServiceResult<AssetTemplate>;
    async fn create_asset(&self, actor: &Actor, input: NewAsset) -> ServiceResult<Asset>;
    async fn list_assets(&self, actor: &Actor, institution_id: Option<String>, template_id: Option<String>, page: Page) -> ServiceResult<Vec<Asset>>;
    async fn get_asset(&self, actor: &Actor, id: &str) -> ServiceResult<Asset>;
    async fn create_position(&self, actor: &Actor, input: NewPosition) -> ServiceResult<Position>;
    async fn list_positions(&self, actor: &Actor, q: PositionQuery) -> ServiceResult<Vec<Position>>;
    async fn position_detail(&self, actor: &Actor, id: &str) -> ServiceResult<PositionDetail>;
    async fn transition_position(&self, actor: &Actor, id: &str, req: TransitionRequest) -> ServiceResult<TransitionOutcome>;
    async fn set_policy(&self, actor: &Actor, input: PolicyInput) -> ServiceResult<InstitutionPolicy>;
    async fn get_policy(&self, actor: &Actor, institution_id: &str, region: crate::domain::Region) -> ServiceResult<Option<InstitutionPolicy>>;
    async fn list_policies(&self, actor: &Actor, institution_id: Option<String>) -> ServiceResult<Vec<InstitutionPolicy>>;
    async fn create_api_key(&self, actor: &Actor, institution_id: Option<String>, label: String, role: String) -> ServiceResult<CreatedKey>;
    async fn list_api_keys(&self, actor: &Actor, institution_id: Option<String>) -> ServiceResult<Vec<ApiKey>>;
    async fn revoke_api_key(&self, actor: &Actor, key_id: &str) -> ServiceResult<RevokeOutcome>;
    async fn ledger(&self, actor: &Actor, q: LedgerQuery) -> ServiceResult<Vec<LedgerEvent>>;
    async fn ledger_event(&self, actor: &Actor, seq: i64) -> ServiceResult<EventDetail>;
    async fn ledger_head_seq(&self, actor: &Actor) -> ServiceResult<i64>;
    async fn verify_ledger(&self, actor: &Actor) -> ServiceResult<VerifyReport>;
    /// The ledger's chain verified on from `from` (a head verified before) or seq 1, at most
    /// `max` events (`partial` says it stopped there).
    async fn verify_slice(&self, actor: &Actor, from: Option<(i64, String)>, max: Option<u64>) -> ServiceResult<VerifyReport>;
    async fn institution_summary(&self, actor: &Actor, id: &str) -> ServiceResult<InstitutionSummary>;
    async fn count_positions(&self, actor: &Actor, f: PositionFilter) -> ServiceResult<i64>;
    async fn audit(&self, actor: &Actor, q: AuditQuery) -> ServiceResult<Vec<AuditEvent>>;
    async fn check(&self, actor: &Actor) -> ServiceResult<CheckReport>;
    async fn health(&self, actor: &Actor) -> HealthReport;
    async fn authorize_export(&self, actor: &Actor) -> ServiceResult<()>;
    async fn export_to_writer(&self, actor: &Actor, out: &mut (dyn std::io::Write + Send), what: &str) -> ServiceResult<BackupSummary>;
    async fn import_file(&self, actor: &Actor, path: &std::path::Path, opts: crate::service::backup::ImportOptions) -> ServiceResult<BackupSummary>;
    async fn export_file(&self, actor: &Actor, path: &std::path::Path, force: bool) -> ServiceResult<BackupSummary>;
    /// The schema beside the migrations of the binary that opened the store (a server's, for a
    /// client).
    async fn migrations(&self) -> ServiceResult<(crate::store::Backend, Option<crate::store::schema::SchemaStatus>)>;
    /// The backend and its schema version.
    async fn schema(&self) -> ServiceResult<(crate::store::Backend, Option<i64>)>;
    /// The store's identity, under which its heads are witnessed (None: not witnessed here).
    async fn store_key(&self) -> ServiceResult<Option<StoreKey>>;
    async fn compare_witnessed(&self, actor: &Actor, witnessed: &[Witnessed]) -> ServiceResult<Vec<Finding>>;
}
