//! The engine's audio output: the sink and its lifecycle as one state ([`Output`]) instead of
//! an optional sink, an optional error and two flags that could disagree.
//!
//! Owned and called by the engine thread only (`engine`); depends on the sink trait alone.

use crate::audio::sink::{Sink, SinkError};

/// What the sink is doing, as last told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Not started: before the first track, and after a failure or the final stop (`start` is
    /// tried again when a track wants to play).
    Stopped,
    Running,
    /// Started, its clock held; queued samples stay.
    Paused,
}

/// The sink, or why there is none.
pub(super) enum Output {
    /// The sink factory failed; the reason is reported whenever a track wants to play.
    Missing(String),
    Open {
        sink: Box<dyn Sink>,
        mode: Mode,
    },
}

/// What [`Output::start`] did.
pub(super) enum Started {
    /// It was running (or paused) already.
    Already,
    /// Just started; the sink's clock (`played_frames`) stands here.
    Now(u64),
}

impl Output {
    pub fn new(sink: Result<Box<dyn Sink>, SinkError>) -> Output {
        match sink {
            Ok(sink) => Output::Open {
                sink,
                mode: Mode::Stopped,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot open the audio sink");
                Output::Missing(e.to_string())
            }
        }
    }

    /// Why there is no sink (`None`: there is one).
    pub fn missing(&self) -> Option<&str> {
        match self {
            Output::Missing(reason) => Some(reason),
            Output::Open { .. } => None,
        }
    }

    /// The sink's clock (0 without a sink).
    pub fn played(&self) -> u64 {
        match self {
            Output::Open { sink, .. } => sink.played_frames(),
            Output::Missing(_) => 0,
        }
    }

    /// Starts the sink unless it runs already. `Err`: why it can't (no sink, or `start` failed).
    pub fn start(&mut self) -> Result<Started, String> {
        match self {
            Output::Missing(reason) => Err(reason.clone()),
            Output::Open { mode, .. } if *mode != Mode::Stopped => Ok(Started::Already),
            Output::Open { sink, mode } => match sink.start() {
                Ok(()) => {
                    *mode = Mode::Running;
                    Ok(Started::Now(sink.played_frames()))
                }
                Err(e) => Err(e.to_string()),
            },
        }
    }

    /// Holds or releases a started sink's clock (a stopped sink has nothing to hold).
    pub fn set_paused(&mut self, paused: bool) {
        if let Output::Open { sink, mode } = self {
            let want = if paused { Mode::Paused } else { Mode::Running };
            if *mode != Mode::Stopped && *mode != want {
                *mode = want;
                sink.set_paused(paused);
            }
        }
    }

    /// Queues samples on a started sink (starting it is the caller's business).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), String> {
        match self {
            Output::Open { sink, mode } if *mode != Mode::Stopped => {
                sink.write(samples).map_err(|e| e.to_string())
            }
            Output::Open { .. } => Err("the audio sink is not started".into()),
            Output::Missing(reason) => Err(reason.clone()),
        }
    }

    /// Drops what a started sink holds; returns its clock then (`None`: not started).
    pub fn clear(&mut self) -> Option<u64> {
        match self {
            Output::Open { sink, mode } if *mode != Mode::Stopped => {
                sink.clear();
                Some(sink.played_frames())
            }
            _ => None,
        }
    }

    /// Drops what a started sink holds and stops it (a wav file gets its header); it can be
    /// started again. Nothing to do when not started.
    pub fn stop(&mut self) -> Result<(), SinkError> {
        match self {
            Output::Open { sink, mode } if *mode != Mode::Stopped => {
                *mode = Mode::Stopped;
                sink.clear();
                sink.stop()
            }
            _ => Ok(()),
        }
    }
}
