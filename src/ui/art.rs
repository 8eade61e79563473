//! Covers on screen. The text pass (`now_playing`, `panes`) asks [`now_slot`] / [`page_slot`]
//! where a cover goes, draws [`placeholder`] there (loading, or no cover) and reports the slot
//! in the hit map; the image pass ([`ArtRenderer::draw`], from `ui::draw_with_art`) then puts
//! the decoded picture over ready slots with ratatui-image: kitty, iTerm2 or sixel when the
//! terminal said it supports them at start-up ([`ArtRenderer::detect`]), coloured half-blocks
//! otherwise. The protocol for a (cover, area) is built once and kept (a few of them), so a
//! frame with a cover costs a copy of cells, not an image resize; kitty transmits the image
//! once and then only places it.
//!
//! Called by `ui` and the event loop (which owns the renderer); reads `State` only, never a
//! service handle. Decoding happened before (off the UI thread, `crate::art`).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget as _;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::halfblocks::Halfblocks;
use ratatui_image::protocol::Protocol;
use ratatui_image::{Image, Resize};

use crate::app::state::{Area, CoverState, PageKind, PageView, State};
use crate::config::AlbumArt;
use crate::theme::{Role, Theme};

use super::widgets::put;

pub mod detect;

/// Protocols kept (the now-playing cover and an album page's, at a couple of sizes).
const KEPT: usize = 4;
/// The now-playing cover: 2 rows of the bar's inner area, 4 columns (about square).
const NOW_W: u16 = 4;
/// The bar must be at least this wide inside to give columns to a cover.
const NOW_MIN_WIDTH: u16 = 50;

/// Where the now-playing cover goes in the bar's `inner` area (`None`: no cover wanted, or no
/// room).
pub(crate) fn now_slot(state: &State, inner: Rect) -> Option<Rect> {
    if !state.art.enabled || state.art.now.is_none() {
        return None;
    }
    (inner.width >= NOW_MIN_WIDTH && inner.height >= 2)
        .then(|| Rect::new(inner.x + 1, inner.y, NOW_W, 2))
}

/// Where an album page's cover goes in the page's area `r`: top left, a third of the height
/// up to 8 rows (twice as many columns, cells being about twice as tall as wide).
pub(crate) fn page_slot(state: &State, page: &PageView, r: Rect) -> Option<Rect> {
    if !state.art.enabled
        || page.kind != PageKind::Album
        || !state.art.covers.contains_key(&page.uri)
    {
        return None;
    }
    let h = (r.height / 3).min(8);
    (h >= 3 && r.width >= 50).then(|| Rect::new(r.x + 1, r.y, h * 2, h))
}

/// The text pass's drawing of a slot: blank while loading, a dim note when there is no cover
/// (404, corrupt image, no network); a ready cover is left to the image pass.
pub(crate) fn placeholder(buf: &mut Buffer, r: Rect, cover: Option<&CoverState>, theme: &Theme) {
    let r = r.intersection(buf.area);
    if r.width == 0 || r.height == 0 {
        return;
    }
    let style = theme.style(Role::Dim);
    for y in r.top()..r.bottom() {
        for x in r.left()..r.right() {
            if let Some(c) = buf.cell_mut((x, y)) {
                c.reset();
                c.set_symbol(" ");
                c.set_style(style);
            }
        }
    }
    let mark = match cover {
        Some(CoverState::Ready(_)) => return,
        Some(CoverState::Loading) | None => "…",
        Some(CoverState::Missing(_)) => "♪",
    };
    put(buf, r.x + r.width / 2, r.y + r.height / 2, 1, mark, style);
}

/// One built protocol: the cover (its URL), the area it was built for.
struct Entry {
    url: String,
    area: Rect,
    protocol: Protocol,
}

/// How covers are drawn.
enum Mode {
    Off,
    /// Coloured half blocks, encoded directly (no picker: it would probe tmux for nothing).
    Halfblocks,
    /// A terminal graphics protocol chosen by the picker.
    Graphics(Picker),
}

/// Turns decoded covers into terminal graphics; owned by the event loop (and by tests).
pub struct ArtRenderer {
    mode: Mode,
    kept: Vec<Entry>,
}

impl ArtRenderer {
    fn new(mode: Mode) -> ArtRenderer {
        ArtRenderer {
            mode,
            kept: Vec::new(),
        }
    }

    /// No covers drawn (placeholders stay).
    pub fn off() -> ArtRenderer {
        ArtRenderer::new(Mode::Off)
    }

    /// Half-blocks, whatever the terminal.
    pub fn halfblocks() -> ArtRenderer {
        ArtRenderer::new(Mode::Halfblocks)
    }

    /// With a given picker (tests force a protocol with `Picker::set_protocol_type`).
    pub fn with_picker(picker: Picker) -> ArtRenderer {
        ArtRenderer::new(Mode::Graphics(picker))
    }

    /// The renderer for a terminal's answer to the start-up query.
    pub fn from_answer(answer: &detect::Answer) -> ArtRenderer {
        match detect::picker_for(answer) {
            Some(p) => ArtRenderer::with_picker(p),
            None => ArtRenderer::halfblocks(),
        }
    }

    /// The renderer for `[ui] album_art`. `Auto` asks the terminal ([`detect::query`]: writes
    /// to stdout, reads the answer from stdin with a deadline): call it in raw mode on the
    /// alternate screen, before the event stream starts reading stdin. No answer, or an error:
    /// half-blocks.
    pub fn detect(mode: AlbumArt) -> ArtRenderer {
        match mode {
            AlbumArt::Off => ArtRenderer::off(),
            AlbumArt::Halfblocks => ArtRenderer::halfblocks(),
            AlbumArt::Auto => match detect::query() {
                Ok(answer) => {
                    tracing::info!(?answer, "terminal graphics query");
                    ArtRenderer::from_answer(&answer)
                }
                Err(e) => {
                    tracing::info!(error = %e, "terminal graphics query failed: half-block covers");
                    ArtRenderer::halfblocks()
                }
            },
        }
    }

    /// The protocol in use ("kitty", "sixel", "iterm2", "halfblocks", "off"), for the log.
    pub fn protocol_name(&self) -> &'static str {
        match &self.mode {
            Mode::Off => "off",
            Mode::Halfblocks => "halfblocks",
            Mode::Graphics(p) => match p.protocol_type() {
                ProtocolType::Halfblocks => "halfblocks",
                ProtocolType::Sixel => "sixel",
                ProtocolType::Kitty => "kitty",
                ProtocolType::Iterm2 => "iterm2",
            },
        }
    }

    /// The protocol for `image` in `rect`.
    fn encode(&self, image: image::DynamicImage, rect: Rect) -> Option<Protocol> {
        let made = match &self.mode {
            Mode::Off => return None,
            Mode::Halfblocks => Halfblocks::new(image, rect).map(Protocol::Halfblocks),
            Mode::Graphics(p) => p.new_protocol(image, rect, Resize::Fit(None)),
        };
        made.map_err(|e| tracing::debug!(error = %e, "cannot encode a cover"))
            .ok()
    }

    /// The image pass: every ready cover in `slots` drawn into its area.
    pub fn draw(&mut self, buf: &mut Buffer, slots: &[(Area, String)], state: &State) {
        if matches!(self.mode, Mode::Off) {
            return;
        }
        for (a, key) in slots {
            let Some(CoverState::Ready(cover)) = state.art.covers.get(key) else {
                continue;
            };
            let rect = Rect::new(a.x, a.y, a.width, a.height).intersection(buf.area);
            if rect.width == 0 || rect.height == 0 {
                continue;
            }
            let at = match self.kept.iter().position(|e| {
                e.url == cover.url && e.area.width == rect.width && e.area.height == rect.height
            }) {
                Some(i) => i,
                None => {
                    let image = image::DynamicImage::ImageRgb8((*cover.image).clone());
                    let Some(protocol) = self.encode(image, rect) else {
                        continue;
                    };
                    if self.kept.len() >= KEPT {
                        self.kept.remove(0);
                    }
                    self.kept.push(Entry {
                        url: cover.url.clone(),
                        area: rect,
                        protocol,
                    });
                    self.kept.len() - 1
                }
            };
            Image::new(&self.kept[at].protocol).render(rect, buf);
        }
    }
}

#[cfg(test)]
mod tests;
