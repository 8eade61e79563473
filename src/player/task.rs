//! The player's tokio side: runs [`TrackLoader`] futures for the engine thread, which never
//! blocks on the network. The engine sends load and cancel requests; each finished load is
//! handed back over the engine's message channel with the request number it was asked under.
//!
//! It also follows the loader's session (when it has one, [`TrackLoader::session_state`]) and
//! tells the engine the moment it is connected again, so a track held during an outage
//! resumes then rather than at its next timed retry.
//!
//! Ends when the engine drops its request sender (at shutdown); in-flight loads are aborted then.

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::loader::{LoadError, LoadErrorKind, TrackLoader};
use super::msg::{EngineMsg, LoaderRequest};
use crate::session::SessionState;

pub(super) async fn run(
    loader: Arc<dyn TrackLoader>,
    mut requests: mpsc::UnboundedReceiver<LoaderRequest>,
    engine: std_mpsc::Sender<EngineMsg>,
) {
    let mut loads: JoinSet<()> = JoinSet::new();
    let mut by_req: HashMap<u64, AbortHandle> = HashMap::new();
    let mut by_task: HashMap<tokio::task::Id, u64> = HashMap::new();
    let mut session = loader.session_state();
    loop {
        tokio::select! {
            changed = async {
                match session.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    // The session is gone for good: nothing more to follow.
                    session = None;
                } else if session
                    .as_mut()
                    .is_some_and(|rx| matches!(*rx.borrow_and_update(), SessionState::Connected))
                {
                    let _ = engine.send(EngineMsg::SessionUp);
                }
            }
            request = requests.recv() => match request {
                None => break,
                Some(LoaderRequest::Load { req, id }) => {
                    let loader = Arc::clone(&loader);
                    let engine = engine.clone();
                    let handle = loads.spawn(async move {
                        let result = loader.load(id).await;
                        // The engine may be gone (shutdown): nothing to do then.
                        let _ = engine.send(EngineMsg::Loaded { req, result });
                    });
                    by_task.insert(handle.id(), req);
                    by_req.insert(req, handle);
                }
                Some(LoaderRequest::Cancel { req }) => {
                    if let Some(handle) = by_req.remove(&req) {
                        by_task.remove(&handle.id());
                        handle.abort();
                    }
                }
            },
            Some(done) = loads.join_next_with_id(), if !loads.is_empty() => {
                let (task, panicked) = match done {
                    Ok((task, ())) => (task, false),
                    Err(e) => (e.id(), e.is_panic()),
                };
                if let Some(req) = by_task.remove(&task) {
                    by_req.remove(&req);
                    if panicked {
                        tracing::error!(req, "the track loader panicked");
                        let _ = engine.send(EngineMsg::Loaded {
                            req,
                            result: Err(LoadError {
                                kind: LoadErrorKind::Unavailable,
                                message: "loading the track failed unexpectedly".into(),
                            }),
                        });
                    }
                }
            }
        }
    }
    loads.abort_all();
}
