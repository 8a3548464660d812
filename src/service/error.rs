//! The service's errors: each names what is wrong in words an operator can act on, and maps to a
//! stable code, a CLI exit status and JSON details.

use crate::domain::{DomainError, FieldError, Position, PositionState};
use crate::store::StoreError;
use serde_json::{Value, json};

#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input: {}", join(.0))]
    Validation(Vec<FieldError>),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("invalid transition from {from} to {to} ({})", allowed_text(*.from))]
    InvalidTransition {
        from: PositionState,
        to: PositionState,
    },
    #[error("{}", conflict_text(.id, *.expected, .current.as_deref()))]
    Conflict {
        id: String,
        expected: PositionState,
        /// The position as it is now, so the operator sees the fresh state.
        current: Option<Box<Position>>,
    },
    #[error("not allowed for role {role}: {action}")]
    Forbidden { role: String, action: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The chain of on-chain anchoring failed or refused (unreachable, a reverted transaction).
    #[error("chain: {0}")]
    Chain(String),
    #[error("{0}")]
    Internal(String),
}

fn conflict_text(id: &str, expected: PositionState, current: Option<&Position>) -> String {
    match current {
        Some(p) if p.state == expected => format!(
            "position {id} was changed by someone else: it is still {expected} but at version {} now",
            p.version
        ),
        Some(p) => format!(
            "position {id} was changed by someone else: expected {expected}, it is now {}",
            p.state
        ),
        None => format!("position {id} was changed by someone else: expected {expected}"),
    }
}

fn join(v: &[FieldError]) -> String {
    v.iter()
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

fn allowed_text(from: PositionState) -> String {
    let allowed = crate::domain::lifecycle::allowed_targets(from);
    if allowed.is_empty() {
        format!("{from} is terminal: no further transitions")
    } else {
        format!(
            "allowed from {from}: {}",
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl ServiceError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Validation(vec![FieldError::new(field, message)])
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Validation(_) => "VALIDATION_FAILED",
            ServiceError::NotFound { .. } => "NOT_FOUND",
            ServiceError::InvalidTransition { .. } => "INVALID_TRANSITION",
            ServiceError::Conflict { .. } => "CONCURRENCY_CONFLICT",
            ServiceError::Forbidden { .. } => "FORBIDDEN",
            ServiceError::Unauthenticated(_) => "UNAUTHENTICATED",
            ServiceError::Unavailable(_) => "STORE_UNAVAILABLE",
            ServiceError::Chain(_) => "CHAIN_ERROR",
            ServiceError::Internal(_) => "INTERNAL",
        }
    }

    /// CLI exit status: 2 when the request itself is wrong, 1 for every other failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServiceError::Validation(_)
            | ServiceError::NotFound { .. }
            | ServiceError::InvalidTransition { .. }
            | ServiceError::Forbidden { .. }
            | ServiceError::Unauthenticated(_) => 2,
            ServiceError::Conflict { .. }
            | ServiceError::Unavailable(_)
            | ServiceError::Chain(_)
            | ServiceError::Internal(_) => 1,
        }
    }

    /// What the error is about, always as an object (`{}` when there is nothing to add), so a
    /// script reads `details` one way whatever the error: `fields` for invalid input.
    pub fn details(&self) -> Value {
        match self {
            ServiceError::Validation(f) => json!({"fields": f}),
            ServiceError::NotFound { what, id } => json!({"resource": what, "id": id}),
            ServiceError::InvalidTransition { from, to } => json!({
                "fromState": from, "toState": to,
                "allowed": crate::domain::lifecycle::allowed_targets(*from),
            }),
            ServiceError::Conflict {
                id,
                expected,
                current,
            } => json!({
                "id": id, "expectedState": expected,
                "actualState": current.as_ref().map(|p| p.state),
                "position": current,
            }),
            ServiceError::Forbidden { role, action } => json!({"role": role, "action": action}),
            _ => json!({}),
        }
    }

    /// Field errors, for forms that show them beside their inputs.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ServiceError::Validation(f) => f,
            _ => &[],
        }
    }
}

impl From<DomainError> for ServiceError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation(f) => ServiceError::Validation(f),
            DomainError::InvalidTransition { from, to } => {
                ServiceError::InvalidTransition { from, to }
            }
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, id } => ServiceError::NotFound { what: entity, id },
            StoreError::Conflict { id, expected, .. } => ServiceError::Conflict {
                id,
                expected,
                current: None,
            },
            e @ StoreError::Mirrored { .. } => ServiceError::field("store", e.to_string()),
            e @ StoreError::PolicyChanged { .. } => {
                ServiceError::Unavailable(format!("{e}, again and again; try again"))
            }
            StoreError::Unavailable(m)
            | StoreError::Retryable(m)
            | StoreError::Timeout { message: m, .. } => ServiceError::Unavailable(m),
            StoreError::Duplicate(m) | StoreError::Constraint(m) => {
                ServiceError::Validation(vec![FieldError::new("input", m)])
            }
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;
