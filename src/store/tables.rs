//! The SQL stores' tables, each declared once: its name and columns (with their kind and whether
//! they may be NULL). From each declaration come the column list that statements name
//! (`Table`), the row type that reads decode into and writes are made from, and the row's values
//! in column order (`args`) — so a column cannot be added in one place and missed in another,
//! and a row never has more or fewer values than its table has columns. A test
//! (`tests/it/migrations.rs`) holds every declaration to the table the migrations make, on
//! SQLite and PostgreSQL.
//!
//! Every value crosses the driver as text or an integer: the kinds say what PostgreSQL casts a
//! text to (`Ts` timestamptz, `Amount` numeric, `Json` jsonb) and how it is read back as text.

use super::sql::Arg;
pub use super::sql::{Table, Ty};

/// A column's Rust type in a row: text for every kind but `Int`; `Option` where it may be NULL.
macro_rules! column_type {
    (Int) => { i64 };
    (Int null) => { Option<i64> };
    ($kind:ident) => { String };
    ($kind:ident null) => { Option<String> };
}

/// A column's value as a statement argument.
macro_rules! column_arg {
    (Int, $v:expr) => {
        Arg::Int($v)
    };
    (Int null, $v:expr) => {
        Arg::OptInt($v)
    };
    ($kind:ident, $v:expr) => {
        Arg::Text(Some($v))
    };
    ($kind:ident null, $v:expr) => {
        Arg::Text($v)
    };
}

macro_rules! tables {
    ($(
        $(#[$doc:meta])*
        $konst:ident = $name:literal, $row:ident {
            $( $col:ident : $kind:ident $($null:ident)? ),+ $(,)?
        }
    )+) => {
        $(
            $(#[$doc])*
            pub const $konst: Table = Table {
                name: $name,
                cols: &[$( (stringify!($col), Ty::$kind, tables!(@nullable $($null)?)) ),+],
            };

            #[doc = concat!("A row of `", $name, "`, as read and as written.")]
            #[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
            pub struct $row {
                $( pub $col: column_type!($kind $($null)?), )+
            }

            impl $row {
                /// The row's values, in its table's column order.
                pub fn args(self) -> Vec<Arg> {
                    vec![$( column_arg!($kind $($null)?, self.$col) ),+]
                }
            }
        )+

        /// Every table declared here, for the test that holds them to the migrations.
        pub const ALL: &[&Table] = &[$( &$konst ),+];
    };
    (@nullable) => { false };
    (@nullable null) => { true };
}

tables! {
    INSTITUTIONS = "institutions", InstitutionRow {
        id: Text,
        name: Text,
        regions: Json,
        verticals: Json,
        created_at: Ts,
        updated_at: Ts,
    }

    TEMPLATES = "asset_templates", TemplateRow {
        id: Text,
        institution_id: Text,
        code: Text,
        name: Text,
        vertical: Text,
        region: Text,
        config: Json,
        created_at: Ts,
        updated_at: Ts,
    }

    ASSETS = "assets", AssetRow {
        id: Text,
        institution_id: Text,
        template_id: Text,
        label: Text,
        metadata: Json,
        created_at: Ts,
        updated_at: Ts,
    }

    POSITIONS = "positions", PositionRow {
        id: Text,
        institution_id: Text,
        asset_id: Text,
        holder_reference: Text,
        currency: Text,
        amount: Amount,
        state: Text,
        external_reference: Text null,
        version: Int,
        created_at: Ts,
        updated_at: Ts,
        // NULL: not known (partial releases recorded before releases carried amounts).
        released: Amount null,
        // The amount less `released`; the amount itself where `released` is not known (so the
        // column sorts and is never NULL).
        held: Amount,
    }

    POSITION_EVENTS = "position_events", PositionEventRow {
        id: Text,
        position_id: Text,
        from_state: Text,
        to_state: Text,
        reason: Text null,
        at: Ts,
        metadata: Json null,
        actor: Text null,
        // The money the step moved, and what the position held after it (NULL: not recorded).
        amount: Amount null,
        held: Amount null,
    }

    POLICIES = "policies", PolicyRow {
        id: Text,
        institution_id: Text,
        region: Text,
        config: Json,
        created_at: Ts,
        updated_at: Ts,
    }

    API_KEYS = "api_keys", ApiKeyRow {
        id: Text,
        institution_id: Text,
        key_hash: Text,
        label: Text,
        role: Text,
        created_at: Ts,
        revoked_at: Ts null,
    }

    /// The ledger payload is stored as its canonical JSON text in both backends: it is hashed,
    /// so it must come back byte for byte.
    LEDGER = "ledger_events", LedgerRow {
        seq: Int,
        id: Text,
        kind: Text,
        entity_type: Text,
        entity_id: Text,
        institution_id: Text,
        position_id: Text null,
        at: Ts,
        payload: Text,
        prev_hash: Text,
        hash: Text,
    }

    /// `seq`, `prev_hash` and `hash` are NULL only on records written before the audit chain
    /// existed (sealed at the next open).
    AUDIT = "audit_events", AuditRow {
        id: Text,
        occurred_at: Ts,
        actor: Text,
        api_key_id: Text null,
        institution_id: Text null,
        action: Text,
        outcome: Text,
        resource_type: Text null,
        resource_id: Text null,
        subject_institution_id: Text null,
        payload: Json null,
        error: Json null,
        op_id: Text null,
        client: Text null,
        seq: Int null,
        prev_hash: Text null,
        hash: Text null,
    }

    COUNTERS = "counters", CounterRow {
        scope: Text,
        name: Text,
        n: Int,
    }

    /// The anchors' outbox (`anchors.rs`); the lease says who is sending an anchor, until when.
    ANCHORS = "anchors", AnchorRow {
        seq: Int,
        head: Text,
        status: Text,
        attempts: Int,
        last_error: Text null,
        tx_hash: Text null,
        block_number: Int null,
        created_at: Ts,
        updated_at: Ts,
        next_attempt_at: Ts,
        lease_owner: Text null,
        lease_until: Ts null,
    }

    /// The mark of a mirror's target, with the mirror's last step (one row, id 1).
    MIRROR_OF = "mirror_of", MirrorOfRow {
        id: Int,
        source: Text,
        started_at: Ts,
        step_at: Ts,
        head_seq: Int,
        source_head_seq: Int,
        behind_events: Int,
        behind_ms: Int,
    }

    /// On the source's side: the stores it is mirrored to, each with its mirror's last step.
    MIRRORED_TO = "mirrored_to", MirroredToRow {
        target: Text,
        started_at: Ts,
        step_at: Ts,
        head_seq: Int,
        source_head_seq: Int,
        behind_events: Int,
        behind_ms: Int,
    }
}

/// Tables of PostgreSQL's schema only.
pub const POSTGRES_ONLY: &[&Table] = &[&LEDGER_HEAD];

/// PostgreSQL keeps both chains' heads in a row of their own (SQLite reads the newest rows).
pub const LEDGER_HEAD: Table = Table {
    name: "ledger_head",
    cols: &[
        ("id", Ty::Bool, false),
        ("seq", Ty::Int, false),
        ("hash", Ty::Text, false),
        ("audit_seq", Ty::Int, false),
        ("audit_hash", Ty::Text, false),
    ],
};
