//! Pure domain types and rules: ids, money, enums, the position state machine, template configs.
//! Nothing in here does I/O; everything is unit-testable without a runtime.

pub mod anchor;
pub mod apikey;
pub mod audit;
pub mod enums;
pub mod error;
pub mod ids;
pub mod json;
pub mod ledger;
pub mod lifecycle;
pub mod model;
pub mod money;
pub mod payloads;
pub mod policy;
pub mod replay;
pub mod template;
pub mod text;
pub mod time;

pub use enums::{
    Currency, EntityType, LedgerKind, Outcome, PositionState, Region, Role, TemplateCode, Vertical,
};
pub use error::{DomainError, FieldError};
pub use model::{
    Asset, AssetTemplate, Institution, Position, PositionLifecycleEvent, held_for_sorting,
};
pub use money::{Balance, Money};
pub use policy::{InstitutionPolicy, PolicyConfig};
