//! Logging set-up: `tracing` events go to one log file (never to stdout/stderr, which belong to
//! the TUI or to command output). Called once from `main.rs`.
//!
//! While the TUI runs, a second layer also forwards each line to the log pane through a bounded
//! channel ([`forward_to`]); when the pane does not keep up, lines are dropped there (the file
//! still has them) so logging never blocks a service thread or grows memory.
//!
//! Secrets never reach a log line: the types that hold them (credentials, tokens) redact
//! themselves in `Debug`, and call sites log only non-secret fields.
//!
//! Depends on nothing of the app or the UI: the forwarded line is a plain [`ForwardedLine`].

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Default log file: `$XDG_STATE_HOME/tonearm/tonearm.log`.
pub fn default_log_file() -> Option<PathBuf> {
    crate::paths::state_dir().map(|d| d.join("tonearm.log"))
}

/// One log line as the log pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedLine {
    pub level: Level,
    pub target: String,
    /// The message followed by the event's other fields as `key=value`.
    pub text: String,
}

/// Where the forwarding layer sends lines (none until the TUI asks for them).
static FORWARD: Mutex<Option<mpsc::Sender<ForwardedLine>>> = Mutex::new(None);

/// Starts forwarding log lines (at the file's filter level) into a bounded channel of
/// `capacity` lines; lines that do not fit are dropped. Returns the receiving end.
pub fn forward_to(capacity: usize) -> mpsc::Receiver<ForwardedLine> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    if let Ok(mut slot) = FORWARD.lock() {
        *slot = Some(tx);
    }
    rx
}

/// Stops forwarding (the TUI is closing).
pub fn stop_forwarding() {
    if let Ok(mut slot) = FORWARD.lock() {
        *slot = None;
    }
}

/// The layer that copies events into [`FORWARD`]'s channel.
struct ForwardLayer;

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        // Cheap when nobody listens: one uncontended lock, no formatting.
        let Ok(slot) = FORWARD.try_lock() else {
            return;
        };
        let Some(tx) = slot.as_ref() else {
            return;
        };
        if tx.capacity() == 0 {
            return; // full: drop the line rather than block or buffer
        }
        let mut v = LineVisitor::default();
        event.record(&mut v);
        let mut text = v.message;
        text.push_str(&v.fields);
        let _ = tx.try_send(ForwardedLine {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            text,
        });
    }
}

/// Installs the global subscriber writing to `path` (appending). `filter` is an `EnvFilter`
/// directive such as `info` or `tonearm=debug`; `TONEARM_LOG` overrides it.
pub fn init(path: &Path, filter: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let filter = EnvFilter::try_from_env("TONEARM_LOG")
        .or_else(|_| EnvFilter::try_new(filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(Mutex::new(file));
    // A second init (tests, embedded use) is not an error worth failing over.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(ForwardLayer)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_drops_lines_when_the_channel_is_full() {
        let subscriber = tracing_subscriber::registry().with(ForwardLayer);
        let mut rx = forward_to(2);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(n = 1, "first");
            tracing::warn!("second");
            tracing::info!("third: dropped");
        });
        stop_forwarding();
        let a = rx.try_recv().expect("first line");
        assert_eq!(a.level, Level::INFO);
        assert_eq!(a.text, "first n=1");
        let b = rx.try_recv().expect("second line");
        assert_eq!(b.text, "second");
        assert!(
            rx.try_recv().is_err(),
            "the third line must have been dropped"
        );
    }
}
