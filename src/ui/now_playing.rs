//! The now-playing bar: title — artists · album, play state, a progress bar with elapsed and
//! total time extrapolated to "now", volume, shuffle/repeat, the remote device when playback is
//! elsewhere, and the connection state (session + Connect); the cover's slot on the left when
//! covers are on (`ui::art`).
//!
//! Called by `ui::draw`; returns the progress bar's area for click-to-seek. Reads `State` only;
//! must not depend on the player or Connect handles (their data types only) and never reads
//! the clock itself: "now" is passed in, so tests pin the progress text.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

use crate::app::state::{Area, SessionLink, State};
use crate::connect::ConnectLink;
use crate::player::{PlayState, RepeatMode};
use crate::theme::{Role, Theme};

use super::panes::percent;
use super::widgets::{area, block, duration, put, put_right, text_width};

/// What the bar shows, from the remote device or the local player.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Playing<'a> {
    pub title: &'a str,
    pub artists: &'a [String],
    pub album: &'a str,
    pub state: PlayState,
    pub position_ms: u64,
    pub duration_ms: u64,
    pub volume: Option<u16>,
    pub shuffle: bool,
    pub repeat: RepeatMode,
    /// The remote device's name when playback is elsewhere.
    pub device: Option<&'a str>,
    /// Waiting for audio: a load, or a track held through an outage (the player retries and
    /// resumes at the same position).
    pub buffering: bool,
    /// The track is in Liked Songs (a ♥ after the title).
    pub liked: bool,
}

/// Elapsed time at `now` for a position sampled at `at`.
fn extrapolate(
    position_ms: u64,
    at: Instant,
    playing: bool,
    duration_ms: u64,
    now: Instant,
) -> u64 {
    let pos = if playing {
        position_ms.saturating_add(now.saturating_duration_since(at).as_millis() as u64)
    } else {
        position_ms
    };
    if duration_ms > 0 {
        pos.min(duration_ms)
    } else {
        pos
    }
}

fn is_liked(state: &State, uri: &str) -> bool {
    state.library.data.as_ref().is_some_and(|l| l.is_liked(uri))
}

/// The playback the bar shows at `now` (`None`: nothing playing or loaded).
pub(crate) fn playing(state: &State, now: Instant) -> Option<Playing<'_>> {
    if let Some(r) = &state.remote {
        let repeat = if r.repeat_track {
            RepeatMode::One
        } else if r.repeat_context {
            RepeatMode::All
        } else {
            RepeatMode::Off
        };
        return Some(Playing {
            title: &r.title,
            artists: &r.artists,
            album: &r.album,
            state: if r.is_playing {
                PlayState::Playing
            } else {
                PlayState::Paused
            },
            position_ms: extrapolate(r.position_ms, r.at, r.is_playing, r.duration_ms, now),
            duration_ms: r.duration_ms,
            volume: r.volume,
            shuffle: r.shuffle,
            repeat,
            device: Some(&r.device_name),
            buffering: false,
            liked: is_liked(state, &r.track_uri),
        });
    }
    let p = state.player.as_ref()?;
    let (title, artists, album, dur): (&str, &[String], &str, u64) = match &p.track {
        Some(t) => (&t.name, &t.artists, &t.album, t.duration_ms),
        None if p.state == PlayState::Stopped => return None,
        None => ("", &[], "", 0),
    };
    Some(Playing {
        title,
        artists,
        album,
        state: p.state,
        position_ms: extrapolate(p.position_ms, p.at, p.state == PlayState::Playing, dur, now),
        duration_ms: dur,
        volume: Some(p.volume),
        shuffle: p.shuffle,
        repeat: p.repeat,
        device: None,
        buffering: p.buffering,
        liked: p
            .track
            .as_ref()
            .is_some_and(|t| is_liked(state, &format!("spotify:track:{}", t.id.to_base62()))),
    })
}

/// The connection state text and its role.
pub(crate) fn connection(state: &State) -> (String, Role) {
    match &state.session {
        SessionLink::Online { username } => {
            let base = format!("● online {username}");
            match state.connect {
                ConnectLink::Reconnecting(n) => (
                    format!("{base} · connect ◌ reconnecting ({n})"),
                    Role::Warning,
                ),
                ConnectLink::Connecting => (format!("{base} · connect …"), Role::Info),
                ConnectLink::Online | ConnectLink::Off => (base, Role::Info),
            }
        }
        SessionLink::Connecting => ("◌ connecting…".to_string(), Role::Warning),
        SessionLink::Reconnecting { attempt } => {
            (format!("◌ reconnecting ({attempt})"), Role::Warning)
        }
        SessionLink::Offline => ("offline".to_string(), Role::Dim),
    }
}

fn state_icon(s: PlayState) -> &'static str {
    match s {
        PlayState::Playing => "▶",
        PlayState::Paused => "⏸",
        PlayState::Loading => "…",
        PlayState::Stopped => "■",
    }
}

/// Draws the bar in `r` (4 lines: bordered; fewer: bare lines) and returns the progress area.
pub(crate) fn draw(
    buf: &mut Buffer,
    r: Rect,
    state: &State,
    theme: &Theme,
    now: Instant,
    covers: &mut Vec<(Area, String)>,
) -> Option<Area> {
    let r = r.intersection(buf.area);
    if r.width == 0 || r.height == 0 {
        return None;
    }
    let p = playing(state, now);
    let (conn, conn_role) = connection(state);
    let inner = if r.height >= 4 {
        let title = match p.as_ref().and_then(|p| p.device) {
            Some(d) => format!("Playing on {d}"),
            None => "Now playing".to_string(),
        };
        let inner = block(buf, r, &title, false, theme);
        // The connection state on the right of the top border.
        let t = format!(" {conn} ");
        let w = text_width(&t) as u16;
        if r.width > w + text_width(&title) as u16 + 8 {
            put_right(buf, r.right() - 2, r.y, w, &t, theme.style(conn_role));
        }
        inner
    } else {
        r
    };
    if inner.width == 0 || inner.height == 0 {
        return None;
    }
    let x = inner.x + 1.min(inner.width);
    let right = inner.right().saturating_sub(1);
    let w = right.saturating_sub(x);

    // Line 1: state, title — artists · album … volume, shuffle, repeat.
    let y = inner.y;
    let Some(p) = p else {
        put(buf, x, y, w, "Nothing playing", theme.style(Role::Dim));
        if r.height < 4 {
            put_right(buf, right, y, w / 2, &conn, theme.style(conn_role));
        }
        return None;
    };
    // The cover left of the text when there is room (the image pass draws it).
    let (x, w) = match (super::art::now_slot(state, inner), &state.art.now) {
        (Some(slot), Some(key)) => {
            super::art::placeholder(buf, slot, state.art.covers.get(key), theme);
            covers.push((area(slot), key.clone()));
            let x = slot.right() + 1;
            (x, right.saturating_sub(x))
        }
        _ => (x, w),
    };
    let mut indicators: Vec<(String, Role)> = Vec::new();
    if p.buffering {
        // Held through an outage or still loading: say so rather than look frozen.
        let text = if state.player_held.is_some() {
            "◌ reconnecting/buffering"
        } else {
            "◌ buffering"
        };
        indicators.push((text.to_string(), Role::Warning));
    }
    if let Some(v) = p.volume {
        indicators.push((format!("vol {}%", percent(v)), Role::Dim));
    }
    indicators.push((
        if w >= 70 { "⇄ shuffle" } else { "⇄" }.to_string(),
        if p.shuffle { Role::Info } else { Role::Dim },
    ));
    let (rep, rep_role) = match p.repeat {
        RepeatMode::Off => ("↻ off", Role::Dim),
        RepeatMode::All => ("↻ all", Role::Info),
        RepeatMode::One => ("↻ one", Role::Info),
    };
    indicators.push((rep.to_string(), rep_role));
    if r.height < 4 {
        // No border to carry it: the connection state joins the indicators.
        indicators.push((conn.clone(), conn_role));
    }
    if r.height < 4 {
        if let Some(d) = p.device {
            indicators.insert(0, (format!("on {d}"), Role::Info));
        }
    }
    // Indicators from the right, as many as fit in half the width.
    let mut rx = right;
    let budget = w / 2;
    for (text, role) in indicators.iter().rev() {
        let tw = text_width(text) as u16;
        if right - rx + tw + 2 > budget {
            break;
        }
        rx = put_right(buf, rx, y, tw, text, theme.style(*role));
        rx = rx.saturating_sub(2);
    }
    let title_w = rx.saturating_sub(x + 1);
    let mut cx = x;
    let icon_role = if p.state == PlayState::Playing {
        Role::NowPlaying
    } else {
        Role::Dim
    };
    cx += put(
        buf,
        cx,
        y,
        title_w,
        state_icon(p.state),
        theme.style(icon_role),
    );
    cx += 1;
    let end = x + title_w;
    let title = if p.title.is_empty() {
        "Loading…"
    } else {
        p.title
    };
    cx += put(
        buf,
        cx,
        y,
        end.saturating_sub(cx),
        title,
        theme.style(Role::Title),
    );
    if p.liked {
        cx += put(
            buf,
            cx,
            y,
            end.saturating_sub(cx),
            " ♥",
            theme.style(Role::NowPlaying),
        );
    }
    // Separators only when something readable fits after them.
    if !p.artists.is_empty() && cx + 6 < end {
        cx += put(
            buf,
            cx,
            y,
            end.saturating_sub(cx),
            " — ",
            theme.style(Role::Dim),
        );
        cx += put(
            buf,
            cx,
            y,
            end.saturating_sub(cx),
            &p.artists.join(", "),
            theme.style(Role::Base),
        );
    }
    if !p.album.is_empty() && cx + 6 < end {
        cx += put(
            buf,
            cx,
            y,
            end.saturating_sub(cx),
            " · ",
            theme.style(Role::Dim),
        );
        put(
            buf,
            cx,
            y,
            end.saturating_sub(cx),
            p.album,
            theme.style(Role::Dim),
        );
    }

    // Line 2: elapsed ━━━━─── total.
    if inner.height < 2 {
        return None;
    }
    let y = inner.y + 1;
    let elapsed = duration(p.position_ms);
    let total = if p.duration_ms > 0 {
        duration(p.duration_ms)
    } else {
        "-:--".to_string()
    };
    let ew = put(buf, x, y, w, &elapsed, theme.style(Role::Base));
    let tw = text_width(&total) as u16;
    let bar_x = x + ew + 1;
    let bar_end = right.saturating_sub(tw + 1);
    put_right(buf, right, y, tw, &total, theme.style(Role::Dim));
    if bar_end <= bar_x {
        return None;
    }
    let bar_w = bar_end - bar_x;
    let filled = if p.duration_ms > 0 {
        ((p.position_ms as u128 * bar_w as u128) / p.duration_ms as u128) as u16
    } else {
        0
    };
    for i in 0..bar_w {
        let (sym, role) = if i < filled {
            ("━", Role::ProgressFilled)
        } else if i == filled && p.duration_ms > 0 {
            ("●", Role::ProgressFilled)
        } else {
            ("─", Role::ProgressEmpty)
        };
        put(buf, bar_x + i, y, 1, sym, theme.style(role));
    }
    (p.duration_ms > 0).then(|| area(Rect::new(bar_x, y, bar_w, 1)))
}
