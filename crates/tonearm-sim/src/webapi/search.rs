//! `GET /v1/search` in the simulator's Web API: every word of `q` must appear in an item's
//! name (or its artists' or album's), one page per requested `type` over the catalog.
//!
//! Handler routed by [`super::routes`]; requests arrive authorised as [`Req`]. Depends on no
//! client module.

use serde_json::Value;

use super::objects::paging;
use super::store::WebPlaylist;
use super::{clip, encode, ok, ApiErr, Req, Res};

const SEARCH_TYPES: [&str; 7] = [
    "album",
    "artist",
    "playlist",
    "track",
    "show",
    "episode",
    "audiobook",
];

/// Lower-cased query words (a `field:` prefix is dropped).
fn search_words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(|w| match w.split_once(':') {
            Some((field, v)) if field.chars().all(|c| c.is_ascii_alphabetic()) => v,
            _ => w,
        })
        .map(|w| w.trim_matches('"').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

fn matches(words: &[String], hay: &str) -> bool {
    let hay = hay.to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

pub(super) fn search(r: &Req<'_>) -> Res {
    let q = r.q("q").unwrap_or_default().trim().to_owned();
    if q.is_empty() {
        return Err(ApiErr::bad("missing q"));
    }
    let types: Vec<&str> = r
        .q("type")
        .ok_or_else(|| ApiErr::bad("missing type"))?
        .split(',')
        .map(str::trim)
        .collect();
    if let Some(bad) = types.iter().find(|t| !SEARCH_TYPES.contains(t)) {
        return Err(ApiErr::bad(format!("unknown type {:?}", clip(bad))));
    }
    let limit = r.limit(5, 1, 10)?;
    let offset = r.offset(1000)?;
    let words = search_words(&q);
    let cat = &*r.shared.catalog;
    let ctx_owned = r.ctx();
    let ctx = &ctx_owned;
    let artist_names = |list: &[usize]| -> String {
        list.iter()
            .filter_map(|&a| cat.artists.get(a).map(|x| x.name.as_str()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = serde_json::Map::new();
    for t in types {
        let (hits, build): (Vec<usize>, Box<dyn Fn(usize) -> Value + '_>) = match t {
            "track" => {
                let mut hits: Vec<usize> = (0..cat.tracks.len())
                    .filter(|&i| {
                        let x = &cat.tracks[i];
                        x.alternative_of.is_none() && {
                            let album = cat.albums.get(x.album).map_or("", |a| a.name.as_str());
                            matches(
                                &words,
                                &format!("{} {} {album}", x.name, artist_names(&x.artists)),
                            )
                        }
                    })
                    .collect();
                hits.sort_by_key(|&i| std::cmp::Reverse(cat.tracks[i].popularity));
                (hits, Box::new(|i| ctx.track(i, true)))
            }
            "album" => {
                let mut hits: Vec<usize> = (0..cat.albums.len())
                    .filter(|&i| {
                        let x = &cat.albums[i];
                        matches(&words, &format!("{} {}", x.name, artist_names(&x.artists)))
                    })
                    .collect();
                hits.sort_by_key(|&i| std::cmp::Reverse(cat.albums[i].popularity));
                (hits, Box::new(|i| ctx.album_simple(i)))
            }
            "artist" => {
                let mut hits: Vec<usize> = (0..cat.artists.len())
                    .filter(|&i| matches(&words, &cat.artists[i].name))
                    .collect();
                hits.sort_by_key(|&i| std::cmp::Reverse(cat.artists[i].popularity));
                (hits, Box::new(|i| ctx.artist(i)))
            }
            "show" => (
                (0..cat.shows.len())
                    .filter(|&i| {
                        let s = &cat.shows[i];
                        matches(&words, &format!("{} {}", s.name, s.publisher))
                    })
                    .collect(),
                Box::new(|i| ctx.show(i)),
            ),
            "episode" => (
                (0..cat.episodes.len())
                    .filter(|&i| matches(&words, &cat.episodes[i].name))
                    .collect(),
                Box::new(|i| ctx.episode(i, false)),
            ),
            "playlist" => {
                let data = r.data();
                let found: Vec<WebPlaylist> = data
                    .playlists
                    .iter()
                    .filter(|p| {
                        p.public && matches(&words, &format!("{} {}", p.name, p.description))
                    })
                    .cloned()
                    .collect();
                drop(data);
                let n = found.len();
                (
                    (0..n).collect(),
                    Box::new(move |i| found.get(i).map_or(Value::Null, |p| ctx.playlist_simple(p))),
                )
            }
            _ => (Vec::new(), Box::new(|_| Value::Null)),
        };
        let items: Vec<Value> = hits
            .iter()
            .skip(offset)
            .take(limit)
            .map(|&i| build(i))
            .collect();
        let extra = format!("query={}&type={t}", encode(&q));
        out.insert(
            format!("{t}s"),
            paging(&r.path("search"), &extra, items, hits.len(), offset, limit),
        );
    }
    ok(Value::Object(out))
}
