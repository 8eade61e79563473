//! The terminal for the TUI: raw mode, the alternate screen and (optionally) mouse capture on
//! [`Tui::enter`], and their restoration on every way out — a normal exit or an error (the
//! [`Tui`] guard's `Drop`) and a panic of the thread that entered TUI mode (a hook that restores
//! the terminal first, then writes the panic report to the log file, then runs the previous
//! hook). A panic on any other thread (the player's, a tokio worker's) is contained there — the
//! player skips the track, a task ends — while the TUI keeps running: the hook only logs it, and
//! neither restores the terminal nor prints over the screen.
//!
//! Called by `app::run` only. Restoration is idempotent (a flag), so the guard, the panic hook
//! and an explicit [`restore`] can all run without writing the escape sequences twice.

use std::io::{self, Stdout, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};
use std::thread::ThreadId;

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
/// The thread that installed the hook (the one running the TUI): only its panic ends the TUI.
static MAIN: OnceLock<ThreadId> = OnceLock::new();

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

/// On a panic of the TUI's thread: restores the terminal before anything else, logs the
/// report, then chains the previous hook (which prints it to the now-normal terminal). On
/// another thread's panic while the TUI runs: logs it only (the previous hook would print over
/// the screen); once the TUI is gone, the previous hook runs as usual.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let _ = MAIN.set(std::thread::current().id());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let backtrace = std::backtrace::Backtrace::force_capture();
            if !is_tui_thread() && ACTIVE.load(Ordering::SeqCst) {
                let thread = std::thread::current();
                let name = thread.name().unwrap_or("unnamed");
                tracing::error!(panic = %info, %backtrace, thread = name, "a tonearm thread panicked; the TUI goes on");
                return;
            }
            restore();
            tracing::error!(panic = %info, %backtrace, "tonearm panicked");
            previous(info);
        }));
    });
}

/// Whether the current thread is the one that entered TUI mode.
fn is_tui_thread() -> bool {
    MAIN.get() == Some(&std::thread::current().id())
}
