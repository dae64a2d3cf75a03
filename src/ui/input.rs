//! Keys and mouse → [`Action`]s. The mapping is data; `?` shows it.

use super::state::{Action, Prompt};
use super::view::Areas;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;

/// The action for a key, given whether a prompt is open.
pub fn key_action(k: KeyEvent, prompt: &Prompt) -> Option<Action> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if !matches!(prompt, Prompt::None) {
        return match k.code {
            KeyCode::Enter => Some(Action::PromptSubmit),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Backspace if k.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::PromptDeleteWord)
            }
            KeyCode::Backspace => Some(Action::PromptBackspace),
            // Readline's line editing: Ctrl-U clears, Ctrl-W deletes the word before the cursor;
            // other control keys are not text.
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::PromptClear)
            }
            KeyCode::Char('w') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                Some(Action::PromptDeleteWord)
            }
            KeyCode::Char(_)
                if k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                None
            }
            KeyCode::Char(c) => Some(Action::PromptChar(c)),
            _ => None,
        };
    }
    Some(match k.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Tab => Action::NextPane,
        KeyCode::BackTab => Action::PrevPane,
        KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => Action::Enter,
        KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') => Action::Back,
        KeyCode::Char('/') => Action::SearchStart,
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('N') => Action::PrevMatch,
        KeyCode::Char('d') => Action::CycleDirection,
        KeyCode::Char('o') => Action::CycleOpcode,
        KeyCode::Char('x') => Action::ToggleFindingsOnly,
        KeyCode::Char(']') => Action::NextFinding,
        KeyCode::Char('[') => Action::PrevFinding,
        KeyCode::Char('t') => Action::ToggleTime,
        KeyCode::Char('y') => Action::CopyPayload,
        KeyCode::Char('v') => Action::CyclePayloadView,
        KeyCode::Char(' ') => Action::TogglePause,
        KeyCode::Char('F') => Action::ToggleFollow,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('a') => Action::ToggleAll,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('w') => Action::SavePayload,
        KeyCode::Char('W') => Action::SaveConnection,
        KeyCode::Char('e') => Action::SaveView,
        _ => return None,
    })
}

/// The action for a mouse event on the current layout.
pub fn mouse_action(m: MouseEvent, areas: &Areas) -> Option<Action> {
    let inside = |r: Rect| {
        m.column >= r.x && m.column < r.x + r.width && m.row >= r.y && m.row < r.y + r.height
    };
    match m.kind {
        MouseEventKind::ScrollUp => Some(Action::ScrollUp),
        MouseEventKind::ScrollDown => Some(Action::ScrollDown),
        MouseEventKind::Down(MouseButton::Left) if inside(areas.conns) => {
            // Border and header rows come first.
            m.row.checked_sub(areas.conns.y + 2).map(Action::ClickConnections)
        }
        MouseEventKind::Down(MouseButton::Left) if inside(areas.messages) => {
            m.row.checked_sub(areas.messages.y + 1).map(Action::ClickMessages)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn typing_in_the_search_prompt_does_not_trigger_shortcuts() {
        let p = Prompt::Search(String::new());
        assert_eq!(key_action(key(KeyCode::Char('q')), &p), Some(Action::PromptChar('q')));
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        assert_eq!(key_action(ctrl('u'), &p), Some(Action::PromptClear));
        assert_eq!(key_action(ctrl('w'), &p), Some(Action::PromptDeleteWord));
        assert_eq!(key_action(ctrl('a'), &p), None, "a control key is not text");
        assert_eq!(key_action(key(KeyCode::Char('q')), &Prompt::None), Some(Action::Quit));
        assert_eq!(
            key_action(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), &p),
            Some(Action::Quit)
        );
    }
}
