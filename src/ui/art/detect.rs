//! What the terminal can draw, asked once at start-up: kitty's graphics query, the primary
//! device attributes (sixel is attribute 4), the cell size in pixels, and a device status
//! report that every terminal answers, so the answer has an end. The answer is read from stdin
//! with a deadline (poll) on this thread: nothing is left reading stdin afterwards, so no key
//! typed later is lost and no late answer is half-read.
//!
//! Inside tmux the query goes to tmux itself (tmux answers at once, also when detached); the
//! outer terminal's protocol then comes from ratatui-image's environment hints
//! (`KITTY_WINDOW_ID`, `TERM_PROGRAM`, …), as ratatui-image does. Called by
//! [`super::ArtRenderer::detect`]; [`interpret`] is the pure half the tests feed fake answers.

use std::time::Duration;

use ratatui_image::picker::cap_parser::{Parser, QueryStdioOptions, Response};
use ratatui_image::picker::{Picker, ProtocolType};

/// How long the terminal has to answer (local terminals answer in milliseconds; a slow ssh
/// link may take a few hundred).
pub const DEADLINE: Duration = Duration::from_millis(1000);

/// What the answer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub kitty: bool,
    pub sixel: bool,
    /// Cell size in pixels (width, height).
    pub cell: Option<(u16, u16)>,
    /// The device status report arrived (the answer is complete).
    pub complete: bool,
}

/// Parses a terminal's answer to [`query`].
pub fn interpret(bytes: &[u8]) -> Answer {
    let mut parser = Parser::new();
    let mut a = Answer {
        kitty: false,
        sixel: false,
        cell: None,
        complete: false,
    };
    for &b in bytes {
        for r in parser.push(char::from(b)) {
            match r {
                Response::Kitty => a.kitty = true,
                Response::Sixel => a.sixel = true,
                Response::CellSize(Some((w, h))) if w > 0 && h > 0 => a.cell = Some((w, h)),
                Response::Status => a.complete = true,
                _ => {}
            }
        }
    }
    a
}

/// The picker for an answer: an environment hint for an outer terminal (tmux, iTerm2-like
/// terminals) first, then kitty, then sixel; `None` (half-blocks) without a cell size
/// (graphics cannot be sized without it) or without any graphics support.
pub fn picker_for(a: &Answer) -> Option<Picker> {
    let cell = a.cell?;
    // `from_fontsize` reads the environment hints and notes tmux (for passthrough escaping).
    #[allow(deprecated)]
    let mut p = Picker::from_fontsize(cell);
    if p.protocol_type() == ProtocolType::Halfblocks {
        if a.kitty {
            p.set_protocol_type(ProtocolType::Kitty);
        } else if a.sixel {
            p.set_protocol_type(ProtocolType::Sixel);
        } else {
            return None;
        }
    }
    Some(p)
}

/// Writes the query to stdout and reads the answer until it is complete or [`DEADLINE`]
/// passes. The terminal must be in raw mode (no echo, no line buffering).
#[cfg(unix)]
pub fn query() -> std::io::Result<Answer> {
    use std::io::Write as _;
    use std::time::Instant;

    use rustix::event::{poll, PollFd, PollFlags};

    let q = Parser::query(false, QueryStdioOptions::default());
    let mut out = std::io::stdout();
    out.write_all(q.as_bytes())?;
    out.flush()?;

    let stdin = rustix::stdio::stdin();
    let end = Instant::now() + DEADLINE;
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
        if poll(&mut fds, ms)? == 0 {
            break;
        }
        // Unbuffered: only what is there is taken, nothing is kept from the event stream.
        let n = rustix::io::read(stdin, &mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if interpret(&answer).complete || answer.len() > 4096 {
            break;
        }
    }
    Ok(interpret(&answer))
}

#[cfg(not(unix))]
pub fn query() -> std::io::Result<Answer> {
    Err(std::io::Error::other("no terminal query on this platform"))
}
