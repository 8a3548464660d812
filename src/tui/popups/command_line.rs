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
    match name.to_ascii_lowercase().as_str() {
        "id" => Some(PositionSortKey::Created),
        "ccy" => Some(PositionSortKey::Currency),
        other => PositionSortKey::parse(other),
    }
}

/// The commands, as `Tab` completes them.
pub const COMMANDS: &[&str] = &[
    "positions",
    "ledger",
    "audit",
    "open",
    "institutions",
    "templates",
    "assets",
    "health",
    "messages",
    "verify",
    "check",
    "anchor",
    "export",
    "new",
    "help",
    "quit",
];

const SORT_KEYS: &[&str] = &[
    "created",
    "updated",
    "institution",
    "asset",
    "holder",
    "amount",
    "held",
    "currency",
    "state",
];

/// What `Tab` does to a `:` line: the line with its last word completed as far as every
/// candidate agrees, and the candidates when more than one remains (to show).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    pub line: String,
    pub candidates: Vec<String>,
}

/// Completes the last word of a `:` line: a command's name, an argument's name (`state=`) or
/// its value (a state, a kind, an institution's name, a sort key).
pub fn complete(line: &str, institutions: &[Institution]) -> Completion {
    // The last word starts after the last space outside quotes.
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => start = i + 1,
            _ => {}
        }
    }
    let (head, word) = line.split_at(start);
    let command = head.split_whitespace().next().map(str::to_ascii_lowercase);
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let candidates: Vec<String> = match command.as_deref() {
        None => owned(COMMANDS),
        Some(cmd) => {
            let key = word.split_once('=').map(|(k, _)| k.to_ascii_lowercase());
            let with_key = |k: &str, values: Vec<String>| -> Vec<String> {
                values.into_iter().map(|v| format!("{k}={v}")).collect()
            };
            match (cmd, key.as_deref()) {
                ("positions" | "pos", None) => owned(&[
                    "state=",
                    "institution=",
                    "asset=",
                    "holder=",
                    "text=",
                    "sort=",
                ]),
                ("positions" | "pos", Some("state")) => with_key(
                    "state",
                    PositionState::ALL
                        .iter()
                        .map(|s| s.as_str().to_string())
                        .collect(),
                ),
                ("positions" | "pos", Some(k @ ("institution" | "inst"))) => with_key(
                    k,
                    institutions
                        .iter()
                        .map(|i| {
                            if i.name.contains(' ') {
                                format!("\"{}\"", i.name)
                            } else {
                                i.name.clone()
                            }
                        })
                        .collect(),
                ),
                ("positions" | "pos", Some("sort")) => with_key(
                    "sort",
                    SORT_KEYS
                        .iter()
                        .flat_map(|k| [k.to_string(), format!("-{k}")])
                        .collect(),
                ),
                ("ledger", None) => owned(&["kind=", "seq=", "since="]),
                ("ledger", Some("kind")) => with_key(
                    "kind",
                    LedgerKind::ALL
                        .iter()
                        .map(|k| k.as_str().to_string())
                        .collect(),
                ),
                ("audit", None) => owned(&["since="]),
                ("verify", None) => owned(&["stop"]),
                _ => Vec::new(),
            }
        }
    };
    // Quotes do not count: `institution=Harb` finds `institution="Harbor Trust Bank"`.
    let bare = |s: &str| s.replace('"', "").to_lowercase();
    let word_l = bare(word);
    let matching: Vec<String> = candidates
        .into_iter()
        .filter(|c| bare(c).starts_with(&word_l))
        .collect();
    let completed = match matching.as_slice() {
        [] => word.to_string(),
        [one] if one.ends_with('=') => one.clone(),
        [one] => format!("{one} "),
        many => common_prefix(many)
            .filter(|p| bare(p).len() > word_l.len())
            .unwrap_or_else(|| word.to_string()),
    };
    Completion {
        line: format!("{head}{completed}"),
        candidates: if matching.len() > 1 {
            matching
        } else {
            Vec::new()
        },
    }
}

/// The longest prefix (ignoring case, spelled as the first has it) all of `words` share.
fn common_prefix(words: &[String]) -> Option<String> {
    let first = words.first()?;
    let mut n = first.len();
    for w in &words[1..] {
        n = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a.eq_ignore_ascii_case(b))
            .last()
            .map(|((i, a), _)| i + a.len_utf8())
            .unwrap_or(0)
            .min(n);
    }
    Some(first[..n].to_string())
}

#[cfg(test)]
mod completion_tests {
    use super::complete;
    use crate::domain::Institution;

    #[test]
    fn completes_commands_arguments_and_values() {
        let c = |l: &str| complete(l, &[]);
        assert_eq!(c("pos").line, "positions ");
        assert_eq!(c("positions st").line, "positions state=");
        assert_eq!(
            c("positions state=PA").line,
            "positions state=PARTIALLY_RELEASED "
        );
        assert_eq!(c("ledger kind=POSITION_").line, "ledger kind=POSITION_");
        assert_eq!(
            c("ledger kind=POSITION_").candidates,
            vec!["kind=POSITION_CREATED", "kind=POSITION_STATE_CHANGED"]
        );
        assert_eq!(
            c("ledger kind=position_c").line,
            "ledger kind=POSITION_CREATED "
        );
        let all = c("");
        assert_eq!(all.line, "");
        assert!(all.candidates.contains(&"positions".to_string()));
        assert_eq!(c("a").candidates, vec!["audit", "assets", "anchor"]);
        let inst = |name: &str| Institution {
            id: "inst_x".into(),
            name: name.to_string(),
            regions: Vec::new(),
            verticals: Vec::new(),
            created_at: crate::domain::time::now(),
            updated_at: crate::domain::time::now(),
        };
        let two = [inst("Harbor Trust Bank"), inst("Harbour Mutual")];
        let c2 = |l: &str| complete(l, &two);
        assert_eq!(
            c2("pos institution=harbor").line,
            "pos institution=\"Harbor Trust Bank\" "
        );
        assert_eq!(c2("pos institution=Harb").line, "pos institution=\"Harbo");
        assert_eq!(c2("pos institution=Harb").candidates.len(), 2);
        assert_eq!(c("frobnicate x").candidates, Vec::<String>::new());
    }
}
