//! Catalog items as the Web API's JSON objects, shaped after the component schemas of
//! `shared/spec/spotify-web-api.openapi.yml`: `SimplifiedArtistObject`/`ArtistObject`,
//! `SimplifiedAlbumObject`/`AlbumObject`/`ArtistDiscographyAlbumObject`,
//! `SimplifiedTrackObject`/`TrackObject`, `SimplifiedShowObject`, `SimplifiedEpisodeObject`/
//! `EpisodeObject`, `PlaylistOwnerObject`, `SimplifiedPlaylistObject`/`PlaylistObject`,
//! `PlaylistTrackObject`, `PrivateUserObject`, and the offset `PagingObject` every list uses.
//! Times are RFC 3339 in UTC. Depends on no client module.

use serde_json::{json, Map, Value};

use super::super::catalog::{AlbumType, Catalog, Date};
use super::super::covers;
use super::super::ids::{self, Gid, Kind};
use super::super::SimAccount;
use super::store::WebPlaylist;

/// Markets every item is offered in (minus a track's forbidden countries).
pub(crate) const MARKETS: [&str; 8] = ["DE", "DK", "FI", "FR", "GB", "NO", "SE", "US"];

/// What every builder needs: the catalog, `http://host:port/v1` and the caller's country.
pub(crate) struct Ctx<'a> {
    pub cat: &'a Catalog,
    pub base: &'a str,
    pub country: &'a str,
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `...Z` with milliseconds (recently played).
pub(crate) fn rfc3339_ms(ms: i64) -> String {
    let s = rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", s.trim_end_matches('Z'), ms.rem_euclid(1000))
}

fn date_str(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

impl Ctx<'_> {
    /// `(id, uri, href, external_urls)` of an item.
    fn ident(&self, kind: Kind, gid: &Gid) -> (String, String, String, Value) {
        let id = ids::to_base62(gid);
        let k = kind.as_str();
        (
            id.clone(),
            format!("spotify:{k}:{id}"),
            format!("{}/{k}s/{id}", self.base),
            json!({ "spotify": format!("https://open.spotify.com/{k}/{id}") }),
        )
    }

    fn common(&self, kind: Kind, gid: &Gid, name: &str) -> Map<String, Value> {
        let (id, uri, href, ext) = self.ident(kind, gid);
        let mut m = Map::new();
        m.insert("id".into(), id.into());
        m.insert("uri".into(), uri.into());
        m.insert("href".into(), href.into());
        m.insert("external_urls".into(), ext);
        m.insert("name".into(), name.into());
        m.insert("type".into(), kind.as_str().into());
        m
    }

    pub(crate) fn artist_simple(&self, i: usize) -> Value {
        match self.cat.artists.get(i) {
            Some(a) => Value::Object(self.common(Kind::Artist, &a.gid, &a.name)),
            None => Value::Null,
        }
    }

    pub(crate) fn artist(&self, i: usize) -> Value {
        let Some(a) = self.cat.artists.get(i) else {
            return Value::Null;
        };
        let mut m = self.common(Kind::Artist, &a.gid, &a.name);
        let followers = 1000 * u64::try_from(a.popularity).unwrap_or(0);
        m.insert(
            "followers".into(),
            json!({ "href": null, "total": followers }),
        );
        m.insert("genres".into(), json!(a.genres));
        m.insert("images".into(), json!([]));
        m.insert("popularity".into(), a.popularity.into());
        Value::Object(m)
    }

    fn album_base(&self, i: usize) -> Option<Map<String, Value>> {
        let a = self.cat.albums.get(i)?;
        let mut m = self.common(Kind::Album, &a.gid, &a.name);
        let kind = match a.album_type {
            AlbumType::Album => "album",
            AlbumType::Single => "single",
            AlbumType::Compilation => "compilation",
        };
        m.insert("album_type".into(), kind.into());
        m.insert("total_tracks".into(), a.tracks.len().into());
        m.insert("available_markets".into(), json!(MARKETS));
        let http_base = self.base.strip_suffix("/v1").unwrap_or(self.base);
        m.insert("images".into(), covers::image_objects(http_base, &a.gid));
        m.insert("release_date".into(), date_str(a.release).into());
        m.insert("release_date_precision".into(), "day".into());
        let artists: Vec<Value> = a.artists.iter().map(|&x| self.artist_simple(x)).collect();
        m.insert("artists".into(), artists.into());
        Some(m)
    }

    pub(crate) fn album_simple(&self, i: usize) -> Value {
        self.album_base(i).map_or(Value::Null, Value::Object)
    }

    /// `ArtistDiscographyAlbumObject`.
    pub(crate) fn album_discography(&self, i: usize, group: &str) -> Value {
        let Some(mut m) = self.album_base(i) else {
            return Value::Null;
        };
        m.insert("album_group".into(), group.into());
        Value::Object(m)
    }

    /// `AlbumObject` with the first 50 tracks.
    pub(crate) fn album(&self, i: usize) -> Value {
        let (Some(mut m), Some(a)) = (self.album_base(i), self.cat.albums.get(i)) else {
            return Value::Null;
        };
        let (id, ..) = self.ident(Kind::Album, &a.gid);
        let items: Vec<Value> = a
            .tracks
            .iter()
            .take(50)
            .map(|&t| self.track(t, false))
            .collect();
        m.insert(
            "tracks".into(),
            paging(
                &format!("{}/albums/{id}/tracks", self.base),
                "",
                items,
                a.tracks.len(),
                0,
                50,
            ),
        );
        let year = a.release.year;
        m.insert(
            "copyrights".into(),
            json!([
                { "text": format!("© {year} {}", a.label), "type": "C" },
                { "text": format!("℗ {year} {}", a.label), "type": "P" },
            ]),
        );
        let upc = u64::from_be_bytes([
            0, 0, a.gid[0], a.gid[1], a.gid[2], a.gid[3], a.gid[4], a.gid[5],
        ]) % 1_000_000_000_000;
        m.insert(
            "external_ids".into(),
            json!({ "upc": format!("{upc:012}") }),
        );
        let genres: Vec<String> = a
            .artists
            .iter()
            .filter_map(|&x| self.cat.artists.get(x))
            .flat_map(|x| x.genres.clone())
            .collect();
        m.insert("genres".into(), json!(genres));
        m.insert("label".into(), a.label.clone().into());
        m.insert("popularity".into(), a.popularity.into());
        Value::Object(m)
    }

    /// `TrackObject` (`full`) or `SimplifiedTrackObject`.
    pub(crate) fn track(&self, i: usize, full: bool) -> Value {
        let Some(t) = self.cat.tracks.get(i) else {
            return Value::Null;
        };
        let mut m = self.common(Kind::Track, &t.gid, &t.name);
        let artists: Vec<Value> = t.artists.iter().map(|&x| self.artist_simple(x)).collect();
        m.insert("artists".into(), artists.into());
        let forbidden: Vec<&str> = t
            .countries_forbidden
            .as_bytes()
            .chunks(2)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        let markets: Vec<&str> = MARKETS
            .iter()
            .copied()
            .filter(|m| !forbidden.contains(m))
            .collect();
        m.insert("available_markets".into(), json!(markets));
        m.insert("disc_number".into(), t.disc.into());
        m.insert("duration_ms".into(), t.duration_ms.into());
        m.insert("explicit".into(), t.explicit.into());
        let playable = !forbidden.contains(&self.country)
            && (!t.files.is_empty() || !t.alternatives.is_empty());
        m.insert("is_playable".into(), playable.into());
        if !playable {
            m.insert("restrictions".into(), json!({ "reason": "market" }));
        }
        m.insert("preview_url".into(), Value::Null);
        m.insert("track_number".into(), t.number.into());
        m.insert("is_local".into(), false.into());
        if full {
            m.insert("album".into(), self.album_simple(t.album));
            m.insert("external_ids".into(), json!({ "isrc": t.isrc }));
            m.insert("popularity".into(), t.popularity.into());
        }
        Value::Object(m)
    }

    /// `SimplifiedShowObject`.
    pub(crate) fn show(&self, i: usize) -> Value {
        let Some(s) = self.cat.shows.get(i) else {
            return Value::Null;
        };
        let mut m = self.common(Kind::Show, &s.gid, &s.name);
        m.insert("available_markets".into(), json!(MARKETS));
        m.insert("copyrights".into(), json!([]));
        m.insert("description".into(), s.description.clone().into());
        m.insert(
            "html_description".into(),
            format!("<p>{}</p>", s.description).into(),
        );
        m.insert("explicit".into(), false.into());
        m.insert("images".into(), json!([]));
        m.insert("is_externally_hosted".into(), false.into());
        m.insert("languages".into(), json!(["en"]));
        m.insert("media_type".into(), "audio".into());
        m.insert("publisher".into(), s.publisher.clone().into());
        m.insert("total_episodes".into(), s.episodes.len().into());
        Value::Object(m)
    }

    /// `EpisodeObject` (`full`, with its show) or `SimplifiedEpisodeObject`.
    pub(crate) fn episode(&self, i: usize, full: bool) -> Value {
        let Some(e) = self.cat.episodes.get(i) else {
            return Value::Null;
        };
        let mut m = self.common(Kind::Episode, &e.gid, &e.name);
        m.insert("audio_preview_url".into(), Value::Null);
        m.insert("description".into(), e.description.clone().into());
        m.insert(
            "html_description".into(),
            format!("<p>{}</p>", e.description).into(),
        );
        m.insert("duration_ms".into(), e.duration_ms.into());
        m.insert("explicit".into(), false.into());
        m.insert("images".into(), json!([]));
        m.insert("is_externally_hosted".into(), false.into());
        m.insert("is_playable".into(), (!e.files.is_empty()).into());
        m.insert("language".into(), "en".into());
        m.insert("languages".into(), json!(["en"]));
        m.insert("release_date".into(), date_str(e.release).into());
        m.insert("release_date_precision".into(), "day".into());
        if full {
            m.insert("show".into(), self.show(e.show));
        }
        Value::Object(m)
    }

    /// `PlaylistUserObject` plus `display_name` (= `PlaylistOwnerObject`).
    pub(crate) fn owner(&self, username: &str, display_name: Option<&str>) -> Value {
        let id = username;
        json!({
            "external_urls": { "spotify": format!("https://open.spotify.com/user/{id}") },
            "href": format!("{}/users/{id}", self.base),
            "id": id,
            "type": "user",
            "uri": format!("spotify:user:{id}"),
            "display_name": display_name,
        })
    }

    fn display_name(&self, username: &str) -> Option<String> {
        self.cat.user(username).map(|u| u.display_name.clone())
    }

    fn playlist_common(&self, p: &WebPlaylist) -> Map<String, Value> {
        let mut m = self.common(Kind::Playlist, &p.gid, &p.name);
        m.insert("collaborative".into(), p.collaborative.into());
        m.insert("description".into(), p.description.clone().into());
        m.insert("images".into(), json!([]));
        let display = self.display_name(&p.owner);
        m.insert("owner".into(), self.owner(&p.owner, display.as_deref()));
        m.insert("public".into(), p.public.into());
        m.insert("snapshot_id".into(), p.snapshot_id().into());
        m
    }

    /// `SimplifiedPlaylistObject`.
    pub(crate) fn playlist_simple(&self, p: &WebPlaylist) -> Value {
        let mut m = self.playlist_common(p);
        let (id, ..) = self.ident(Kind::Playlist, &p.gid);
        let r = json!({
            "href": format!("{}/playlists/{id}/tracks", self.base),
            "total": p.entries.len(),
        });
        m.insert("tracks".into(), r.clone());
        m.insert("items".into(), r);
        Value::Object(m)
    }

    /// `PlaylistObject` with the first 100 entries.
    pub(crate) fn playlist(&self, p: &WebPlaylist) -> Value {
        let mut m = self.playlist_common(p);
        let (id, ..) = self.ident(Kind::Playlist, &p.gid);
        let items = self.playlist_entries(p, 0, 100);
        let page = paging(
            &format!("{}/playlists/{id}/tracks", self.base),
            "",
            items,
            p.entries.len(),
            0,
            100,
        );
        m.insert("tracks".into(), page.clone());
        m.insert("items".into(), page);
        m.insert("followers".into(), json!({ "href": null, "total": 0 }));
        Value::Object(m)
    }

    /// `PlaylistTrackObject`s of `p[offset..offset+limit]`.
    pub(crate) fn playlist_entries(
        &self,
        p: &WebPlaylist,
        offset: usize,
        limit: usize,
    ) -> Vec<Value> {
        p.entries
            .iter()
            .skip(offset)
            .take(limit)
            .map(|e| {
                let track = self.track(e.track, true);
                json!({
                    "added_at": rfc3339(e.added_at),
                    "added_by": self.owner(&e.added_by, None),
                    "is_local": false,
                    "item": track,
                    "track": track,
                })
            })
            .collect()
    }

    /// `PrivateUserObject`.
    pub(crate) fn private_user(&self, account: &SimAccount) -> Value {
        let id = &account.username;
        let display = self.display_name(id).unwrap_or_else(|| id.clone());
        json!({
            "country": account.country,
            "display_name": display,
            "email": format!("{id}@tonearm.invalid"),
            "explicit_content": { "filter_enabled": false, "filter_locked": false },
            "external_urls": { "spotify": format!("https://open.spotify.com/user/{id}") },
            "followers": { "href": null, "total": 0 },
            "href": format!("{}/users/{id}", self.base),
            "id": id,
            "images": [],
            "product": account.product,
            "type": "user",
            "uri": format!("spotify:user:{id}"),
        })
    }
}

/// An offset `PagingObject`: `path` absolute without query, `extra` more query parameters
/// (`a=b&c=d`, already encoded, or empty).
pub(crate) fn paging(
    path: &str,
    extra: &str,
    items: Vec<Value>,
    total: usize,
    offset: usize,
    limit: usize,
) -> Value {
    let url = |o: usize| {
        if extra.is_empty() {
            format!("{path}?offset={o}&limit={limit}")
        } else {
            format!("{path}?{extra}&offset={o}&limit={limit}")
        }
    };
    let next = (limit > 0 && offset.saturating_add(limit) < total).then(|| url(offset + limit));
    let previous = (offset > 0).then(|| url(offset.saturating_sub(limit)));
    json!({
        "href": url(offset),
        "items": items,
        "limit": limit,
        "next": next,
        "offset": offset,
        "previous": previous,
        "total": total,
    })
}
