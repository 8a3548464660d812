//! The `:` command line's language: words split as a shell would (`institution="Harbor Trust
//! Bank"` is one word), parsed into a `Command` the router runs. A refused line keeps its text for
//! mending, and the error names what is valid.

use crate::domain::{Institution, LedgerKind, PositionState, ids, time};
use crate::service::{PositionFilter, PositionSortKey};
use crate::tui::nav::{Detail, LedgerAt, Nav};

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Nothing,
    Quit,
    Help,
    Verify,
    /// The message log.
    Messages,
    /// Stop the whole-chain verification running in the background.
    StopVerify,
    Check,
    Anchor,
    Export(String),
    New,
    Go(Nav),
    Open(Detail),
}

/// Parses a `:` line; institutions are named by id, name or a unique prefix of a name.
pub fn parse(line: &str, institutions: &[Institution]) -> Result<Command, String> {
    let Some(words) = shlex::split(line) else {
        return Err(format!("unbalanced quote in '{line}'"));
    };
    let mut words = words.into_iter();
    let Some(cmd) = words.next() else {
        return Ok(Command::Nothing);
    };
    let args: Vec<String> = words.collect();
    Ok(match cmd.to_ascii_lowercase().as_str() {
        "q" | "quit" | "exit" => Command::Quit,
        "help" | "h" => Command::Help,
        "institutions" | "inst" => Command::Go(Nav::Institutions),
        "assets" => Command::Go(Nav::Assets),
        "templates" => Command::Go(Nav::Templates),
        "health" => Command::Go(Nav::Health),
        "verify" if args.first().is_some_and(|a| a == "stop") => Command::StopVerify,
        "verify" => Command::Verify,
        "messages" | "msg" => Command::Messages,
        "check" => Command::Check,
        "anchor" => Command::Anchor,
        "export" => match args.first() {
            Some(file) => Command::Export(file.clone()),
            None => return Err(":export takes a file name (:export /tmp/demo.jsonl)".into()),
        },
        "audit" => audit(&args)?,
        "positions" | "pos" => positions(&args, institutions)?,
        "ledger" => ledger(&args)?,
        "open" if !args.is_empty() => open(&args[0])?,
        "new" => Command::New,
        id if ids::kind_of(id).is_some() => open(id)?,
        other => {
            return Err(format!(
                "unknown command '{other}'; try :positions state=FUNDED, :ledger pos_…, :open ID, :verify, :check, :anchor, :export FILE, :audit, :quit (? lists keys)"
            ));
        }
    })
}

fn positions(args: &[String], institutions: &[Institution]) -> Result<Command, String> {
    let mut filter = PositionFilter::default();
    let mut sort = None;
    let pairs = args.iter().filter_map(|a| {
        a.split_once('=')
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
    });
    for (k, v) in pairs {
        match k.as_str() {
            "state" => match v.parse::<PositionState>() {
                Ok(s) => filter.state = Some(s),
                Err(e) => return Err(format!(":positions {e}")),
            },
            "institution" | "inst" => {
                filter.institution_id = Some(institution_named(institutions, &v)?);
            }
            "asset" => filter.asset_id = Some(v),
            "holder" => filter.holder_reference = Some(v),
            "text" | "search" => filter.text = Some(v),
            "sort" => {
                let (name, desc) = match v.strip_prefix('-') {
                    Some(n) => (n.to_string(), true),
                    None => (v.clone(), false),
                };
                match sort_key_named(&name) {
                    Some(k) => sort = Some((k, desc)),
                    None => {
                        return Err(format!(
                            ":positions sort '{name}' unknown; use created, updated, institution, asset, holder, amount, currency, state (prefix - for descending)"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    ":positions unknown filter '{other}'; use state=, institution=, asset=, holder=, text=, sort="
                ));
            }
        }
    }
    Ok(Command::Go(Nav::Positions { filter, sort }))
}

fn ledger(args: &[String]) -> Result<Command, String> {
    let (mut position, mut kind, mut at) = (None, None, None);
    for a in args {
        if let Some(k) = a.strip_prefix("kind=") {
            match k.parse::<LedgerKind>() {
                Ok(k) => kind = Some(k),
                Err(e) => return Err(format!(":ledger {e}")),
            }
        } else if let Some(n) = a.strip_prefix("seq=") {
            match n.parse::<i64>() {
                Ok(n) if n >= 1 => at = Some(LedgerAt::Seq(n)),
                _ => return Err(format!(":ledger seq= takes a number from 1, not '{n}'")),
            }
        } else if let Some(t) = a.strip_prefix("since=") {
            at = Some(LedgerAt::Since(
                time::parse_moment(t).map_err(|e| format!(":ledger since= {e}"))?,
            ));
        } else if a.starts_with("pos_") {
            whole_id("ledger", a)?;
            position = Some(a.to_string());
        } else {
            return Err(format!(
                ":ledger takes a position id (pos_ and a UUID), kind=KIND, seq=N or since=TIME, not '{a}'"
            ));
        }
    }
    Ok(Command::Go(Nav::Ledger { position, kind, at }))
}

fn audit(args: &[String]) -> Result<Command, String> {
    let mut since = None;
    for a in args {
        match a.strip_prefix("since=") {
            Some(t) => {
                since = Some(time::parse_moment(t).map_err(|e| format!(":audit since= {e}"))?)
            }
            None => return Err(format!(":audit takes since=TIME, not '{a}'")),
        }
    }
    Ok(Command::Go(Nav::Audit { since }))
}

/// An id with its prefix and a whole UUID, or an error that says what a whole one looks like.
fn whole_id(command: &str, id: &str) -> Result<(), String> {
    match ids::kind_of(id) {
        Some(kind) if !ids::is_valid(kind, id) => Err(format!(
            ":{command} '{id}' is not a whole id: {kind}_ and a UUID (y copies the selected row's)"
        )),
        _ => Ok(()),
    }
}

fn open(id: &str) -> Result<Command, String> {
    whole_id("open", id)?;
    let d = match ids::kind_of(id) {
        Some(ids::POSITION) => Detail::Position(id.into()),
        Some(ids::INSTITUTION) => Detail::Institution(id.into()),
        Some(ids::TEMPLATE) => Detail::Template(id.into()),
        Some(ids::ASSET) => Detail::Asset(id.into()),
        _ => {
            return Err(format!(
                "cannot open '{id}': give a pos_, inst_, tmpl_ or ast_ id"
            ));
        }
    };
    Ok(Command::Open(d))
}

/// An institution named by its id, its name, or a prefix of its name that only it has (all
/// ignoring case).
fn institution_named(institutions: &[Institution], v: &str) -> Result<String, String> {
    let exact = institutions
        .iter()
        .find(|i| i.id == v || i.name.eq_ignore_ascii_case(v));
    if let Some(i) = exact {
        return Ok(i.id.clone());
    }
    let prefix = v.to_lowercase();
    let found: Vec<&Institution> = institutions
        .iter()
        .filter(|i| i.name.to_lowercase().starts_with(&prefix))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(format!(":positions no institution '{v}'")),
        many => Err(format!(
            ":positions institution '{v}' could be {}: type more of the name",
            many.iter()
                .map(|i| format!("'{}'", i.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

pub fn sort_key_named(name: &str) -> Option<PositionSortKey> {
    Some(match name.to_ascii_lowercase().as_str() {
        "created" | "id" => PositionSortKey::Created,
        "updated" => PositionSortKey::Updated,
        "institution" => PositionSortKey::Institution,
        "asset" => PositionSortKey::Asset,
        "holder" => PositionSortKey::Holder,
        "amount" => PositionSortKey::Amount,
        "currency" | "ccy" => PositionSortKey::Currency,
        "state" => PositionSortKey::State,
        _ => return None,
    })
}

pub fn sort_key_label(k: PositionSortKey) -> &'static str {
    match k {
        PositionSortKey::Created => "created",
        PositionSortKey::Updated => "updated",
        PositionSortKey::Institution => "institution",
        PositionSortKey::Asset => "asset",
        PositionSortKey::Holder => "holder",
        PositionSortKey::Amount => "amount",
        PositionSortKey::Currency => "currency",
        PositionSortKey::State => "state",
    }
}
