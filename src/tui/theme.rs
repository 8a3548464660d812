//! Colours by role. The config can override any role (`[console.theme] accent = "magenta"`), and
//! `NO_COLOR` turns colour off entirely (selection and emphasis then use reverse and bold).

use crate::domain::PositionState;
use ratatui::style::{Color, Modifier, Style};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Theme {
    pub color: bool,
    pub accent: Color,
    pub muted: Color,
    pub error: Color,
    pub warn: Color,
    pub ok: Color,
    pub selected_bg: Color,
    pub highlight: Color,
    pub created: Color,
    pub funded: Color,
    pub partially_released: Color,
    pub released: Color,
    pub cancelled: Color,
    pub expired: Color,
}

impl Default for Theme {
    fn default() -> Self {
        Theme {
            color: true,
            accent: Color::Cyan,
            muted: Color::DarkGray,
            error: Color::Red,
            warn: Color::Yellow,
            ok: Color::Green,
            selected_bg: Color::Rgb(40, 60, 90),
            highlight: Color::Yellow,
            created: Color::Blue,
            funded: Color::Cyan,
            partially_released: Color::Magenta,
            released: Color::Green,
            cancelled: Color::Red,
            expired: Color::DarkGray,
        }
    }
}

pub const ROLES: &[&str] = &[
    "accent",
    "muted",
    "error",
    "warn",
    "ok",
    "selected_bg",
    "highlight",
    "created",
    "funded",
    "partially_released",
    "released",
    "cancelled",
    "expired",
];

impl Theme {
    /// The default theme with config overrides; `no_color` wins over everything.
    pub fn load(overrides: &BTreeMap<String, String>, no_color: bool) -> Result<Theme, String> {
        let mut t = Theme::default();
        for (role, value) in overrides {
            let c: Color = value
                .parse()
                .map_err(|_| format!("console.theme.{role}: '{value}' is not a colour (a name such as light-blue, or #rrggbb)"))?;
            let slot = match role.as_str() {
                "accent" => &mut t.accent,
                "muted" => &mut t.muted,
                "error" => &mut t.error,
                "warn" => &mut t.warn,
                "ok" => &mut t.ok,
                "selected_bg" => &mut t.selected_bg,
                "highlight" => &mut t.highlight,
                "created" => &mut t.created,
                "funded" => &mut t.funded,
                "partially_released" => &mut t.partially_released,
                "released" => &mut t.released,
                "cancelled" => &mut t.cancelled,
                "expired" => &mut t.expired,
                other => {
                    return Err(format!(
                        "console.theme.{other}: no such colour role; roles are {}",
                        ROLES.join(", ")
                    ));
                }
            };
            *slot = c;
        }
        if no_color {
            t.color = false;
        }
        Ok(t)
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }
    pub fn muted(&self) -> Style {
        if self.color {
            self.fg(self.muted)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }
    pub fn error(&self) -> Style {
        self.fg(self.error).add_modifier(Modifier::BOLD)
    }
    pub fn warn(&self) -> Style {
        self.fg(self.warn)
    }
    pub fn ok(&self) -> Style {
        self.fg(self.ok)
    }
    pub fn header(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }
    pub fn selected(&self) -> Style {
        if self.color {
            Style::default()
                .bg(self.selected_bg)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }
    /// Matches of the text filter inside cells.
    pub fn matched(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(self.highlight)
        } else {
            Style::default().add_modifier(Modifier::UNDERLINED | Modifier::BOLD)
        }
    }
    pub fn focus(&self) -> Style {
        self.fg(self.accent).add_modifier(Modifier::BOLD)
    }

    /// The state badge: coloured text (bold when colour is off, so it still stands out).
    pub fn state(&self, s: PositionState) -> Style {
        let c = match s {
            PositionState::Created => self.created,
            PositionState::Funded => self.funded,
            PositionState::PartiallyReleased => self.partially_released,
            PositionState::Released => self.released,
            PositionState::Cancelled => self.cancelled,
            PositionState::Expired => self.expired,
        };
        self.fg(c).add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_no_color() {
        let mut o = BTreeMap::new();
        o.insert("accent".to_string(), "magenta".to_string());
        o.insert("released".to_string(), "#00ff00".to_string());
        let t = Theme::load(&o, false).unwrap();
        assert_eq!(t.accent, Color::Magenta);
        assert_eq!(t.released, Color::Rgb(0, 255, 0));
        let t = Theme::load(&o, true).unwrap();
        assert_eq!(t.accent().fg, None, "NO_COLOR: no colours at all");
        assert!(t.selected().add_modifier.contains(Modifier::REVERSED));
        o.insert("sparkles".to_string(), "red".to_string());
        assert!(
            Theme::load(&o, false)
                .unwrap_err()
                .contains("no such colour role")
        );
        let mut bad = BTreeMap::new();
        bad.insert("accent".to_string(), "notacolour".to_string());
        assert!(
            Theme::load(&bad, false)
                .unwrap_err()
                .starts_with("console.theme.accent:")
        );
    }
}
