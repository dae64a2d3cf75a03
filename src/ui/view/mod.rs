//! Pure rendering: every function draws from `&AppState` into a ratatui frame.

mod connections;
pub mod detail;
mod messages;
mod status;

use super::state::{AppState, Focus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Where each pane goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// Connections table.
    pub conns: Rect,
    /// Messages list.
    pub messages: Rect,
    /// Detail pane (beside the messages when wide, instead of them when narrow).
    pub detail: Option<Rect>,
    /// Status bar.
    pub status: Rect,
}

/// Lays out the screen. Narrow terminals show the detail pane instead of the messages while it
/// has the focus; wide ones show both side by side.
pub fn layout(area: Rect, s: &AppState) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let conn_rows = (s.conns.len() as u16 + 3).clamp(4, (main.height / 3).max(4));
    let [conns, lower] =
        Layout::vertical([Constraint::Length(conn_rows), Constraint::Min(3)]).areas(main);
    if lower.width >= 120 {
        let [messages, detail] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(lower);
        Areas { conns, messages, detail: Some(detail), status }
    } else if s.focus == Focus::Detail {
        Areas { conns, messages: Rect::default(), detail: Some(lower), status }
    } else {
        Areas { conns, messages: lower, detail: None, status }
    }
}

/// Rows of content inside a bordered pane (minus a header row when `header`).
pub fn inner_rows(r: Rect, header: bool) -> usize {
    r.height.saturating_sub(2 + u16::from(header)) as usize
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame<'_>, s: &AppState) {
    let a = layout(f.area(), s);
    connections::draw(f, a.conns, s);
    if a.messages.height > 0 {
        messages::draw(f, a.messages, s);
    }
    if let Some(d) = a.detail {
        detail::draw(f, d, s);
    }
    status::draw(f, a.status, s);
    if s.show_help {
        help(f, s);
    }
}

/// A pane's border, highlighted when it has the focus.
fn pane<'a>(title: String, focused: bool, s: &AppState) -> Block<'a> {
    let style = if focused {
        if s.color {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    } else {
        Style::default()
    };
    Block::default().borders(Borders::ALL).border_style(style).title(title)
}

/// Style helper honouring `--color never`.
fn fg(s: &AppState, c: Color) -> Style {
    if s.color { Style::default().fg(c) } else { Style::default() }
}

/// The style of the selected row.
fn selected(s: &AppState, focused: bool) -> Style {
    let st = Style::default().add_modifier(Modifier::REVERSED);
    if focused || !s.color { st } else { Style::default().add_modifier(Modifier::BOLD) }
}

const HELP: &str = "\
Navigation                           Filters
  Tab S-Tab  next / previous pane      /    search all connections (regex)
  ↑ ↓ j k    move   PgUp PgDn page     n N  next / previous match
  Enter      open   Esc  back          d    direction: all, →, ←
  Home End   first / last (follows)    o    opcodes: all, data, control
View                                   x    findings and gaps only
  t  time: connection, capture,        ] [  next / previous finding
     delta, UTC, local                 a    plain TCP connections too
  v  payload: pretty, raw, hex, base64 s    sort connections
  F  follow new messages               space  pause / resume the view
Columns  ↑/↓ messages client→server / server→client; 107/27z: 107 B
         after inflating, 27 B on the wire (permessage-deflate)
Save (you name the file; an existing one is never replaced)
  w  payload   W  connection (NDJSON)   e  filtered view (NDJSON)
  y  copy the payload to the clipboard (OSC 52: works over SSH, tmux)
  q / Ctrl-C  quit                      ?  this help";

fn help(f: &mut Frame<'_>, s: &AppState) {
    let area = f.area();
    let w = 78.min(area.width.saturating_sub(2));
    let h = 19.min(area.height.saturating_sub(2));
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let block = pane(" keys — ? or Esc to close ".to_string(), true, s);
    f.render_widget(Paragraph::new(HELP).block(block).wrap(Wrap { trim: false }), r);
}
