//! TUI benchmark: a million messages loaded, then the time from a key's action to a rendered
//! screen (state update + layout + full draw into ratatui's TestBackend at 160×48), and the
//! process's memory (VmRSS / VmHWM from /proc/self/status).
//!
//! Run: `cargo bench --bench tui` (`WSSCOPE_BENCH_MESSAGES` sets the count, default 1 000 000).
//! Without `--bench` it checks a small load quickly.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, Instant};
use wsscope::event::{Event, Payload, Position};
use wsscope::tcp::{ConnId, Direction, RoleSource};
use wsscope::time::Timestamp;
use wsscope::ui::state::{Action, AppState};
use wsscope::ui::view;
use wsscope::ws::OpCode;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn events(n: usize, conns: u64) -> impl Iterator<Item = Event> {
    let opens = (1..=conns).map(|c| {
        let client = format!("10.0.{}.{}:{}", c / 250, c % 250, 40000 + c).parse().unwrap();
        let server = "10.9.9.9:443".parse().unwrap();
        Event::Connection {
            connection: ConnId(c),
            client,
            server,
            community_id: wsscope::tcp::CommunityId::tcp(client, server, 0),
            role: RoleSource::Syn,
            continues: None,
            packet: c,
            ts: Timestamp::from_secs_nanos(1_700_000_000, 0),
        }
    });
    let msgs = (0..n).map(move |i| {
        let text = format!(
            r#"{{"type":"tick","seq":{i},"symbol":"BTC-USD","price":{}.{:02},"size":{}}}"#,
            60000 + i % 700,
            i % 100,
            1 + i % 9
        );
        let pos = Position {
            packet: i as u64 + 100,
            ts: Timestamp::from_nanos(1_700_000_000_000_000_000 + i as i64 * 1000),
            offset: i as u64 * 90,
        };
        Event::Message {
            connection: ConnId(1 + (i as u64 % conns)),
            direction: if i % 3 == 0 {
                Direction::ClientToServer
            } else {
                Direction::ServerToClient
            },
            opcode: OpCode::Text,
            complete: true,
            length: Some(text.len() as u64),
            captured_length: text.len() as u64,
            missing: Some(0),
            wire_length: text.len() as u64,
            compressed: false,
            fragments: 1,
            first: pos,
            last: pos,
            end: pos,
            payload: Payload::Text(text),
            truncated: false,
            close: None,
            rtt: None,
        }
    });
    opens.chain(msgs)
}

fn render(s: &mut AppState, t: &mut Terminal<TestBackend>) {
    let areas = view::layout(ratatui::layout::Rect::new(0, 0, 160, 48), s);
    s.page = view::inner_rows(areas.messages, false).max(1);
    s.keep_msg_visible();
    s.keep_conn_visible(view::inner_rows(areas.conns, true));
    t.draw(|f| view::draw(f, s)).unwrap();
}

fn main() {
    let timing = std::env::args().any(|a| a == "--bench");
    let n: usize = if timing {
        std::env::var("WSSCOPE_BENCH_MESSAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    } else {
        20_000
    };
    let rss0 = rss_kib("VmRSS:");
    let mut s = AppState::new(256 << 20);
    let t0 = Instant::now();
    // Two busy connections hold most messages; the rest are idle.
    for e in events(n, 2).chain(events(0, 50).skip(2)) {
        s.apply(&e);
    }
    let load = t0.elapsed();
    assert_eq!(s.total_messages as usize, n);
    let rss1 = rss_kib("VmRSS:");
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    render(&mut s, &mut term);
    s.handle(Action::Enter);
    let script: Vec<(&str, Vec<Action>)> = vec![
        ("Down", vec![Action::Down]),
        ("PageUp", vec![Action::PageUp]),
        ("Home (first of 500k)", vec![Action::Home]),
        ("End", vec![Action::End]),
        ("filter: direction →", vec![Action::CycleDirection]),
        ("filter: off", vec![Action::CycleDirection, Action::CycleDirection]),
        ("findings only (none)", vec![Action::ToggleFindingsOnly]),
        ("findings only off", vec![Action::ToggleFindingsOnly]),
        (
            "switch connection there and back (500k each)",
            vec![
                Action::Back,
                Action::Down,
                Action::Enter,
                Action::Back,
                Action::Up,
                Action::Enter,
            ],
        ),
        ("search \"seq\":4999\\d\\d, jump", {
            let mut v = vec![Action::SearchStart];
            v.extend(r#""seq":4999\d\d"#.chars().map(Action::PromptChar));
            v.push(Action::PromptSubmit);
            v
        }),
        ("next match (n)", vec![Action::NextMatch]),
    ];
    if !timing {
        for (_, actions) in &script {
            for a in actions {
                s.handle(a.clone());
            }
            render(&mut s, &mut term);
        }
        println!("tui: correctness check only ({n} messages); timings: cargo bench --bench tui");
        return;
    }
    println!(
        "{n} messages in {} connections: folded in {:.2} s ({:.0} events/s)",
        s.conns.len(),
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64()
    );
    println!(
        "memory: RSS {:.0} MiB after loading (+{:.0} MiB for the messages, {:.0} bytes each; payloads kept: {:.0} MiB of budget 256 MiB), peak {:.0} MiB",
        rss1 as f64 / 1024.0,
        (rss1 - rss0) as f64 / 1024.0,
        (rss1 - rss0) as f64 * 1024.0 / n as f64,
        s.payload_bytes as f64 / (1 << 20) as f64,
        rss_kib("VmHWM:") as f64 / 1024.0
    );
    println!(
        "\nkey → screen (action + layout + full draw at 160×48), best / median / worst of 20:"
    );
    for (name, actions) in &script {
        let mut times: Vec<Duration> = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            for a in actions {
                s.handle(a.clone());
            }
            render(&mut s, &mut term);
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "  {name:<34} {:>9.3} ms {:>9.3} ms {:>9.3} ms",
            ms(times[0]),
            ms(times[10]),
            ms(times[19])
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
