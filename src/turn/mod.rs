//! Turn taking: when the user starts, whether that interrupts the avatar, and when they are done.
//!
//! The sans-IO [`Endpointer`] decides; this module's stage shell turns its decisions into
//! epochs and items for STT. A user turn bumps the epoch through the [`Interrupter`] — which is
//! what barge-in is: everything still in flight for the previous turn (a reply being synthesised
//! or played) goes stale at once. While the avatar is busy a user onset is only a *candidate*:
//! its audio goes to STT under the epoch it would get, and the epoch is bumped only when the
//! endpointer confirms it as real speech. A rejected candidate (a cough, "mhm") is cancelled at
//! STT and nothing else sees it: no epoch bump, nothing flushed, the avatar keeps talking.
//!
//! The shell reads what the avatar is doing from the playout's [`StatusWatch`], hears partial
//! transcripts back from STT (a side input, [`Heard`]), and runs the optional turn model
//! ([`smart_turn`]) when the endpointer asks — synchronously, so a session with a turn model
//! runs this stage on its own thread.

pub mod endpointer;
pub mod smart_turn;
pub mod voicing;
pub mod words;

use std::collections::VecDeque;

use thiserror::Error;

use crate::audio::{AudioFrame, LISTEN_RATE_HZ};
use crate::playout::StatusWatch;
use crate::runtime::{
    BargeInDecision, Epoch, Interrupter, Receiver, Sender, SideEvent, StageCtx, StageError, Stamped, TurnMark,
};
use crate::vad::VadFrame;

pub use endpointer::{BargeInReason, EndpointEvent, EndpointSettings, Endpointer};
pub use smart_turn::SmartTurn;

/// Errors of the turn stage's backends.
#[derive(Debug, Error)]
pub enum TurnError {
    #[error(transparent)]
    Onnx(#[from] crate::onnx::OnnxError),
}

/// A model that judges from audio whether the user has finished their turn.
pub trait TurnModel: Send {
    /// Probability in [0, 1] that the turn is complete, given its audio so far (16 kHz mono,
    /// the most recent part last).
    fn completion_probability(&mut self, audio_16k: &[f32]) -> Result<f32, TurnError>;
}

/// What the turn stage tells STT.
#[derive(Debug)]
pub enum TurnItem {
    /// A user turn (or a barge-in candidate) began. A candidate's `epoch` is the one it will
    /// have if confirmed, one past the current epoch.
    Start { epoch: Epoch, utterance: u64 },
    /// Audio of the turn, 16 kHz, with its VAD decision.
    Audio {
        epoch: Epoch,
        utterance: u64,
        frame: AudioFrame,
        speech: bool,
    },
    /// The user finished; transcribe now.
    End { epoch: Epoch, utterance: u64 },
    /// The candidate was not a turn: forget its audio.
    Cancel { epoch: Epoch, utterance: u64 },
    /// The user typed instead of speaking: a whole turn, already in words.
    Typed { epoch: Epoch, text: String },
}

impl Stamped for TurnItem {
    fn epoch(&self) -> Option<Epoch> {
        Some(match self {
            TurnItem::Start { epoch, .. }
            | TurnItem::Audio { epoch, .. }
            | TurnItem::End { epoch, .. }
            | TurnItem::Cancel { epoch, .. }
            | TurnItem::Typed { epoch, .. } => *epoch,
        })
    }
}

/// What the streaming STT heard so far in an utterance (STT → turn, the latest wins).
#[derive(Clone, Debug)]
pub struct Heard {
    pub utterance: u64,
    pub text: String,
    /// Input-clock end (16 kHz samples) of the audio the text was decoded from.
    pub audio_end_sample: u64,
}

impl Stamped for Heard {
    fn epoch(&self) -> Option<Epoch> {
        // Matched by utterance, never stale by epoch: a candidate has no epoch of its own yet.
        None
    }
}

fn media_ms(sample: u64) -> f64 {
    sample as f64 * 1000.0 / LISTEN_RATE_HZ as f64
}

/// Most audio the turn model looks at: 8 s, as Smart Turn v3 was trained.
pub const MODEL_AUDIO_SAMPLES: usize = 8 * LISTEN_RATE_HZ as usize;

/// The turn stage's parts.
pub struct TurnStage {
    pub endpointer: Endpointer,
    /// The one writer of epochs: only this stage interrupts.
    pub interrupter: Interrupter,
    /// What the playout is playing; `None` when nothing plays (the avatar is never busy).
    pub status: Option<StatusWatch>,
    pub model: Option<Box<dyn TurnModel>>,
    /// Text the user typed (a live session's text box). It is taken on the input clock, at the
    /// next audio frame (a live capture delivers one every 20 ms, voice or not), and is a turn
    /// of its own: it interrupts the avatar like confirmed speech does.
    pub typed: Option<tokio::sync::mpsc::Receiver<String>>,
}

/// The open turn or candidate: the epoch its items carry.
#[derive(Clone, Copy, Debug)]
struct Open {
    utterance: u64,
    epoch: Epoch,
}

/// The turn stage. `heard` is the side input from STT (partial transcripts); without it the
/// endpointer decides from audio alone.
pub async fn run_stage(
    mut ctx: StageCtx,
    parts: TurnStage,
    mut input: Receiver<VadFrame>,
    mut heard: Option<Receiver<Heard>>,
    mut output: Sender<TurnItem>,
) -> Result<(), StageError> {
    let TurnStage {
        mut endpointer,
        interrupter,
        status,
        mut model,
        mut typed,
    } = parts;
    let mut open: Option<Open> = None;
    let mut input_end_sample = 0;
    // The current utterance's most recent audio, for the turn model (allocated once).
    let mut recent: VecDeque<f32> =
        VecDeque::with_capacity(if model.is_some() { MODEL_AUDIO_SAMPLES } else { 0 });
    let mut model_input: Vec<f32> = Vec::with_capacity(recent.capacity());
    loop {
        match ctx.next_with_side(&mut input, heard.as_mut(), None).await {
            SideEvent::Item(VadFrame { frame, speech, .. }) => {
                input_end_sample = frame.end_sample();
                if let Some(status) = &status {
                    endpointer.set_avatar_speaking(status.current().speaking.is_some());
                }
                endpointer.handle_frame(frame, speech);
            }
            SideEvent::Side(words) => {
                endpointer.handle_transcript(words.utterance, &words.text, words.audio_end_sample);
                endpointer.poll_decision(input_end_sample);
            }
            SideEvent::SideClosed => heard = None,
            SideEvent::Closed => endpointer.finish(input_end_sample),
            SideEvent::Shutdown => return Ok(()),
            SideEvent::Interrupt(_) | SideEvent::Deadline => continue,
        }
        while let Some(event) = endpointer.poll_event() {
            let item = match event {
                EndpointEvent::Started {
                    utterance,
                    speech_start_sample,
                } => {
                    let epoch = interrupter.bump();
                    tracing::info!(
                        turn = epoch.0,
                        at_ms = media_ms(speech_start_sample),
                        "user turn started"
                    );
                    mark_start(&ctx, epoch, speech_start_sample);
                    open = Some(Open { utterance, epoch });
                    recent.clear();
                    TurnItem::Start { epoch, utterance }
                }
                EndpointEvent::Candidate {
                    utterance,
                    speech_start_sample,
                } => {
                    let epoch = interrupter.current().next();
                    tracing::debug!(
                        utterance,
                        at_ms = media_ms(speech_start_sample),
                        "speech while the avatar is busy: a barge-in candidate"
                    );
                    open = Some(Open { utterance, epoch });
                    recent.clear();
                    TurnItem::Start { epoch, utterance }
                }
                EndpointEvent::Confirmed {
                    utterance,
                    speech_start_sample,
                    decided_at_sample,
                    reason,
                    heard,
                } => {
                    let interrupted = interrupter.current();
                    if reason != BargeInReason::AvatarIdle {
                        // Marked before the bump, so the interruption is timed from the decision.
                        let decision =
                            decision(&ctx, true, reason, speech_start_sample, decided_at_sample, heard);
                        tracing::info!(
                            turn = interrupted.0,
                            reason = reason.as_str(),
                            detection_ms = decision.detection_ms,
                            "barge-in: the user interrupts"
                        );
                        ctx.metrics.mark(interrupted, TurnMark::BargeIn(decision));
                    }
                    let epoch = interrupter.bump();
                    debug_assert_eq!(open.map(|o| (o.utterance, o.epoch)), Some((utterance, epoch)));
                    tracing::info!(
                        turn = epoch.0,
                        at_ms = media_ms(speech_start_sample),
                        "user turn started"
                    );
                    mark_start(&ctx, epoch, speech_start_sample);
                    continue;
                }
                EndpointEvent::Rejected {
                    utterance,
                    speech_start_sample,
                    decided_at_sample,
                    reason,
                    heard,
                } => {
                    let current = interrupter.current();
                    let decision =
                        decision(&ctx, false, reason, speech_start_sample, decided_at_sample, heard);
                    tracing::info!(
                        turn = current.0,
                        reason = reason.as_str(),
                        "barge-in: not an interruption, the avatar goes on"
                    );
                    ctx.metrics.mark(current, TurnMark::BargeIn(decision));
                    let epoch = open.take().map_or(current.next(), |o| o.epoch);
                    TurnItem::Cancel { epoch, utterance }
                }
                EndpointEvent::Audio { frame, speech } => {
                    let Some(Open { utterance, epoch }) = open else {
                        continue;
                    };
                    if model.is_some() {
                        if recent.len() + frame.len() > MODEL_AUDIO_SAMPLES {
                            recent.drain(..recent.len() + frame.len() - MODEL_AUDIO_SAMPLES);
                        }
                        recent.extend(frame.samples());
                    }
                    TurnItem::Audio {
                        epoch,
                        utterance,
                        frame,
                        speech,
                    }
                }
                EndpointEvent::ModelRequest {
                    utterance,
                    speech_end_sample,
                } => {
                    if let Some(model) = model.as_mut() {
                        model_input.clear();
                        model_input.extend(recent.iter());
                        match model.completion_probability(&model_input) {
                            Ok(probability) => {
                                tracing::debug!(utterance, probability, "turn model verdict");
                                endpointer.handle_model(utterance, speech_end_sample, probability);
                                endpointer.poll_decision(input_end_sample);
                            }
                            // The silence rules decide without it.
                            Err(error) => tracing::error!(%error, "the turn model failed"),
                        }
                    }
                    continue;
                }
                ended @ EndpointEvent::Ended { .. } => {
                    let delay_ms = ended.endpoint_delay_ms().unwrap_or_default();
                    let EndpointEvent::Ended {
                        utterance,
                        speech_end_sample,
                        reason,
                        wait_samples,
                        ..
                    } = ended
                    else {
                        unreachable!("matched as Ended above")
                    };
                    let epoch = open.take().map_or(interrupter.current(), |o| o.epoch);
                    tracing::info!(turn = epoch.0, ?reason, delay_ms, "user turn ended");
                    ctx.metrics.mark(
                        epoch,
                        TurnMark::UserSpeechEnd {
                            media_ms: media_ms(speech_end_sample),
                        },
                    );
                    ctx.metrics.mark(epoch, TurnMark::Endpoint { reason, delay_ms });
                    ctx.metrics.mark(
                        epoch,
                        TurnMark::EndpointWait {
                            wait_ms: media_ms(wait_samples),
                        },
                    );
                    TurnItem::End { epoch, utterance }
                }
            };
            ctx.emit(&mut output, item).await?;
        }
        while let Some(text) = typed.as_mut().and_then(|t| t.try_recv().ok()) {
            // Speech still open keeps its (now stale) epoch: its words are dropped downstream.
            let epoch = interrupter.bump();
            let at_ms = media_ms(input_end_sample);
            tracing::info!(turn = epoch.0, at_ms, chars = text.len(), "typed user turn");
            ctx.metrics
                .mark(epoch, TurnMark::UserSpeechStart { media_ms: at_ms });
            ctx.metrics
                .mark(epoch, TurnMark::UserSpeechEnd { media_ms: at_ms });
            ctx.emit(&mut output, TurnItem::Typed { epoch, text }).await?;
        }
        if input.is_finished() && !endpointer.in_turn() {
            return Ok(());
        }
    }
}

fn mark_start(ctx: &StageCtx, epoch: Epoch, speech_start_sample: u64) {
    ctx.metrics.mark(
        epoch,
        TurnMark::UserSpeechStart {
            media_ms: media_ms(speech_start_sample),
        },
    );
}

fn decision(
    ctx: &StageCtx,
    interrupted: bool,
    reason: BargeInReason,
    speech_start_sample: u64,
    decided_at_sample: u64,
    heard: Option<String>,
) -> BargeInDecision {
    BargeInDecision {
        interrupted,
        reason: reason.as_str(),
        speech_onset_media_ms: media_ms(speech_start_sample),
        detection_ms: media_ms(decided_at_sample.saturating_sub(speech_start_sample)),
        decided_at_ms: ctx.metrics.clock().now_ms(),
        heard,
    }
}
