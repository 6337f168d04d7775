//! One web visitor, from offer to clean-up.
//!
//! [`start`] answers the browser's offer, builds a pipeline session with live input and output
//! (on a blocking thread: loading models takes a while and must not stall the server's reactor),
//! and spawns the session's driver. The driver joins the two sides with three bounded paths:
//!
//! - peer → pipeline: decoded microphone audio into the live capture ring; typed text (the data
//!   channel's `{"type":"text"}` messages) into the turn stage's queue;
//! - pipeline → peer: encoded packets from the sink, written as RTP by a sender task;
//! - events → peer: transcripts, captions, state and latency as JSON on the data channel.
//!
//! It ends the session when the client goes away (ICE disconnected/failed/closed), on DELETE,
//! at server shutdown, after `idle_timeout` without a user turn, after `max_duration`, or when the
//! pipeline fails — and then always the same way: stop the pipeline, close the peer, free the slot.
//! A panic anywhere in the driver is caught and takes the same path; the server goes on.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use futures_util::FutureExt;
use serde::Deserialize;
use thiserror::Error;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio::time::Instant;

use super::peer::{self, IceServer, Peer, PeerError, PeerEvent, PeerEvents, PeerSettings};
use super::sessions::{LiveHandles, SlotGuard};
use crate::config::{PipelineConfig, ServeConfig};
use crate::pipeline::events::{AgentState, SessionEvent};
use crate::pipeline::{LiveInput, PipelineError, Session, SessionInput, SessionOutput};
use crate::runtime::Metrics;
use crate::transport::live::{JitterSettings, LiveAudioIn, LiveCounters, LiveOutput, LivePacket, live_audio};

/// Encoded packets waiting for the network: about half a second of video and audio.
const PACKET_QUEUE: usize = 48;
/// Typed messages waiting for the turn stage.
const TYPED_QUEUE: usize = 4;
/// Longest typed message accepted (bytes).
pub const MAX_TYPED_BYTES: usize = 2_000;
/// How long a stopping pipeline gets to wind down before the driver moves on.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How long a lost connection may take to come back (ICE "disconnected" can recover).
const RECONNECT_GRACE: Duration = Duration::from_secs(5);
/// Video bitrate for the browser.
const VIDEO_BITRATE_KBPS: u32 = 800;

/// Why a session could not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("the avatar pipeline could not start: {0}")]
    Pipeline(#[from] PipelineError),
    #[error("the session could not start: {0}")]
    Internal(String),
}

/// Why a session ended (sent to the browser as `{"type":"ended","reason":...}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    ClientGone,
    Ended,
    Idle,
    MaxDuration,
    PipelineFailed,
    Panicked,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::ClientGone => "client_gone",
            EndReason::Ended => "ended",
            EndReason::Idle => "idle",
            EndReason::MaxDuration => "max_duration",
            EndReason::PipelineFailed => "pipeline_failed",
            EndReason::Panicked => "internal_error",
        }
    }
}

/// The peer settings `[serve]` asks for.
pub fn peer_settings(serve: &ServeConfig) -> PeerSettings {
    let defaults = PeerSettings::default();
    PeerSettings {
        ice_servers: ice_servers(serve),
        udp_ports: serve.udp_ports,
        bind_ip: serve.ice_bind.unwrap_or(defaults.bind_ip),
        ..defaults
    }
}

/// The STUN/TURN servers both peers use.
pub fn ice_servers(serve: &ServeConfig) -> Vec<IceServer> {
    if serve.ice_urls.is_empty() {
        return Vec::new();
    }
    vec![IceServer {
        urls: serve.ice_urls.clone(),
        username: serve.ice_username.clone(),
        credential: serve.ice_credential.clone(),
    }]
}

/// Answers `offer_sdp` for the session holding `slot`, starts its pipeline and driver, and
/// returns the answer SDP. On error the slot is freed (the guard drops).
pub async fn start(
    slot: SlotGuard,
    pipeline: Arc<PipelineConfig>,
    peer_settings: PeerSettings,
    offer_sdp: &str,
) -> Result<String, StartError> {
    let (peer, peer_events, answer) = peer::answer(&peer_settings, offer_sdp).await?;
    let counters = Arc::new(LiveCounters::default());
    let (audio_in, capture) = live_audio(JitterSettings::default(), counters.clone());
    let (typed_tx, typed) = mpsc::channel(TYPED_QUEUE);
    let (packets_tx, packets) = mpsc::channel(PACKET_QUEUE);
    let output = LiveOutput {
        packets: packets_tx,
        keyframe_wanted: peer.keyframe_requests(),
        counters: counters.clone(),
        video_bitrate_kbps: VIDEO_BITRATE_KBPS,
    };
    let config = pipeline.clone();
    let timekeeper = slot.sessions().timekeeper().cloned();
    let built = tokio::task::spawn_blocking(move || {
        // The session's task stages are spawned on the runtime entered here: the registry's
        // raised one when there is one.
        let _entered = timekeeper.as_ref().map(|handle| handle.enter());
        Session::start(
            &config,
            SessionInput::Live(LiveInput { capture, typed }),
            SessionOutput::Live(output),
        )
    })
    .await;
    let session = match built {
        Ok(Ok(session)) => session,
        Ok(Err(error)) => {
            peer.close().await;
            return Err(error.into());
        }
        Err(join_error) => {
            peer.close().await;
            return Err(StartError::Internal(format!(
                "building the pipeline panicked: {join_error}"
            )));
        }
    };
    let stop = Arc::new(Notify::new());
    slot.set_live(LiveHandles {
        metrics: session.metrics.clone(),
        stop: stop.clone(),
        pipeline_shutdown: session.shutdown_trigger(),
    });
    let limits = pipeline.serve.clone();
    tracing::info!(session = slot.id(), "session live");
    tokio::spawn(drive(
        slot,
        Driver {
            peer,
            peer_events,
            session,
            audio_in,
            typed_tx,
            packets,
            stop,
            limits,
        },
    ));
    Ok(answer)
}

struct Driver {
    peer: Peer,
    peer_events: PeerEvents,
    session: Session,
    audio_in: LiveAudioIn,
    typed_tx: mpsc::Sender<String>,
    packets: mpsc::Receiver<LivePacket>,
    stop: Arc<Notify>,
    limits: ServeConfig,
}

/// Runs a session to its end, then cleans up; the slot is freed when `slot` drops at the end.
async fn drive(slot: SlotGuard, driver: Driver) {
    let peer = driver.peer.clone();
    let shutdown = driver.session.shutdown_trigger();
    let metrics = driver.session.metrics.clone();
    let id = slot.id().to_string();
    let reason = match AssertUnwindSafe(run(driver)).catch_unwind().await {
        Ok(reason) => reason,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            tracing::error!(session = %id, panic = %message, "the session's driver panicked; ending the session");
            slot.sessions()
                .totals()
                .panicked
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            EndReason::Panicked
        }
    };
    // Whatever happened, the pipeline stops and the peer closes.
    shutdown.trigger();
    peer.send_event(serde_json::json!({"type": "ended", "reason": reason.as_str()}).to_string());
    peer.close().await;
    let stats = peer.stats();
    log_end(&id, reason, &metrics, stats);
    if reason == EndReason::PipelineFailed || reason == EndReason::Panicked {
        slot.sessions()
            .totals()
            .failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    drop(slot);
}

fn log_end(id: &str, reason: EndReason, metrics: &Metrics, stats: peer::PeerStats) {
    let turns = metrics.turns().latest().map_or(0, |epoch| epoch.0);
    tracing::info!(
        session = id,
        reason = reason.as_str(),
        turns,
        video_frames_sent = stats.video_frames_sent,
        audio_packets_sent = stats.audio_packets_sent,
        "session ended"
    );
}

/// A message from the widget on the data channel.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ClientMessage {
    Text { text: String },
}

async fn run(driver: Driver) -> EndReason {
    let Driver {
        peer,
        mut peer_events,
        session,
        mut audio_in,
        typed_tx,
        packets,
        stop,
        limits,
    } = driver;
    let metrics = session.metrics.clone();
    let mut events = session.events.subscribe();
    let pipeline_stop = session.shutdown_trigger();
    let sender = tokio::spawn(send_media(peer.clone(), packets));
    let mut pipeline = tokio::spawn(session.wait());
    let started = Instant::now();
    let deadline = tokio::time::sleep(limits.max_duration);
    tokio::pin!(deadline);
    let mut idle_check = tokio::time::interval(Duration::from_secs(1));
    let mut last_activity = Instant::now();
    let mut latest_turn = None;
    let mut disconnected_at: Option<Instant> = None;
    peer.send_event(
        SessionEvent::State {
            state: AgentState::Listening,
            turn: 0,
        }
        .to_json(),
    );

    let reason = loop {
        tokio::select! {
            event = peer_events.recv() => match event {
                Some(PeerEvent::Audio { samples, .. }) => audio_in.push(&samples),
                Some(PeerEvent::Text(text)) => {
                    match parse_typed(&text) {
                        Ok(text) => {
                            last_activity = Instant::now();
                            if typed_tx.try_send(text).is_err() {
                                peer.send_event(error_event("too many messages at once: wait for the answer"));
                            }
                        }
                        Err(message) => peer.send_event(error_event(&message)),
                    }
                }
                Some(PeerEvent::Disconnected) => {
                    disconnected_at.get_or_insert_with(Instant::now);
                }
                None => break EndReason::ClientGone,
                Some(PeerEvent::Connected) => disconnected_at = None,
                Some(PeerEvent::ChannelOpen) => {}
            },
            event = events.recv() => match event {
                Ok(event) => {
                    if let SessionEvent::Transcript { is_final: true, .. } = &event {
                        last_activity = Instant::now();
                    }
                    peer.send_event(event.to_json());
                }
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    tracing::debug!(lost, "the peer fell behind on session events");
                }
                Err(broadcast::error::RecvError::Closed) => {}
            },
            _ = stop.notified() => break EndReason::Ended,
            _ = &mut deadline => break EndReason::MaxDuration,
            _ = idle_check.tick() => {
                // A spoken turn counts as activity even without words (no STT, or a noise).
                let latest = metrics.turns().latest();
                if latest != latest_turn {
                    latest_turn = latest;
                    last_activity = Instant::now();
                }
                if last_activity.elapsed() >= limits.idle_timeout {
                    break EndReason::Idle;
                }
                if disconnected_at.is_some_and(|at| at.elapsed() >= RECONNECT_GRACE) {
                    break EndReason::ClientGone;
                }
            }
            result = &mut pipeline => {
                match result {
                    Ok(Ok(_)) => break EndReason::Ended,
                    Ok(Err(error)) => {
                        tracing::error!(%error, "the session's pipeline failed");
                        break EndReason::PipelineFailed;
                    }
                    Err(join_error) => {
                        tracing::error!(%join_error, "the session's pipeline task failed");
                        break EndReason::PipelineFailed;
                    }
                }
            }
        }
    };
    tracing::debug!(
        reason = reason.as_str(),
        lasted_s = started.elapsed().as_secs_f64(),
        "ending the session"
    );
    pipeline_stop.trigger();
    if !pipeline.is_finished() && tokio::time::timeout(STOP_GRACE, &mut pipeline).await.is_err() {
        tracing::warn!("the pipeline did not stop in time; abandoning it");
        pipeline.abort();
    }
    sender.abort();
    let _ = sender.await;
    reason
}

/// Writes the sink's packets to the peer until the sink closes or the connection is gone.
async fn send_media(peer: Peer, mut packets: mpsc::Receiver<LivePacket>) {
    while let Some(packet) = packets.recv().await {
        let result = match packet {
            LivePacket::Video {
                data, media_sample, ..
            } => peer.write_video(Bytes::from(data), media_sample).await,
            LivePacket::Audio { data, media_sample } => {
                peer.write_audio(Bytes::from(data), media_sample).await
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "the peer stopped taking media");
            break;
        }
    }
}

/// The text of a `{"type":"text","text":...}` message, or what is wrong with it.
fn parse_typed(message: &str) -> Result<String, String> {
    let ClientMessage::Text { text } = serde_json::from_str(message)
        .map_err(|_| r#"unrecognised message: send {"type":"text","text":"..."}"#.to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Err("empty message: type something first".into());
    }
    if text.len() > MAX_TYPED_BYTES {
        return Err(format!(
            "message too long ({} bytes): the most is {MAX_TYPED_BYTES}",
            text.len()
        ));
    }
    Ok(text.to_string())
}

fn error_event(message: &str) -> String {
    serde_json::json!({"type": "error", "message": message}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_messages_are_checked() {
        assert_eq!(
            parse_typed(r#"{"type":"text","text":" hello "}"#),
            Ok("hello".into())
        );
        assert!(
            parse_typed(r#"{"type":"text","text":"   "}"#)
                .unwrap_err()
                .contains("empty")
        );
        assert!(parse_typed("not json").unwrap_err().contains("unrecognised"));
        assert!(parse_typed(r#"{"type":"shout","text":"x"}"#).is_err());
        let long = format!(
            r#"{{"type":"text","text":"{}"}}"#,
            "a".repeat(MAX_TYPED_BYTES + 1)
        );
        assert!(parse_typed(&long).unwrap_err().contains("too long"));
    }
}
