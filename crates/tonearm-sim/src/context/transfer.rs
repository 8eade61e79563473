//! The `TransferState` protobuf a transfer carries (spec §11.1 "TransferState"), built from the
//! source device's `PlayerState`: options, playback position, the context (with explicit pages
//! when the catalog cannot resolve its URI), the session and the queue. Used by the Connect
//! hub; depends on the catalog, ids and protobuf types only.

use librespot_protocol::context::Context;
use librespot_protocol::context_page::ContextPage;
use librespot_protocol::context_player_options::ContextPlayerOptions;
use librespot_protocol::context_track::ContextTrack;
use librespot_protocol::play_origin::PlayOrigin;
use librespot_protocol::playback::Playback;
use librespot_protocol::player::{PlayerState, ProvidedTrack};
use librespot_protocol::queue::Queue;
use librespot_protocol::session::Session;
use librespot_protocol::transfer_state::TransferState;
use protobuf::MessageField;

use crate::catalog::Catalog;
use crate::ids;
use crate::util::now_ms;

fn context_track(t: &ProvidedTrack) -> ContextTrack {
    let mut c = ContextTrack::new();
    c.set_uri(t.uri.clone());
    if !t.uid.is_empty() {
        c.set_uid(t.uid.clone());
    }
    if let Some((_, gid)) = ids::parse_uri(&t.uri) {
        c.set_gid(gid.to_vec());
    }
    for (k, v) in &t.metadata {
        c.metadata.insert(k.clone(), v.clone());
    }
    c
}

/// The `TransferState` for handing `ps` to another device. With a catalog, the context gets
/// explicit pages only when the catalog cannot resolve its URI (e.g. a list of tracks).
pub(crate) fn transfer_state(ps: &PlayerState, catalog: Option<&Catalog>) -> TransferState {
    let mut ts = TransferState::new();

    let mut opts = ContextPlayerOptions::new();
    let o = ps.options.clone().unwrap_or_default();
    opts.set_shuffling_context(o.shuffling_context);
    opts.set_repeating_context(o.repeating_context);
    opts.set_repeating_track(o.repeating_track);
    ts.options = MessageField::some(opts);

    let mut pb = Playback::new();
    let timestamp = if ps.timestamp > 0 {
        ps.timestamp
    } else {
        now_ms()
    };
    pb.set_timestamp(timestamp);
    let position = i32::try_from(ps.position_as_of_timestamp.max(0)).unwrap_or(i32::MAX);
    pb.set_position_as_of_timestamp(position);
    pb.set_playback_speed(1.0);
    pb.set_is_paused(ps.is_paused || !ps.is_playing);
    let current = ps.track.clone().unwrap_or_default();
    pb.current_track = MessageField::some(context_track(&current));
    ts.playback = MessageField::some(pb);

    let mut ctx = Context::new();
    ctx.set_uri(ps.context_uri.clone());
    ctx.set_url(if ps.context_url.is_empty() {
        format!("context://{}", ps.context_uri)
    } else {
        ps.context_url.clone()
    });
    for (k, v) in &ps.context_metadata {
        ctx.metadata.insert(k.clone(), v.clone());
    }
    let resolvable = !ps.context_uri.is_empty()
        && catalog.is_none_or(|c| {
            c.by_uri(&ps.context_uri).is_some()
                || ps.context_uri.ends_with(":collection")
                || ids::parse_uri(&ps.context_uri).is_some_and(|(k, _)| k == ids::Kind::Playlist)
        });
    if !resolvable {
        let mut page = ContextPage::new();
        let in_context = |t: &&ProvidedTrack| t.provider != "queue";
        for t in ps.prev_tracks.iter().filter(in_context) {
            page.tracks.push(context_track(t));
        }
        if current.provider != "queue" {
            page.tracks.push(context_track(&current));
        }
        for t in ps.next_tracks.iter().filter(in_context) {
            page.tracks.push(context_track(t));
        }
        ctx.pages.push(page);
    }
    let mut session = Session::new();
    session.context = MessageField::some(ctx);
    session.set_current_uid(current.uid.clone());
    if let Some(origin) = ps.play_origin.as_ref() {
        let mut po = PlayOrigin::new();
        po.set_feature_identifier(origin.feature_identifier.clone());
        po.set_feature_version(origin.feature_version.clone());
        po.set_view_uri(origin.view_uri.clone());
        po.set_device_identifier(origin.device_identifier.clone());
        session.play_origin = MessageField::some(po);
    }
    ts.current_session = MessageField::some(session);

    let mut queue = Queue::new();
    for t in ps.next_tracks.iter().filter(|t| t.provider == "queue") {
        queue.tracks.push(context_track(t));
    }
    queue.set_is_playing_queue(current.provider == "queue");
    ts.queue = MessageField::some(queue);
    ts
}
