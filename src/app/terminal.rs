//! The terminal for the TUI: raw mode, the alternate screen and (optionally) mouse capture on
//! [`Tui::enter`], and their restoration on every way out — a normal exit or an error (the
//! [`Tui`] guard's `Drop`) and a panic (a hook that restores the terminal first, then writes the
//! panic report to the log file, then runs the previous hook).
//!
//! Called by `app::run` only. Restoration is idempotent (a flag), so the guard, the panic hook
//! and an explicit [`restore`] can all run without writing the escape sequences twice.

use std::io::{self, Stdout, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// The terminal is in TUI mode (raw, alternate screen) and must be restored.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Mouse capture was turned on.
static MOUSE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

pub type Backend = CrosstermBackend<Stdout>;

/// The terminal in TUI mode; restored when dropped.
pub struct Tui {
    pub terminal: Terminal<Backend>,
}

impl Tui {
    /// Installs the panic hook (once), switches to raw mode and the alternate screen, and turns
    /// mouse capture on when `mouse`.
    pub fn enter(mouse: bool) -> io::Result<Tui> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        let setup = (|| {
            execute!(out, EnterAlternateScreen, cursor::Hide)?;
            if mouse {
                execute!(out, EnableMouseCapture)?;
                MOUSE.store(true, Ordering::SeqCst);
            }
            Terminal::new(CrosstermBackend::new(io::stdout()))
        })();
        match setup {
            Ok(terminal) => Ok(Tui { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves TUI mode (no-op when not in it): mouse capture off, main screen, cursor shown, cooked
/// mode. Errors are ignored: there is nothing better to do on the way out.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut out = io::stdout();
    if MOUSE.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, DisableMouseCapture);
    }
    let _ = execute!(out, LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Restores the terminal before anything else on a panic, logs the report, then chains the
/// previous hook (which prints it to the now-normal terminal).
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            let backtrace = std::backtrace::Backtrace::force_capture();
            tracing::error!(panic = %info, %backtrace, "tonearm panicked");
            previous(info);
        }));
    });
}
