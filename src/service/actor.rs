//! Who is calling: the root operator, the local operator (root rights, when no root key is
//! configured), or an institution API key with its role. Every service call names its actor.

use crate::domain::Role;

/// As JSON (`GET /v1/whoami`): `{"kind": "key", "keyId", "institutionId", "role", "label"}`;
/// the key's hash is never sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
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
        /// The SHA-256 of the token this session signed in with: every operation checks that
        /// the stored key still has it (and is not revoked), so a session ends with its key.
        #[serde(skip, default)]
        key_hash: String,
    },
}

impl Actor {
    /// The local operator: the process's real user, from the system's user database (never
    /// `$USER`, which anyone can set), or `uid:N` where the user has no name there.
    pub fn local() -> Self {
        Actor::Local { user: real_user() }
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
            // Not through `format!`: every write names its actor two or three times.
            Actor::Local { user } => ["local:", user].concat(),
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

/// The name of the process's real user id (`getuid`, looked up with `getpwuid_r`), else `uid:N`.
#[cfg(unix)]
pub fn real_user() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into the buffers given to it, and the
    // name it points at lives in `buf`, which outlives the read below.
    unsafe {
        let uid = libc::getuid();
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let mut buf = vec![0 as libc::c_char; 4096];
        let rc = libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found);
        if rc == 0 && !found.is_null() && !pw.pw_name.is_null() {
            let name = std::ffi::CStr::from_ptr(pw.pw_name).to_string_lossy();
            let name = crate::domain::text::sanitize(name.trim());
            if !name.is_empty() {
                return name.into_owned();
            }
        }
        format!("uid:{uid}")
    }
}

#[cfg(not(unix))]
pub fn real_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".into())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The local actor is the user the system says this process runs as (`id -un`).
    #[test]
    fn the_local_actor_is_the_real_user() {
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let Actor::Local { user } = Actor::local() else {
            panic!("local")
        };
        assert_eq!(user, id);
    }
}
