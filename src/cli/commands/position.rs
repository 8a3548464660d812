//! `position create | list | show | transition`: positions and their lifecycle.

use crate::cli::*;

pub(crate) async fn position(
    svc: &dyn Api,
    actor: &Actor,
    c: PositionCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        PositionCmd::Create {
            institution,
            asset,
            holder,
            currency,
            amount,
            external_ref,
        } => {
            let p = svc
                .create_position(
                    actor,
                    NewPosition {
                        institution_id: institution,
                        asset_id: asset,
                        holder_reference: holder,
                        currency,
                        amount,
                        external_reference: external_ref,
                    },
                )
                .await?;
            if json {
                print_json(&p);
            } else {
                outln!(
                    "Created position {} ({} {} for {}, {})",
                    p.id,
                    p.amount.display_grouped(),
                    p.currency,
                    s(&p.holder_reference),
                    p.state
                );
            }
        }
        PositionCmd::List {
            institution,
            asset,
            template,
            state,
            holder,
            search,
            page,
        } => {
            let limit = check_limit(page.limit)?;
            let filter = PositionFilter {
                institution_id: institution,
                asset_id: asset,
                template_id: template,
                state: parse_state("state", state)?,
                holder_reference: holder,
                text: search,
            };
            let q = PositionQuery {
                filter,
                cursor: cursor(
                    "after",
                    page.after,
                    crate::domain::ids::POSITION,
                    "a position",
                )?
                .map(|id| crate::service::PositionCursor {
                    value: String::new(),
                    id,
                }),
                limit: limit + 1,
                ..Default::default()
            };
            let rows = svc.list_positions(actor, q).await?;
            let (rows, next) = split_page(rows, limit, |p| p.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &[
                        "ID",
                        "INSTITUTION",
                        "ASSET",
                        "HOLDER",
                        "AMOUNT",
                        "CCY",
                        "STATE",
                        "UPDATED",
                    ],
                    rows.iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.institution_id.clone(),
                                p.asset_id.clone(),
                                p.holder_reference.clone(),
                                amount_cell(&p.amount),
                                p.currency.to_string(),
                                p.state.to_string(),
                                ts(&p.updated_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        PositionCmd::Show { id } => {
            let d = svc.position_detail(actor, &id).await?;
            if json {
                print_json(&d);
            } else {
                let p = &d.position;
                outln!("{}  {}", p.id, p.state);
                outln!("  institution:        {}", p.institution_id);
                outln!("  asset:              {}", p.asset_id);
                outln!("  holder reference:   {}", s(&p.holder_reference));
                outln!(
                    "  amount:             {} {}",
                    p.amount.display_grouped(),
                    p.currency
                );
                outln!("  released · held:    {}", balance_text(p));
                outln!(
                    "  external reference: {}",
                    p.external_reference
                        .as_deref()
                        .map(s)
                        .unwrap_or_else(|| "-".into())
                );
                outln!("  created:            {}", ts(&p.created_at));
                outln!(
                    "  updated:            {} (version {})",
                    ts(&p.updated_at),
                    p.version
                );
                outln!("\nLifecycle");
                outln!("  {}  created as CREATED", ts(&p.created_at));
                for e in &d.events {
                    outln!(
                        "  {}  {} -> {}{}{}{}",
                        ts(&e.at),
                        e.from_state,
                        e.to_state,
                        e.reason
                            .as_deref()
                            .map(|r| format!("  \"{}\"", s(r)))
                            .unwrap_or_default(),
                        e.amount
                            .filter(|m| !m.is_zero())
                            .map(|m| format!("  moved {} {}", m.display_grouped(), p.currency))
                            .unwrap_or_default(),
                        e.actor
                            .as_deref()
                            .map(|a| format!("  by {}", s(a)))
                            .unwrap_or_default()
                    );
                }
            }
        }
        PositionCmd::Transition {
            id,
            to,
            reason,
            expect_state,
            amount,
        } => {
            let r = svc
                .transition_position(
                    actor,
                    &id,
                    TransitionRequest {
                        to,
                        reason,
                        expect_state,
                        expect_version: None,
                        metadata: None,
                        amount,
                    },
                )
                .await?;
            if json {
                print_json(&r);
            } else if r.applied {
                let e = r.event.as_ref().expect("applied transitions have an event");
                outln!(
                    "{}: {} -> {} (ledger seq {}){}",
                    r.position.id,
                    e.from_state,
                    e.to_state,
                    r.ledger_seq.map(|s| s.to_string()).unwrap_or_default(),
                    e.amount
                        .filter(|m| !m.is_zero())
                        .map(|m| format!(
                            "; moved {} {} (released · held: {})",
                            m.display_grouped(),
                            r.position.currency,
                            balance_text(&r.position)
                        ))
                        .unwrap_or_default()
                );
            } else {
                outln!(
                    "{} is already {}: nothing changed",
                    r.position.id,
                    r.position.state
                );
            }
        }
    }
    Ok(0)
}

/// "250.00 · 750.00 USD" (released · held), or why it is not known.
fn balance_text(p: &crate::domain::Position) -> String {
    match (p.released, p.held) {
        (Some(r), Some(h)) => format!(
            "{} · {} {}",
            r.display_grouped(),
            h.display_grouped(),
            p.currency
        ),
        _ => "not known (partial releases recorded without amounts)".into(),
    }
}
