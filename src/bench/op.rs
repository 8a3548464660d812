//! The operations `bench write` measures.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Transition,
    Mix,
    Get,
    GetWithHistory,
    Page,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Transition => "transition",
            Op::Mix => "mix",
            Op::Get => "get",
            Op::GetWithHistory => "get-with-history",
            Op::Page => "page-50-deep",
        }
    }

    pub fn parse(s: &str) -> Option<Op> {
        [Op::Create, Op::Transition, Op::Mix]
            .into_iter()
            .find(|o| o.name() == s)
    }
}
