//! Album art, the service side: which of an album's Web API images to fetch ([`pick`]), the
//! fetch itself (once per URL: reqwest with a timeout and a size bound), the disk cache under
//! the cache dir with a size cap ([`cache`], least recently used out first), and the decoding
//! (PNG and JPEG only, bounded dimensions) on a blocking thread, never on the UI's. The answer is
//! a [`Cover`]: the decoded RGB picture, its URL and the cached file (for MPRIS `artUrl` and
//! the notification's image).
//!
//! Called by `app::exec` (the TUI asks for the playing track's and the open album's covers)
//! and by the e2e tests. Depends on `api` (the album's images, a track's album) and the `image`
//! crate; never on app, ui, ratatui or the terminal: how a cover is drawn is `ui::art`'s
//! business.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::api::webapi::models::Image;
use crate::api::{SpClient, WebApi};
use crate::id::{ItemKind, SpotifyId, SpotifyUri};

pub mod cache;

pub use cache::DiskCache;

/// The largest image body accepted (covers are tens of kB; a 640 px JPEG well under 1 MB).
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// The largest width or height decoded (a hostile "cover" must not allocate gigabytes).
pub const MAX_SIDE: u32 = 2048;
/// How long one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The cover size asked for: enough pixels for a kitty/sixel cover of a dozen rows, small to
/// fetch and decode (Spotify serves 640, 300 and 64).
pub const WANT_PX: u32 = 300;

/// Why a cover could not be shown; the UI shows a placeholder instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtError {
    #[error("the album has no cover")]
    NoImage,
    #[error("cannot look the album up: {0}")]
    Lookup(String),
    #[error("cover fetch failed: {0}")]
    Fetch(String),
    #[error("cover fetch answered HTTP {0}")]
    Status(u16),
    #[error("cover is larger than {} bytes", MAX_BYTES)]
    TooLarge,
    #[error("cover cannot be decoded: {0}")]
    Decode(String),
}

/// A decoded cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    /// Where it came from (the Web API image URL).
    pub url: String,
    /// The cached copy on disk, when the cache is on.
    pub path: Option<PathBuf>,
    pub image: Arc<image::RgbImage>,
}

impl Cover {
    /// The URL desktop integrations should show: the cached file when there is one (no
    /// network for the desktop), else the http URL.
    pub fn art_url(&self) -> String {
        match &self.path {
            Some(p) => format!("file://{}", p.display()),
            None => self.url.clone(),
        }
    }
}

/// The image to fetch among an album's `images[]`: the smallest at least `want` px wide, else
/// the largest; images without a size count as large (Spotify lists sizes; others may not).
pub fn pick(images: &[Image], want: u32) -> Option<&str> {
    let side = |i: &Image| i.width.or(i.height).unwrap_or(u32::MAX);
    let big_enough = images
        .iter()
        .filter(|i| side(i) >= want)
        .min_by_key(|i| side(i));
    big_enough
        .or_else(|| images.iter().max_by_key(|i| side(i)))
        .map(|i| i.url.as_str())
}

/// Fetches (or reads from the cache) and decodes covers.
#[derive(Clone)]
pub struct ArtService {
    http: reqwest::Client,
    cache: Option<Arc<DiskCache>>,
}

impl ArtService {
    /// `cache`: where covers are kept (`None`: fetched every time, e.g. the demo).
    pub fn new(cache: Option<DiskCache>) -> ArtService {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default();
        ArtService {
            http,
            cache: cache.map(Arc::new),
        }
    }

    /// The cover for `key`: an album URI, or a track URI (its album from the track's
    /// metadata); the album's Web API images, the one to fetch ([`pick`]), then [`Self::cover`].
    pub async fn cover_for(
        &self,
        api: &WebApi,
        sp: &SpClient,
        key: &str,
    ) -> Result<Cover, ArtError> {
        let uri = SpotifyUri::parse(key).map_err(|e| ArtError::Lookup(e.to_string()))?;
        let album_uri = match uri.kind {
            ItemKind::Album => key.to_string(),
            ItemKind::Track => {
                let track = sp
                    .track(uri.id)
                    .await
                    .map_err(|e| ArtError::Lookup(e.to_string()))?;
                format!("spotify:album:{}", track.album.id.to_base62())
            }
            _ => return Err(ArtError::NoImage),
        };
        let album = api
            .album(&album_uri)
            .await
            .map_err(|e| ArtError::Lookup(e.to_string()))?;
        let url = pick(&album.images, WANT_PX).ok_or(ArtError::NoImage)?;
        self.cover(url).await
    }

    /// The cover at `url`, from the disk cache or the network, decoded off this thread.
    pub async fn cover(&self, url: &str) -> Result<Cover, ArtError> {
        let cached = match &self.cache {
            Some(c) => {
                let c = Arc::clone(c);
                let u = url.to_string();
                tokio::task::spawn_blocking(move || c.get(&u))
                    .await
                    .ok()
                    .flatten()
            }
            None => None,
        };
        let (bytes, path) = match cached {
            Some((bytes, path)) => (bytes, Some(path)),
            None => {
                let bytes = self.fetch(url).await?;
                let path = match &self.cache {
                    Some(c) => {
                        let c = Arc::clone(c);
                        let (u, b) = (url.to_string(), bytes.clone());
                        tokio::task::spawn_blocking(move || c.put(&u, &b))
                            .await
                            .ok()
                            .flatten()
                    }
                    None => None,
                };
                (bytes, path)
            }
        };
        let image = tokio::task::spawn_blocking(move || decode(&bytes))
            .await
            .map_err(|e| ArtError::Decode(e.to_string()))??;
        Ok(Cover {
            url: url.to_string(),
            path,
            image: Arc::new(image),
        })
    }

    /// The body at `url`, at most [`MAX_BYTES`].
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, ArtError> {
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ArtError::Fetch(e.without_url().to_string()))?;
        if !r.status().is_success() {
            return Err(ArtError::Status(r.status().as_u16()));
        }
        if r.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(ArtError::TooLarge);
        }
        let mut body = Vec::new();
        let mut r = r;
        while let Some(chunk) = r
            .chunk()
            .await
            .map_err(|e| ArtError::Fetch(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(ArtError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Decodes a PNG or JPEG (anything else, or larger than [`MAX_SIDE`], is refused) to RGB.
pub fn decode(bytes: &[u8]) -> Result<image::RgbImage, ArtError> {
    let format = image::guess_format(bytes).map_err(|e| ArtError::Decode(e.to_string()))?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(ArtError::Decode(format!("{format:?} is not PNG or JPEG")));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(64 * 1024 * 1024);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| ArtError::Decode(e.to_string()))?;
    Ok(img.to_rgb8())
}

/// The playing track's cover URL as the desktop should show it ([`Cover::art_url`]), for MPRIS
/// `mpris:artUrl` and the notification's image. Set by the TUI's loop when the cover of the
/// track being heard is ready; read by `desktop` (which has the track, not the album), which
/// also follows its changes: a cover that arrives after the track started is announced then.
static NOW_ART: LazyLock<watch::Sender<Option<(SpotifyId, String)>>> =
    LazyLock::new(|| watch::channel(None).0);

/// Records `url` as the cover of `track` (the one being heard).
pub fn set_now_art(track: SpotifyId, url: String) {
    NOW_ART.send_if_modified(|now| {
        if now.as_ref().is_none_or(|(t, u)| *t != track || *u != url) {
            *now = Some((track, url));
            true
        } else {
            false
        }
    });
}

/// The cover URL recorded for `track`, if it is the one recorded.
pub fn now_art(track: SpotifyId) -> Option<String> {
    NOW_ART
        .borrow()
        .as_ref()
        .filter(|(t, _)| *t == track)
        .map(|(_, u)| u.clone())
}

/// Follows [`set_now_art`]: changes whenever another track's cover, or another URL, is set.
pub fn now_art_changes() -> watch::Receiver<Option<(SpotifyId, String)>> {
    NOW_ART.subscribe()
}

/// The covers directory under the cache dir.
pub fn cache_dir(base: &Path) -> PathBuf {
    base.join("art")
}

#[cfg(test)]
mod tests;
