//! The controller half of the Connect service: moving playback to another device (waking a
//! LAN speaker nobody is signed in to with our credentials first) and sending player commands
//! and volume to another device through connect-state (the Web API's volume endpoint as the
//! fallback). Each request runs on its own spawned task and reports failures as
//! [`ConnectEvent::Notice`]s.
//!
//! An `impl Task` beside the service task (`task.rs`), which calls it for the handle's
//! `Ctl::Transfer` / `Ctl::Control`. Never depends on UI code or the simulator.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::Method;

use super::task::Task;
use super::Ctl;
use crate::api::ApiError;
use crate::connect::command;
use crate::connect::{ConnectEvent, Device, DeviceOrigin, RemoteControl};

impl Task {
    pub(super) fn transfer(&mut self, device: Device) {
        let own = self.me.device_id.clone();
        let wake = match &device.origin {
            DeviceOrigin::Lan {
                addr,
                cpath,
                active_user,
            } if active_user.is_empty() => Some((*addr, cpath.clone())),
            _ => None,
        };
        let sp = self.deps.spclient.clone();
        let events = self.events.clone();
        // To our own id: "pull playback from whoever is active" (as librespot does).
        let to = device.id.clone();
        let name = device.name.clone();
        let ctl = self.ctl_self.clone();
        let mut devices = self.devices_tx.subscribe();
        let creds = self.deps.session.reusable_credentials();
        let our_name = self.me.name.clone();
        let wake_timeout = self.cfg.wake_timeout;
        tokio::spawn(async move {
            let notice = |text: String| {
                let _ = events.send(ConnectEvent::Notice { error: true, text });
            };
            // The ids go into a path that carries our bearer token: one encoded segment each,
            // or no request at all.
            let (Some(from_seg), Some(to_seg)) = (
                crate::api::path_segment(&own),
                crate::api::path_segment(&to),
            ) else {
                notice(format!(
                    "Cannot move playback to {name}: its device id is not usable"
                ));
                return;
            };
            if let Some((addr, cpath)) = wake {
                // Nobody is logged in to it: hand it our login (as a phone does), then wait
                // for it to register with the cluster. The TUI asked the user first (the trust
                // prompt); the device must still be the one they said yes to, and it gets no
                // redirects to follow.
                let woken = match crate::connect::wake::client() {
                    Ok(http) => {
                        crate::connect::wake::add_user_to(
                            &http,
                            addr,
                            &cpath,
                            Some(&to),
                            &creds,
                            &our_name,
                            &own,
                        )
                        .await
                    }
                    Err(e) => Err(crate::connect::wake::WakeError::Unreachable {
                        addr,
                        reason: e.to_string(),
                    }),
                };
                if let Err(e) = woken {
                    notice(format!("Cannot wake {name}: {e}"));
                    return;
                }
                let seen = tokio::time::timeout(
                    wake_timeout,
                    devices.wait_for(|l| {
                        l.iter()
                            .any(|d| d.id == to && d.origin == DeviceOrigin::Cloud)
                    }),
                )
                .await;
                if !matches!(seen, Ok(Ok(_))) {
                    notice(format!("{name} took our login but did not come online"));
                    return;
                }
            }
            let path = format!("/connect-state/v1/connect/transfer/from/{from_seg}/to/{to_seg}");
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let body = command::transfer_body().to_string().into_bytes();
            match sp.request(Method::POST, &path, h, Some(body)).await {
                Ok(_) => {
                    tracing::info!(%to, "transfer asked");
                    let _ = ctl.send(Ctl::Refresh);
                }
                Err(e) => notice(format!("Cannot move playback to {name}: {e}")),
            }
        });
    }

    pub(super) fn control(&mut self, device_id: String, control: RemoteControl) {
        let own = self.me.device_id.clone();
        let sp = self.deps.spclient.clone();
        let web = self.deps.web_api.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let result = match command::control_body(&control) {
                Some(body) => {
                    let (Some(from), Some(to)) = (
                        crate::api::path_segment(&own),
                        crate::api::path_segment(&device_id),
                    ) else {
                        let _ = events.send(ConnectEvent::Notice {
                            error: true,
                            text: "The remote device's id is not usable".to_string(),
                        });
                        return;
                    };
                    let path = format!("/connect-state/v1/player/command/from/{from}/to/{to}");
                    let mut h = HeaderMap::new();
                    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    sp.request(Method::POST, &path, h, Some(body.to_string().into_bytes()))
                        .await
                        .map(|_| ())
                }
                None => {
                    let RemoteControl::SetVolume(v) = control else {
                        return;
                    };
                    set_remote_volume(&sp, &web, &own, &device_id, v).await
                }
            };
            if let Err(e) = result {
                let _ = events.send(ConnectEvent::Notice {
                    error: true,
                    text: format!("The remote device did not take the command: {e}"),
                });
            }
        });
    }
}

/// Volume on another device: connect-state's volume endpoint (what the official clients use),
/// else the Web API's `PUT /me/player/volume?device_id=`.
async fn set_remote_volume(
    sp: &crate::api::SpClient,
    web: &crate::api::WebApi,
    own: &str,
    to: &str,
    volume: u16,
) -> Result<(), ApiError> {
    let (Some(from_seg), Some(to_seg)) =
        (crate::api::path_segment(own), crate::api::path_segment(to))
    else {
        return Err(ApiError::NotFound(format!(
            "device {}",
            crate::logging::escaped(to)
        )));
    };
    let path = format!("/connect-state/v1/connect/volume/from/{from_seg}/to/{to_seg}");
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::json!({"volume": volume})
        .to_string()
        .into_bytes();
    match sp.request(Method::PUT, &path, h, Some(body)).await {
        Ok(_) => Ok(()),
        Err(ApiError::NotFound(_)) | Err(ApiError::Http { .. }) => {
            let percent = u8::try_from((u32::from(volume) * 100 + 32767) / 65535).unwrap_or(100);
            web.player_volume(percent, Some(to)).await
        }
        Err(e) => Err(e),
    }
}
