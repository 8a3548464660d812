//! Keyset pages as every caller sees them — the CLI's `--json`, the HTTP API and its clients:
//! `{data, pagination: {limit, hasMore, nextAfter}}`. A page is read with one row more than
//! asked (the probe), so `hasMore` is known without a count.

use super::{ServiceError, ServiceResult};
use crate::domain::text::sanitize;
use serde::{Deserialize, Serialize};

/// The largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub limit: u32,
    pub has_more: bool,
    /// The cursor of the next page (the last row's id), when there is one.
    pub next_after: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub data: Vec<T>,
    pub pagination: Pagination,
}

impl<T> Paged<T> {
    pub fn new(data: Vec<T>, limit: u32, next_after: Option<String>) -> Self {
        Paged {
            data,
            pagination: Pagination {
                limit,
                has_more: next_after.is_some(),
                next_after,
            },
        }
    }

    /// The page of `rows` read with the probe row (`limit + 1` asked).
    pub fn split(rows: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let (data, next) = split_page(rows, limit, id);
        Paged::new(data, limit, next)
    }
}

pub fn check_limit(limit: u32) -> ServiceResult<u32> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ServiceError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// A keyset cursor (`after`, `before`): the id of a record of the kind listed.
pub fn cursor(
    field: &str,
    id: Option<String>,
    kind: &str,
    what: &str,
) -> ServiceResult<Option<String>> {
    match id {
        Some(id) if crate::domain::ids::kind_of(&id) != Some(kind) => Err(ServiceError::field(
            field,
            format!("'{}' is not {what} id ({kind}_…)", sanitize(&id)),
        )),
        other => Ok(other),
    }
}

/// Rows read with the probe row: the page, and the next page's cursor (`id` of its last row:
/// an id, or the ledger's seq) when the probe came back.
pub fn split_page<T, K>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> K) -> (Vec<T>, Option<K>) {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

/// One page of a list that the store returns whole (policies, API keys: a handful per
/// institution): the rows after the `--after` id, at most `limit`, and the cursor of the next.
pub fn page_after<T>(
    rows: Vec<T>,
    after: Option<&str>,
    limit: u32,
    id: impl Fn(&T) -> &str,
) -> ServiceResult<(Vec<T>, Option<String>)> {
    let start = match after {
        None => 0,
        Some(a) => match rows.iter().position(|r| id(r) == a) {
            Some(i) => i + 1,
            None => {
                return Err(ServiceError::field(
                    "after",
                    format!("'{}' is not in this list", sanitize(a)),
                ));
            }
        },
    };
    let mut page: Vec<T> = rows
        .into_iter()
        .skip(start)
        .take(limit as usize + 1)
        .collect();
    let next = if page.len() > limit as usize {
        page.truncate(limit as usize);
        page.last().map(|r| id(r).to_string())
    } else {
        None
    };
    Ok((page, next))
}
