//! The dialogs over the console, one module each, each with its state, its keys and its drawing.
//! A dialog reads keys through the key map (its own context, so its keys are listed in the help
//! overlay and can be remapped) and answers with an `Outcome`; the router acts on it, or hands it
//! to the view that opened the dialog.

pub mod command_input;
pub mod command_line;
pub mod confirm;
pub mod form;
pub mod help;
pub mod line;
pub mod message;
pub mod picker;
pub mod transition;

use super::keymap::{Context, Key, KeyMap};
use super::theme::Theme;
use crossterm::event::KeyEvent;
use form::{Lookup, Submission};
use ratatui::Frame;
use ratatui::layout::Rect;

pub use command_input::CommandInput;
pub use confirm::{Confirm, Confirmed};
pub use form::Form;
pub use help::Help;
pub use line::LineInput;
pub use message::Message;
pub use picker::{Picker, PickerPurpose};
pub use transition::TransitionDialog;

pub enum Popup {
    /// The key overlay; it draws what the router gives it (the keys of the view under it).
    Help(Help),
    Message(Message),
    Confirm(Confirm),
    Form(Box<Form>),
    Transition(Box<TransitionDialog>),
    /// The `:` line.
    CommandLine(CommandInput),
    /// The `/` text filter.
    Filter(LineInput),
    Picker(Picker),
}

/// What a key did to a dialog.
pub enum Outcome {
    /// It stays as it is, or changed only itself.
    Keep,
    /// It closes.
    Close,
    /// Another dialog opens over it (it waits underneath).
    Push(Popup),
    /// It closes and another opens in its place.
    Replace(Popup),
    /// A question answered yes.
    Confirmed(Confirmed),
    /// A question answered no: back to what waits underneath.
    Declined,
    Picked(PickerPurpose, Option<String>),
    /// A `:` command to run.
    Command(String),
    /// The `:` line closed without running anything.
    CommandCancelled,
    /// The `/` filter's text while it is typed, when applied, and when abandoned.
    FilterTyped(String),
    FilterApplied(String),
    FilterCancelled,
    /// A valid form to send (it waits, marked as saving, for the reply).
    Submit(Submission),
    /// Copy the API key token shown.
    Copy(String),
    Quit,
}

impl Popup {
    /// The key map context of the dialog.
    pub fn context(&self) -> Context {
        match self {
            Popup::Help(_) => Context::KeyHelp,
            Popup::Message(_) => Context::Message,
            Popup::Confirm(_) => Context::Confirm,
            Popup::Form(_) => Context::Form,
            Popup::Transition(_) => Context::TransitionDialog,
            Popup::CommandLine(_) | Popup::Filter(_) => Context::LineInput,
            Popup::Picker(_) => Context::Picker,
        }
    }

    pub fn on_key(&mut self, k: KeyEvent, keys: &KeyMap, lookup: &Lookup) -> Outcome {
        let ctx = self.context();
        let key = Key::from_event(&k);
        let action = keys.action(ctx, key);
        if action == Some(super::keymap::Action::Quit) {
            return Outcome::Quit;
        }
        match self {
            Popup::Help(h) => h.on_action(action),
            Popup::Message(m) => m.on_action(action),
            Popup::Confirm(c) => c.on_action(action),
            Popup::Form(f) => f.on_key(k, keys.actions(ctx, key).collect(), lookup),
            Popup::Transition(d) => d.on_key(k, action),
            Popup::CommandLine(l) => match l.on_key(k, action, lookup.institutions) {
                line::LineEvent::Typed(_) => Outcome::Keep,
                line::LineEvent::Done(text) => Outcome::Command(text),
                line::LineEvent::Cancelled => Outcome::CommandCancelled,
            },
            Popup::Filter(l) => match l.on_key(k, action) {
                line::LineEvent::Typed(text) => Outcome::FilterTyped(text),
                line::LineEvent::Done(text) => Outcome::FilterApplied(text),
                line::LineEvent::Cancelled => Outcome::FilterCancelled,
            },
            Popup::Picker(p) => p.on_key(k, action),
        }
    }

    /// Whether closing it would lose what the operator typed.
    pub fn has_input(&self) -> bool {
        match self {
            Popup::Form(f) => f.touched,
            Popup::Transition(t) => !t.reason.is_empty(),
            _ => false,
        }
    }

    /// Draws the dialog over `area` (the whole screen); the one-line inputs take the `line` row.
    pub fn draw(&self, f: &mut Frame, area: Rect, line: Rect, theme: &Theme, keys: &KeyMap) {
        match self {
            Popup::Help(h) => h.draw(f, area, theme, keys),
            Popup::Message(m) => m.draw(f, area, theme, keys),
            Popup::Confirm(c) => c.draw(f, area, theme, keys),
            Popup::Form(form) => form::draw::draw(f, form, area, theme, keys),
            Popup::Transition(d) => d.draw(f, area, theme, keys),
            Popup::CommandLine(l) => l.draw(f, line, theme),
            Popup::Filter(l) => l.draw(f, line, "/", theme),
            Popup::Picker(p) => p.draw(f, area, theme, keys),
        }
    }
}
