//! Who is calling: the root operator, the local operator (root rights, when no root key is
//! configured), or an institution API key with its role. Every service call names its actor.

use crate::domain::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Authenticated with the configured root key.
    Root,
    /// No key given and no root key configured: the person at this machine, with root rights.
    Local { user: String },
    /// An institution API key.
    Key {
        key_id: String,
        institution_id: String,
        role: Role,
        label: String,
    },
}

impl Actor {
    /// The local operator: the login name from the environment, or — where it is not set (tmux,
    /// cron, containers) — the name of the process's user from the system.
    pub fn local() -> Self {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
            .or_else(|| whoami::username().ok().filter(|v| !v.trim().is_empty()))
            .unwrap_or_else(|| "unknown".into());
        Actor::Local { user }
    }

    /// The role name used in messages ("not allowed for role read_only").
    pub fn role_name(&self) -> &str {
        match self {
            Actor::Root | Actor::Local { .. } => "root",
            Actor::Key { role, .. } => role.as_str(),
        }
    }

    /// A short description for the status bar.
    pub fn describe(&self) -> String {
        match self {
            Actor::Root => "root".into(),
            Actor::Local { user } => format!("local operator {user} (root)"),
            Actor::Key {
                role,
                label,
                institution_id,
                ..
            } => format!("{role} · {label} · {institution_id}"),
        }
    }

    /// A short form for the status bar: who and with which role.
    pub fn short(&self) -> String {
        match self {
            Actor::Root => "root".into(),
            Actor::Local { user } => format!("{user} · root"),
            Actor::Key { role, label, .. } => format!("{label} · {role}"),
        }
    }

    /// The institution this actor is confined to (None: all).
    pub fn scope(&self) -> Option<&str> {
        match self {
            Actor::Key { institution_id, .. } => Some(institution_id),
            _ => None,
        }
    }

    pub fn is_root(&self) -> bool {
        matches!(self, Actor::Root | Actor::Local { .. })
    }

    pub fn can_write(&self) -> bool {
        match self {
            Actor::Key { role, .. } => *role == Role::Admin,
            _ => true,
        }
    }

    /// Who, for audit records.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Root => "root".into(),
            Actor::Local { user } => format!("local:{user}"),
            Actor::Key { key_id, .. } => key_id.clone(),
        }
    }

    pub fn key_id(&self) -> Option<&str> {
        match self {
            Actor::Key { key_id, .. } => Some(key_id),
            _ => None,
        }
    }
}
