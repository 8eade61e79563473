//! `tonearm ctl <command> [--json]`: drives the running TUI or daemon through its local control
//! API ([`crate::local_api`]). Finds the socket where the running instance puts it (the same
//! default, `--control-socket`, or `[control] socket`), or uses the TCP listener with `--tcp`.
//! Says in one line, exiting non-zero, when nothing is running or a command is refused.
//! Prints text, or with `--json` the API's answer as sent (the schema in docs/control-api/).
//!
//! Called by `main.rs` before logging starts (a client writes no log). The text formatting is
//! pure ([`status_text`], [`parse_seek`], [`parse_volume`]) and unit-tested.

use anyhow::{bail, Context, Result};

use super::args::{CtlArgs, CtlCommand, GuestsCommand, OnOff, QueueCommand, RepeatArg};
use super::output::say;
use crate::config::Config;
use crate::local_api::client::{Reply, Target};
use crate::local_api::schema::{self, Answer, Repeat, Request, State, Status};

pub fn run(cfg: &Config, args: &CtlArgs) -> Result<()> {
    let target = target(cfg, args)?;
    if let CtlCommand::Events { count } = &args.command {
        return events(&target, *count);
    }
    let req = request(&args.command)?;
    let reply = target.command(&req)?;
    if args.json {
        say!("{}", reply.body)?;
        if !reply.answer.ok {
            // The JSON is the answer; the exit status still says it failed.
            std::process::exit(1);
        }
        return Ok(());
    }
    let answer = checked(reply)?;
    match &args.command {
        CtlCommand::Status => {
            let s = answer.status.context("the answer has no status")?;
            say!("{}", status_text(&s))
        }
        CtlCommand::Queue {
            command: None | Some(QueueCommand::List),
        } => {
            let q = answer.queue.context("the answer has no queue")?;
            if q.items.is_empty() {
                return say!("the queue is empty");
            }
            for item in &q.items {
                let mark = if Some(item.index) == q.current {
                    "▶"
                } else {
                    " "
                };
                say!(
                    "{mark} {:>3}  {}{}{}",
                    item.index,
                    item.uri,
                    item.name
                        .as_deref()
                        .map(|n| format!("  {n}"))
                        .unwrap_or_default(),
                    item.added_by
                        .as_deref()
                        .map(|n| format!("  (added by {n})"))
                        .unwrap_or_default()
                )?;
            }
            Ok(())
        }
        CtlCommand::Guests { command } => {
            let guests = answer.guests.unwrap_or_default();
            if guests.is_empty() {
                return say!("no guests");
            }
            if let Some(GuestsCommand::Ban { .. }) = command {
                return say!("banned");
            }
            for g in &guests {
                say!("{}", guest_line(g))?;
            }
            Ok(())
        }
        CtlCommand::Devices => {
            for d in answer.devices.unwrap_or_default() {
                say!(
                    "{} {}  {}  ({}{}){}",
                    if d.active { "▶" } else { " " },
                    d.id,
                    d.name,
                    d.kind,
                    d.volume.map(|v| format!(", {v} %")).unwrap_or_default(),
                    if d.this { "  [this tonearm]" } else { "" }
                )?;
            }
            Ok(())
        }
        _ => match answer.tracks {
            Some(n) => say!("ok ({n} {})", if n == 1 { "track" } else { "tracks" }),
            None => say!("ok"),
        },
    }
}

/// Where to connect: `--tcp` with its token, else the socket.
fn target(cfg: &Config, args: &CtlArgs) -> Result<Target> {
    let socket = crate::local_api::socket_path(&cfg.control)
        .context("no place for the control socket: set XDG_RUNTIME_DIR or HOME, or pass --control-socket PATH")?;
    let Some(addr) = args.tcp else {
        return Ok(Target::Unix(socket));
    };
    let token = match (&cfg.control.token, std::env::var("TONEARM_CONTROL_TOKEN")) {
        (_, Ok(t)) if !t.is_empty() => t,
        (Some(t), _) => t.clone(),
        _ => {
            let file = args
                .token_file
                .clone()
                .unwrap_or_else(|| crate::local_api::server::token_file_for(&socket));
            std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read the control token {}", file.display()))?
                .trim()
                .to_string()
        }
    };
    Ok(Target::Tcp { addr, token })
}

/// The answer when it says ok; its error message otherwise.
fn checked(reply: Reply) -> Result<Answer> {
    if reply.answer.ok {
        return Ok(reply.answer);
    }
    match reply.answer.error {
        Some(e) => bail!("{} ({})", e.message, e.code),
        None => bail!("refused (HTTP {})", reply.code),
    }
}

/// The request a `ctl` command stands for.
pub fn request(cmd: &CtlCommand) -> Result<Request> {
    Ok(match cmd {
        CtlCommand::Status => Request::Status,
        CtlCommand::Play => Request::Play,
        CtlCommand::Pause => Request::Pause,
        CtlCommand::Toggle => Request::Toggle,
        CtlCommand::Next => Request::Next,
        CtlCommand::Prev => Request::Prev,
        CtlCommand::Seek { position } => parse_seek(position)?,
        CtlCommand::Volume { level } => parse_volume(level)?,
        CtlCommand::Shuffle { state } => Request::Shuffle {
            on: *state == OnOff::On,
        },
        CtlCommand::Repeat { mode } => Request::Repeat {
            mode: match mode {
                RepeatArg::Off => Repeat::Off,
                RepeatArg::All => Repeat::All,
                RepeatArg::One => Repeat::One,
            },
        },
        CtlCommand::Queue { command } => match command {
            None | Some(QueueCommand::List) => Request::Queue,
            Some(QueueCommand::Add { uris }) => Request::QueueAdd { uris: uris.clone() },
            Some(QueueCommand::Next { uris }) => Request::QueuePlayNext { uris: uris.clone() },
            Some(QueueCommand::Remove { index }) => Request::QueueRemove { index: *index },
            Some(QueueCommand::Move { from, to }) => Request::QueueMove {
                from: *from,
                to: *to,
            },
            Some(QueueCommand::Clear) => Request::QueueClear,
        },
        CtlCommand::PlayUri { uris, index } => Request::PlayUri {
            uris: uris.clone(),
            index: *index,
        },
        CtlCommand::PlaySearch { query } => Request::PlaySearch {
            query: query.join(" "),
        },
        CtlCommand::Devices => Request::Devices,
        CtlCommand::Transfer { device } => Request::Transfer {
            device: device.clone(),
        },
        CtlCommand::Like { uri } => Request::Like { uri: uri.clone() },
        CtlCommand::Unlike { uri } => Request::Unlike { uri: uri.clone() },
        CtlCommand::Guests { command } => match command {
            None | Some(GuestsCommand::List) => Request::Guests,
            Some(GuestsCommand::Grant { name, permission }) => Request::GuestGrant {
                name: name.clone(),
                permission: parse_permission(permission)?,
            },
            Some(GuestsCommand::Revoke { name, permission }) => Request::GuestRevoke {
                name: name.clone(),
                permission: parse_permission(permission)?,
            },
            Some(GuestsCommand::Ban { name }) => Request::GuestBan { name: name.clone() },
        },
        CtlCommand::Events { .. } => bail!("events is a stream, not a request"),
    })
}

/// A permission by name.
fn parse_permission(s: &str) -> Result<schema::Permission> {
    s.parse()
        .map_err(|e: String| anyhow::anyhow!("permission `{s}`: {e}"))
}

/// One guest as a line of text: name, permissions, queued tracks, token lifetime.
pub fn guest_line(g: &schema::Guest) -> String {
    let perms: Vec<&str> = g.permissions.iter().map(|p| p.as_str()).collect();
    let state = if g.banned {
        "banned".to_string()
    } else {
        format!("expires in {} min", g.expires_in_s / 60)
    };
    format!(
        "{}  [{}]  {} queued  {state}",
        g.name,
        if perms.is_empty() {
            "-".to_string()
        } else {
            perms.join(", ")
        },
        g.queued
    )
}

/// `83` / `1:23` (absolute) or `+10` / `-10` (relative seconds).
pub fn parse_seek(s: &str) -> Result<Request> {
    let bad = || anyhow::anyhow!("seek: `{s}` is not a position (83, 1:23, +10 or -10)");
    let secs = |t: &str| -> Result<u64> {
        match t.split_once(':') {
            Some((m, sec)) => {
                let m: u64 = m.parse().map_err(|_| bad())?;
                let sec: u64 = sec.parse().map_err(|_| bad())?;
                if sec >= 60 {
                    return Err(bad());
                }
                m.checked_mul(60)
                    .and_then(|x| x.checked_add(sec))
                    .ok_or_else(bad)
            }
            None => t.parse().map_err(|_| bad()),
        }
    };
    let ms = |x: u64| x.checked_mul(1000).ok_or_else(bad);
    if let Some(rest) = s.strip_prefix('+') {
        let d = i64::try_from(ms(secs(rest)?)?).map_err(|_| bad())?;
        Ok(Request::SeekBy { delta_ms: d })
    } else if let Some(rest) = s.strip_prefix('-') {
        let d = i64::try_from(ms(secs(rest)?)?).map_err(|_| bad())?;
        Ok(Request::SeekBy { delta_ms: -d })
    } else {
        Ok(Request::Seek {
            position_ms: ms(secs(s)?)?,
        })
    }
}

/// `60` (percent) or `+5` / `-5` (a step).
pub fn parse_volume(s: &str) -> Result<Request> {
    let bad = || anyhow::anyhow!("volume: `{s}` is not 0..100, +N or -N");
    if s.starts_with('+') || s.starts_with('-') {
        let d: i8 = s.parse().map_err(|_| bad())?;
        if !(-100..=100).contains(&d) {
            return Err(bad());
        }
        return Ok(Request::VolumeBy { delta_percent: d });
    }
    let p: u8 = s.parse().map_err(|_| bad())?;
    if p > 100 {
        return Err(bad());
    }
    Ok(Request::Volume { percent: p })
}

/// `m:ss`.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// A status as a few lines of text.
pub fn status_text(s: &Status) -> String {
    let state = match s.state {
        State::Playing => "▶ playing",
        State::Paused => "⏸ paused",
        State::Stopped => "■ stopped",
        State::Loading => "… loading",
    };
    let mut out = match &s.track {
        Some(t) => format!(
            "{state}  {} — {} ({})  {} / {}",
            t.name,
            t.artists.join(", "),
            t.album,
            clock(s.position_ms),
            clock(t.duration_ms)
        ),
        None => state.to_string(),
    };
    let repeat = match s.repeat {
        Repeat::Off => "off",
        Repeat::All => "all",
        Repeat::One => "one",
    };
    let link = |l: schema::Link| {
        serde_json::to_value(l)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    out.push_str(&format!(
        "\nvolume {} %  shuffle {}  repeat {repeat}  queue {}{}\ndevice \"{}\"  session {}  connect {}",
        s.volume,
        if s.shuffle { "on" } else { "off" },
        s.queue_index.map(|i| format!("{}/", i + 1)).unwrap_or_default(),
        s.queue_length,
        s.device.name,
        link(s.connection.session),
        link(s.connection.connect),
    ));
    if let Some(c) = &s.context {
        out.push_str(&format!("\ncontext {c}"));
    }
    out
}

/// `ctl events`: the stream, one JSON line per event.
fn events(target: &Target, count: Option<usize>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut ev = target.events().await?;
        let mut seen = 0usize;
        while count.is_none_or(|c| seen < c) {
            match ev.next().await {
                Some(Ok((text, _))) => say!("{text}")?,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("tonearm closed the event stream"),
            }
            seen += 1;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests;
