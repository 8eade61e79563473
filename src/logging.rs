//! Logging set-up: `tracing` events go to one log file (never to stdout/stderr, which belong to
//! the TUI or to command output). Called once from `main.rs`.
//!
//! The file is private and bounded (issue 12): it is created mode 0600 (an older, looser one
//! is tightened at open) because it holds user names and track titles, and [`RotatingFile`]
//! caps it at [`MAX_LOG_BYTES`], keeping [`KEEP_LOG_FILES`] files (`tonearm.log`,
//! `tonearm.log.1`, `tonearm.log.2`). Rotation is checked at open and before each line is
//! written, in the writer: two renames and an open, once per 10 MiB, on the thread that logs
//! the line — no background thread, no lock held longer than one line. A line that cannot be
//! written is dropped rather than reported on stderr (which the TUI owns).
//!
//! Values that come from the network (user and device names, server messages) must not forge
//! log lines: [`EscapedFields`], the one field formatter of the file (and the log pane),
//! writes CR, LF and every other control character of messages and field values as `\r`,
//! `\n`, `\u{..}`, so one event is always one line.
//!
//! While the TUI runs, a second layer also forwards each line to the log pane through a bounded
//! channel ([`forward_to`]); when the pane does not keep up, lines are dropped there (the file
//! still has them) so logging never blocks a service thread or grows memory.
//!
//! Secrets never reach a log line: the types that hold them (credentials, tokens) redact
//! themselves in `Debug`, and call sites log only non-secret fields.
//!
//! Depends on nothing of the app or the UI: the forwarded line is a plain [`ForwardedLine`].

use std::fmt::{self as stdfmt, Write as _};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The size at which the log file is rotated.
pub const MAX_LOG_BYTES: u64 = 10 * 1024 * 1024;
/// How many log files are kept, the current one included.
pub const KEEP_LOG_FILES: usize = 3;

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
            let _ = Escape(&mut self.message).write_str(value);
        } else {
            let _ = write!(self.fields, " {}=", field.name());
            let _ = Escape(&mut self.fields).write_str(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(Escape(&mut self.message), "{value:?}");
        } else {
            let _ = write!(self.fields, " {}=", field.name());
            let _ = write!(Escape(&mut self.fields), "{value:?}");
        }
    }
}

/// Writes through to `W`, escaping what could break a log line or a terminal: CR, LF, tab and
/// every other control character (C0, DEL, C1), the Unicode line and paragraph separators and
/// the bidirectional overrides (which can make a line read differently from what it holds).
pub struct Escape<W>(pub W);

impl<W: stdfmt::Write> stdfmt::Write for Escape<W> {
    fn write_str(&mut self, s: &str) -> stdfmt::Result {
        let mut rest = s;
        while let Some(pos) = rest.find(needs_escape) {
            self.0.write_str(&rest[..pos])?;
            let c = rest[pos..].chars().next().unwrap_or_default();
            match c {
                '\r' => self.0.write_str("\\r")?,
                '\n' => self.0.write_str("\\n")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
            }
            rest = &rest[pos + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with [`Escape`] applied (for callers that build text outside a log event).
pub fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = Escape(&mut out).write_str(s);
    out
}

/// The log file's field formatter: like tracing-subscriber's default (`message`, then
/// `name=value` separated by spaces; string fields quoted), with every value passed through
/// [`Escape`]. Used for event and span fields alike.
#[derive(Debug, Default, Clone, Copy)]
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> stdfmt::Result {
        let mut v = EscapingVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct EscapingVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: stdfmt::Result,
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        if !self.first {
            self.result = self.writer.write_char(' ');
        }
        self.first = false;
        let name = field.name();
        if name != "message" {
            let name = name.strip_prefix("r#").unwrap_or(name);
            self.result = self.result.and_then(|()| write!(self.writer, "{name}="));
        }
        self.result = self
            .result
            .and_then(|()| write!(Escape(&mut self.writer), "{value:?}"));
    }
}

/// The log file, size-capped with rotation (see the module docs). Its writers never fail:
/// a line that cannot be written is dropped.
#[derive(Debug)]
pub struct RotatingFile {
    inner: Mutex<Rotating>,
}

#[derive(Debug)]
struct Rotating {
    path: PathBuf,
    file: Option<File>,
    /// Bytes in the current file (as far as this process knows).
    size: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (creating, mode 0600) `path` for appending, rotating first when it is already at
    /// `max_bytes`. `keep` counts the current file; at least 1.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let mut r = Rotating {
            path: path.to_path_buf(),
            file: None,
            size: 0,
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
        };
        r.reopen()?;
        if r.size >= r.max_bytes {
            r.rotate()?;
        }
        Ok(RotatingFile {
            inner: Mutex::new(r),
        })
    }

    /// The file name of rotated copy `n` (`tonearm.log.1` …).
    pub fn rotated_path(path: &Path, n: usize) -> PathBuf {
        let mut name = path.as_os_str().to_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }
}

impl Rotating {
    fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        let file = open_private_append(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// `tonearm.log.{keep-2}` → `.{keep-1}`, …, `tonearm.log` → `.1`, then a fresh file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file = None;
        if self.keep == 1 {
            remove_if_present(&self.path)?;
        } else {
            for n in (1..self.keep - 1).rev() {
                let from = RotatingFile::rotated_path(&self.path, n);
                if from.exists() {
                    fs::rename(&from, RotatingFile::rotated_path(&self.path, n + 1))?;
                }
            }
            if self.path.exists() {
                fs::rename(&self.path, RotatingFile::rotated_path(&self.path, 1))?;
            }
        }
        self.reopen()
    }

    /// Whether another process (another `tonearm` sharing the log) already rotated the file
    /// this one writes to: then the path names a different file.
    #[cfg(unix)]
    fn rotated_elsewhere(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Some(f), Ok(on_disk)) = (&self.file, fs::metadata(&self.path)) else {
            return true;
        };
        f.metadata()
            .map(|ours| ours.ino() != on_disk.ino() || ours.dev() != on_disk.dev())
            .unwrap_or(true)
    }

    #[cfg(not(unix))]
    fn rotated_elsewhere(&self) -> bool {
        false
    }

    fn write_line(&mut self, buf: &[u8]) {
        let len = buf.len() as u64;
        if self.file.is_none() || self.size.saturating_add(len) > self.max_bytes {
            let result = if self.file.is_some() && self.rotated_elsewhere() {
                self.reopen().and_then(|()| {
                    if self.size.saturating_add(len) > self.max_bytes {
                        self.rotate()
                    } else {
                        Ok(())
                    }
                })
            } else {
                self.rotate()
            };
            if result.is_err() && self.file.is_none() {
                // Cannot rotate or reopen: try once more to append where we were.
                self.file = open_private_append(&self.path).ok();
            }
        }
        if let Some(f) = self.file.as_mut() {
            if io::Write::write_all(f, buf).is_ok() {
                self.size = self.size.saturating_add(len);
            }
        }
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Opens `path` for appending, creating it with mode 0600; an existing file others can read
/// (an older tonearm created it with the umask) is tightened to 0600.
fn open_private_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let file = opts.open(path)?;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(mode & 0o700))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    opts.open(path)
}

/// One event's writer: the formatted line arrives in one `write_all`, which ends up as one
/// [`Rotating::write_line`].
pub struct RotatingWriter<'a>(&'a Mutex<Rotating>);

impl io::Write for RotatingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_line(buf);
        // Never an error: tracing-subscriber would print it on stderr, over the TUI.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RotatingFile {
    type Writer = RotatingWriter<'a>;

    fn make_writer(&'a self) -> RotatingWriter<'a> {
        RotatingWriter(&self.inner)
    }
}

/// The file layer: plain text (no ANSI), fields through [`EscapedFields`], lines into `writer`.
pub fn file_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .fmt_fields(EscapedFields)
        .with_writer(writer)
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

/// Installs the global subscriber writing to `path` (appending; mode 0600; rotated at
/// [`MAX_LOG_BYTES`], [`KEEP_LOG_FILES`] kept). `filter` is a level, target directives or both,
/// comma-separated, such as `info`, `tonearm=debug` or `warn,tonearm::connect=trace`;
/// `TONEARM_LOG` overrides it. A filter that does not parse falls back to `info`.
pub fn init(path: &Path, filter: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = RotatingFile::open(path, MAX_LOG_BYTES, KEEP_LOG_FILES)?;
    let filter = std::env::var("TONEARM_LOG")
        .ok()
        .and_then(|v| parse_filter(&v))
        .or_else(|| parse_filter(filter))
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO));
    // A second init (tests, embedded use) is not an error worth failing over.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer(file))
        .with(ForwardLayer)
        .try_init();
    Ok(())
}

/// A log filter: a default level and per-target levels (`info`, `tonearm=debug`,
/// `warn,tonearm::connect=trace`). tracing-subscriber's `Targets` rather than its `EnvFilter`:
/// the span and field matching of `EnvFilter` is never used here, and its regex engine was
/// the largest piece of code paged in at start-up (the RSS budget, issue 10). `None` when the
/// text is not such a filter.
pub fn parse_filter(text: &str) -> Option<Targets> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_levels_and_targets() {
        let info = parse_filter("info").expect("a level");
        assert!(info.would_enable("tonearm::player", &Level::INFO));
        assert!(!info.would_enable("tonearm::player", &Level::DEBUG));
        let one = parse_filter(" warn,tonearm::connect=trace ").expect("directives");
        assert!(one.would_enable("tonearm::connect::dealer", &Level::TRACE));
        assert!(one.would_enable("tonearm::player", &Level::WARN));
        assert!(!one.would_enable("tonearm::player", &Level::INFO));
        let only = parse_filter("tonearm=debug").expect("a target");
        assert!(only.would_enable("tonearm::audio", &Level::DEBUG));
        assert!(!only.would_enable("hyper", &Level::ERROR));
        for bad in ["", "  ", "a=b=c", "tonearm=loud"] {
            assert!(parse_filter(bad).is_none(), "{bad:?} parsed");
        }
    }

    fn log_to(file: RotatingFile, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(file_layer(file));
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn network_text_cannot_forge_a_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tonearm.log");
        let file = RotatingFile::open(&path, MAX_LOG_BYTES, KEEP_LOG_FILES).expect("open");
        let evil = "x\r\nFAKE LINE";
        log_to(file, || {
            let span = tracing::info_span!("zeroconf", device = %evil);
            let _g = span.enter();
            tracing::info!(user = %evil, name = evil, debug = ?evil, "addUser from {evil}");
            tracing::warn!(
                bidi = %"a\u{202e}b", nul = %"a\0b", sep = %"a\u{2028}b", del = %"a\u{7f}b",
                "tab\there"
            );
        });
        let text = fs::read_to_string(&path).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(!text.contains("\nFAKE"), "{text}");
        assert!(lines.iter().all(|l| !l.starts_with("FAKE")), "{text}");
        let first = lines[0];
        assert!(first.contains("addUser from x\\r\\nFAKE LINE"), "{first}");
        assert!(first.contains("user=x\\r\\nFAKE LINE"), "{first}");
        assert!(first.contains("device=x\\r\\nFAKE LINE"), "{first}");
        // String fields stay quoted, as with the default formatter.
        assert!(first.contains(r#"name="x\r\nFAKE LINE""#), "{first}");
        let second = lines[1];
        for escaped in [
            "tab\\there",
            "bidi=a\\u{202e}b",
            "nul=a\\u{0}b",
            "sep=a\\u{2028}b",
            "del=a\\u{7f}b",
        ] {
            assert!(second.contains(escaped), "{escaped} in {second}");
        }
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
    }

    /// [`FORWARD`] is process-wide: the tests that use it take turns.
    static FORWARD_TESTS: Mutex<()> = Mutex::new(());

    #[test]
    fn forwarded_lines_are_escaped_too() {
        let _turn = FORWARD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
        let subscriber = tracing_subscriber::registry().with(ForwardLayer);
        let mut rx = forward_to(4);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(user = %"a\r\nb", "m\n\x1b[2J");
        });
        stop_forwarding();
        let line = rx.try_recv().expect("line");
        assert_eq!(line.text, "m\\n\\u{1b}[2J user=a\\r\\nb");
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).expect("meta").permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_log_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tonearm.log");
        let file = RotatingFile::open(&path, MAX_LOG_BYTES, KEEP_LOG_FILES).expect("open");
        log_to(file, || tracing::info!("hello"));
        assert_eq!(mode(&path), 0o600);
        // One an older tonearm made with the umask is tightened.
        let old = dir.path().join("old.log");
        fs::write(&old, "before\n").expect("write");
        fs::set_permissions(&old, fs::Permissions::from_mode(0o644)).expect("chmod");
        RotatingFile::open(&old, MAX_LOG_BYTES, KEEP_LOG_FILES).expect("open");
        assert_eq!(mode(&old), 0o600);
        assert_eq!(fs::read_to_string(&old).expect("read"), "before\n");
    }

    #[test]
    fn the_log_is_rotated_at_the_cap_and_three_files_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tonearm.log");
        let file = RotatingFile::open(&path, 1000, 3).expect("open");
        log_to(file, || {
            for n in 0..200 {
                tracing::info!(n, "line {n:03}");
            }
        });
        let one = RotatingFile::rotated_path(&path, 1);
        let two = RotatingFile::rotated_path(&path, 2);
        assert_eq!(
            one.file_name().and_then(|n| n.to_str()),
            Some("tonearm.log.1")
        );
        for p in [&path, &one, &two] {
            let len = fs::metadata(p).expect("kept").len();
            assert!(len > 0 && len <= 1000, "{} is {len} bytes", p.display());
            #[cfg(unix)]
            assert_eq!(mode(p), 0o600);
        }
        assert!(!RotatingFile::rotated_path(&path, 3).exists());
        // The newest lines are in the current file, older ones in .1, then .2.
        let current = fs::read_to_string(&path).expect("read");
        assert!(current.contains("line 199"), "{current}");
        let older = fs::read_to_string(&one).expect("read");
        let oldest = fs::read_to_string(&two).expect("read");
        assert!(!older.contains("line 199") && !oldest.contains("line 199"));
        let number = |t: &str| -> u32 {
            let i = t.find("line ").expect("a line") + 5;
            t[i..i + 3].parse().expect("number")
        };
        assert!(number(&oldest) < number(&older) && number(&older) < number(&current));
    }

    #[test]
    fn a_full_log_is_rotated_at_open_and_a_rotation_elsewhere_is_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tonearm.log");
        fs::write(&path, "x".repeat(600)).expect("write");
        let file = RotatingFile::open(&path, 500, 2).expect("open");
        assert_eq!(
            fs::read_to_string(RotatingFile::rotated_path(&path, 1))
                .expect("r")
                .len(),
            600
        );
        assert_eq!(fs::metadata(&path).expect("meta").len(), 0);
        log_to(file, || {
            tracing::info!("first");
            // Another tonearm rotates the file under us.
            fs::rename(&path, RotatingFile::rotated_path(&path, 1)).expect("rename");
            fs::write(&path, "y".repeat(10)).expect("write");
            for _ in 0..10 {
                tracing::info!("{}", "z".repeat(40));
            }
        });
        // Our lines after the foreign rotation went to the new file, not the renamed one.
        let current = fs::read_to_string(&path).expect("read");
        assert!(current.contains("zzzz"), "{current}");
        assert!(!RotatingFile::rotated_path(&path, 2).exists());
    }

    #[test]
    fn forwarding_drops_lines_when_the_channel_is_full() {
        let _turn = FORWARD_TESTS.lock().unwrap_or_else(PoisonError::into_inner);
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
