//! `tonearm play`: plays tracks, albums, artists, playlists, shows or episodes to the end
//! through the same [`Services`] the TUI and the daemon use, printing a line per item. An
//! episode first in the queue starts at its resume point (this install's, from the state
//! directory, else Spotify's `resume_point`), and the heard position of every episode is kept
//! there while it plays (see `resume`). With `--sink pipe` the audio goes to
//! standard output, so the messages go to standard error. A reader that closes standard output
//! (`tonearm play … | head -2`, or the consumer of `--sink pipe` going away) ends playback
//! quietly. Called by `main.rs`.

use anyhow::{bail, Result};

use super::args::PlayArgs;
use super::output::{self, note, say, Closed};
use super::SignedIn;
use crate::api::metadata::Bitrate;
use crate::audio::normalise::NormalisationConfig;
use crate::audio::output::pipe::PipeSink;
use crate::audio::sink::{SinkFactory, SinkSpec};
use crate::audio::volume;
use crate::config::Config;
use crate::id::ItemKind;
use crate::player::PlayerEvent;
use crate::resume::{resume_file, ResumeKeeper};
use crate::services::{PlaybackOptions, Services};

/// Where `play`'s messages go: standard output, or standard error when the audio uses stdout.
#[derive(Clone, Copy)]
struct Messages {
    to_stderr: bool,
}

impl Messages {
    fn say(self, text: &str) -> Result<()> {
        if self.to_stderr {
            note!("{text}");
            Ok(())
        } else {
            say!("{text}")
        }
    }
}

pub async fn run(demo: bool, cfg: Config, args: PlayArgs) -> Result<()> {
    let bitrate: Bitrate = args
        .bitrate
        .parse()
        .map_err(|e| anyhow::anyhow!("--bitrate: {e}"))?;
    let mut sink = SinkSpec::parse(&args.sink)?;
    let messages = Messages {
        to_stderr: sink == SinkSpec::Pipe,
    };
    if let Err(e) = crate::audio::output::probe(&sink) {
        if !demo {
            return Err(e.into());
        }
        messages.say(&format!(
            "{e}\nDemo: playing to the null sink instead (try --sink wav:demo.wav)."
        ))?;
        sink = SinkSpec::Null;
    }

    let signed = SignedIn::connect(demo, cfg).await?;
    let mut uris = args.uris.clone();
    if uris.is_empty() {
        match signed.demo.as_ref().and_then(|d| d.demo_album()) {
            Some(album) => uris.push(album),
            None => {
                signed.close().await;
                bail!("say what to play: a Spotify URI or an open.spotify.com link");
            }
        }
    }
    let playback = PlaybackOptions {
        sink: sink.clone(),
        bitrate,
        volume: volume::from_percent(args.volume),
        normalisation: NormalisationConfig {
            enabled: args.normalise,
            pregain_db: args.pregain,
            ..Default::default()
        },
    };
    let (services, events) = Services::start_with_sink(
        signed.config,
        signed.session,
        &playback,
        sink_factory(&sink),
    );
    // `--demo` touches no files: its resume points live as long as the process.
    let resume_path = if demo {
        None
    } else {
        crate::paths::state_dir().map(|d| resume_file(&d))
    };
    let result = play(
        &services,
        events,
        &uris,
        &args,
        &sink,
        messages,
        resume_path,
    )
    .await;
    services.shutdown().await;
    if let Some(d) = signed.demo {
        d.shutdown().await;
    }
    result
}

/// The sink for `spec`; `pipe` writes through [`output::Stdout`] so a reader that went away is
/// recognised as such rather than reported as a failure.
fn sink_factory(spec: &SinkSpec) -> SinkFactory {
    match spec {
        SinkSpec::Pipe => Box::new(|| Ok(Box::new(PipeSink::new(output::Stdout)))),
        other => crate::audio::output::factory(other.clone()),
    }
}

/// Resolves the queue, starts it and prints what plays until it ends (or Ctrl-C).
async fn play(
    services: &Services,
    mut events: tokio::sync::mpsc::UnboundedReceiver<PlayerEvent>,
    uris: &[String],
    args: &PlayArgs,
    sink: &SinkSpec,
    messages: Messages,
    resume_path: Option<std::path::PathBuf>,
) -> Result<()> {
    let items = services.resolve_items(uris).await?;
    let mut resume = ResumeKeeper::open(resume_path);
    resume.note_episodes(
        items
            .iter()
            .filter(|u| u.kind == ItemKind::Episode)
            .map(|u| u.id),
    );
    let queue: Vec<_> = items.iter().map(|u| u.id).collect();
    let Some(&first) = queue.first() else {
        bail!("nothing to play: the items have no tracks or episodes");
    };
    let start_ms = if resume.is_episode(first) {
        match resume.get(first) {
            Some(ms) => Some(ms),
            None => services.remote_resume_point(first).await,
        }
    } else {
        None
    };
    messages.say(&format!(
        "Playing {} track(s) to {sink} at {} kbps.",
        queue.len(),
        args.bitrate
    ))?;
    if let Some(ms) = start_ms {
        messages.say(&format!("Resuming at {}.", output::duration_text(ms)))?;
    }
    services.player.load(queue, 0, start_ms.unwrap_or(0), true);
    let mut status = services.player.status();
    let result = follow(&mut events, &mut status, &mut resume, messages).await;
    let _ = resume.observe(&status.borrow(), std::time::Instant::now());
    resume.finish();
    result
}

/// Prints what plays until the queue ends (or Ctrl-C), keeping episodes' resume points.
async fn follow(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<PlayerEvent>,
    status: &mut tokio::sync::watch::Receiver<crate::player::PlayerStatus>,
    resume: &mut ResumeKeeper,
    messages: Messages,
) -> Result<()> {
    let mut played = 0usize;
    let mut last_error = None;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                messages.say("Stopped.")?;
                break;
            }
            Ok(()) = status.changed() => {
                let _ = resume.observe(&status.borrow_and_update(), std::time::Instant::now());
            }
            ev = events.recv() => match ev {
                None => break,
                Some(PlayerEvent::TrackChanged(t)) => {
                    played += 1;
                    messages.say(&output::track_line(&t.name, &t.artists, &t.album, t.duration_ms))?;
                }
                // The pipe sink's reader went away: nothing more can be heard.
                Some(PlayerEvent::Error { .. }) if output::stdout_closed() => {
                    tracing::info!("standard output closed: playback stops");
                    return Err(Closed.into());
                }
                Some(PlayerEvent::Error { reason, skipped, .. }) => {
                    messages.say(&format!("✗ {reason}{}", if skipped { " (skipped)" } else { "" }))?;
                    last_error = Some(reason);
                    if !skipped {
                        break;
                    }
                }
                Some(PlayerEvent::EndOfTrack(id)) => resume.ended(id),
                Some(PlayerEvent::EndOfQueue) | Some(PlayerEvent::Stopped) => break,
                Some(_) => {}
            },
        }
    }
    match (played, last_error) {
        (0, Some(reason)) => bail!("nothing could be played: {reason}"),
        _ => Ok(()),
    }
}
