//! The STT stage: streaming transcription of each user turn.
//!
//! The stage itself is a light task that only appends audio, so it always keeps up with the
//! listening side; it never waits on the decoder. Decoding runs on the stage's own worker
//! thread, fed through a small job edge; results come back on a second edge that the stage
//! serves before new audio.
//!
//! While the user speaks, the growing audio of the turn is re-decoded every
//! `partial_interval` of new audio, and as soon as the user pauses (so the endpointer gets the
//! words up to the pause quickly). Partial hypotheses are settled with LocalAgreement-2
//! ([`super::agreement`]) and go to the dialogue (only once the turn is confirmed, not while it
//! is a barge-in candidate) and back to the turn detector ([`Heard`]). A partial is only started
//! when the worker is idle, so when decoding falls behind partials are skipped — never the
//! final: the end of a turn always queues a final decode, and aborts a partial still running so
//! the final does not wait behind it. `stt_final_ms` (end of turn → final transcript) is the
//! stage's metered latency.
//!
//! Audio buffers travel to the worker and back, so after start-up nothing is allocated per
//! decode (a small pool; a turn is bounded by `max_turn_samples`).

use std::time::Instant;

use crate::audio::LISTEN_RATE_HZ;
use crate::pipeline::events::{EventBus, SessionEvent};
use crate::runtime::{
    EdgeSpec, Epoch, FullPolicy, Receiver, Sender, SideEvent, StageCtx, StageError, Stamped, TrySendError,
    TurnMark, edge,
};
use crate::turn::{Heard, TurnItem};

use super::agreement::LocalAgreement;
use super::{AbortSignal, SttError, Transcriber};

/// What STT tells the dialogue.
#[derive(Clone, Debug)]
pub struct Transcript {
    pub epoch: Epoch,
    pub text: String,
    /// The last transcript of the turn.
    pub is_final: bool,
    /// Bytes of `text` two consecutive hypotheses agreed on: `&text[..committed_len]` will not
    /// change again in this turn (all of it in a final).
    pub committed_len: usize,
}

impl Stamped for Transcript {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.epoch)
    }
}

/// How the stage streams.
#[derive(Clone, Copy, Debug)]
pub struct SttSettings {
    /// New audio (16 kHz samples) that triggers a partial re-decode; 0: no partials.
    pub partial_interval_samples: usize,
    /// The longest turn kept (the endpointer cuts turns at about this length).
    pub max_turn_samples: usize,
}

impl SttSettings {
    pub fn new(partial_interval: std::time::Duration, max_turn: std::time::Duration) -> Self {
        let samples = |d: std::time::Duration| (d.as_millis() as usize) * LISTEN_RATE_HZ as usize / 1000;
        SttSettings {
            partial_interval_samples: samples(partial_interval),
            max_turn_samples: samples(max_turn),
        }
    }
}

/// Unvoiced audio after speech that counts as a pause worth decoding at once (100 ms).
const PAUSE_SAMPLES: usize = LISTEN_RATE_HZ as usize / 10;
/// Shortest audio worth a partial decode (300 ms).
const MIN_PARTIAL_SAMPLES: usize = 3 * LISTEN_RATE_HZ as usize / 10;
/// Audio buffers in circulation: the worker holds at most a partial and a final (plus one for
/// a stale final being skipped).
const BUFFERS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Partial,
    Final,
}

struct DecodeJob {
    kind: Kind,
    utterance: u64,
    epoch: Epoch,
    audio: Vec<f32>,
    /// Input-clock end of `audio`.
    audio_end_sample: u64,
    /// Finals: when the end of the turn reached the stage (the start of `stt_final_ms`) and the
    /// turn's settled words.
    end_of_turn_at: Option<tokio::time::Instant>,
    agreement: Option<LocalAgreement>,
    abort: AbortSignal,
}

struct DecodeResult {
    job: DecodeJob,
    text: Result<String, SttError>,
    decode_ms: f64,
}

impl Stamped for DecodeResult {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.job.epoch)
    }
}

const JOBS: EdgeSpec = EdgeSpec::new("stt_jobs", BUFFERS, FullPolicy::Wait);
const RESULTS: EdgeSpec = EdgeSpec::new("stt_results", BUFFERS, FullPolicy::Wait);

fn spawn_worker(
    mut transcriber: Box<dyn Transcriber>,
    mut jobs: Receiver<DecodeJob>,
    mut results: Sender<DecodeResult>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("persona-stt-decode".into())
        .spawn(move || {
            while let Some(job) = jobs.recv_blocking() {
                let started = Instant::now();
                let text = if job.abort.is_aborted() {
                    Err(SttError::Aborted)
                } else if job.kind == Kind::Partial {
                    transcriber.transcribe_partial(&job.audio, &job.abort)
                } else {
                    transcriber.transcribe(&job.audio, &job.abort)
                };
                let result = DecodeResult {
                    job,
                    text,
                    decode_ms: started.elapsed().as_secs_f64() * 1000.0,
                };
                if results.send_blocking(result).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// The utterance whose audio is being collected.
struct Open {
    utterance: u64,
    epoch: Epoch,
    audio: Vec<f32>,
    end_sample: u64,
    /// Length of `audio` at the end of the last voiced frame.
    voiced_len: usize,
    /// Length of `audio` when the last partial was started.
    decoded_len: usize,
    truncated_samples: u64,
    agreement: LocalAgreement,
    partials: u32,
}

/// A job the worker has.
struct InFlight {
    utterance: u64,
    kind: Kind,
    epoch: Epoch,
    abort: AbortSignal,
}

/// The stage's bookkeeping besides its edges.
struct Streaming {
    settings: SttSettings,
    open: Option<Open>,
    /// Spare audio buffers (each of `max_turn_samples` capacity).
    pool: Vec<Vec<f32>>,
    /// Jobs handed to the worker and not yet back.
    in_flight: Vec<InFlight>,
    /// A final that found the job edge full (only possible with stale jobs ahead of it).
    waiting_final: Option<DecodeJob>,
    partials_skipped: u64,
}

impl Streaming {
    fn buffer(&mut self) -> Vec<f32> {
        self.pool.pop().unwrap_or_else(|| {
            tracing::warn!("STT buffer pool empty: allocating (more decodes in flight than expected)");
            Vec::with_capacity(self.settings.max_turn_samples)
        })
    }

    fn recycle(&mut self, mut audio: Vec<f32>) {
        if self.pool.len() <= BUFFERS {
            audio.clear();
            self.pool.push(audio);
        }
    }

    fn worker_idle(&self) -> bool {
        self.in_flight.is_empty() && self.waiting_final.is_none()
    }

    /// Aborts the partial decodes of `utterance`.
    fn abort_partials(&mut self, utterance: u64) {
        for job in &self.in_flight {
            if job.utterance == utterance && job.kind == Kind::Partial {
                job.abort.abort();
            }
        }
    }

    /// Starts a partial decode of the open utterance if it is due and the worker is idle.
    fn partial_job(&mut self) -> Option<DecodeJob> {
        let interval = self.settings.partial_interval_samples;
        let open = self.open.as_ref()?;
        if interval == 0 || open.audio.len() < MIN_PARTIAL_SAMPLES || open.audio.len() == open.decoded_len {
            return None;
        }
        let grown = open.audio.len() - open.decoded_len >= interval;
        let paused =
            open.voiced_len > open.decoded_len && open.audio.len() - open.voiced_len >= PAUSE_SAMPLES;
        if !(grown || paused) {
            return None;
        }
        if !self.worker_idle() {
            return None;
        }
        // Every interval of audio that passed without a decode was a skipped partial.
        if let Some(intervals) = (open.audio.len() - open.decoded_len).checked_div(interval) {
            self.partials_skipped += intervals.saturating_sub(1) as u64;
        }
        let mut audio = self.buffer();
        let open = self.open.as_mut().expect("checked above");
        audio.extend_from_slice(&open.audio);
        open.decoded_len = open.audio.len();
        Some(DecodeJob {
            kind: Kind::Partial,
            utterance: open.utterance,
            epoch: open.epoch,
            audio,
            audio_end_sample: open.end_sample,
            end_of_turn_at: None,
            agreement: None,
            abort: AbortSignal::new(),
        })
    }
}

/// Hands `job` to the worker without ever waiting: a full job edge keeps a final aside.
fn submit(state: &mut Streaming, jobs: &mut Sender<DecodeJob>, job: DecodeJob) -> Result<(), &'static str> {
    let entry = InFlight {
        utterance: job.utterance,
        kind: job.kind,
        epoch: job.epoch,
        abort: job.abort.clone(),
    };
    match jobs.try_send(job) {
        Ok(_) => {
            state.in_flight.push(entry);
            Ok(())
        }
        Err(TrySendError::Full(job)) => {
            if job.kind == Kind::Final {
                state.waiting_final = Some(job);
            } else {
                state.recycle(job.audio);
            }
            Ok(())
        }
        Err(TrySendError::Closed(_)) => Err("the decoder thread stopped"),
    }
}

/// The STT stage. `heard` carries what was heard back to the turn detector (never waits).
/// Without a transcriber (a live session with no STT model) spoken turns go unanswered and only
/// typed text reaches the dialogue. Transcripts are published on `events` as they settle.
pub async fn run_stage(
    mut ctx: StageCtx,
    transcriber: Option<Box<dyn Transcriber>>,
    mut settings: SttSettings,
    mut input: Receiver<TurnItem>,
    mut output: Sender<Transcript>,
    mut heard: Option<Sender<Heard>>,
    events: EventBus,
) -> Result<(), StageError> {
    let (mut jobs, job_rx) = edge(JOBS);
    let (result_tx, mut results) = edge(RESULTS);
    let transcribes = transcriber.is_some();
    // Without a worker its ends of the edges are kept while the stage runs, so the result edge
    // stays open (a closed one means the worker died).
    let _unused_worker_edges = match transcriber {
        Some(transcriber) => {
            spawn_worker(transcriber, job_rx, result_tx).map_err(|e| StageError::failed(ctx.name, e))?;
            None
        }
        None => {
            tracing::warn!("no speech recognition configured: only typed text is answered");
            settings.partial_interval_samples = 0;
            Some((job_rx, result_tx))
        }
    };
    let fail = |name: &'static str, message: &'static str| StageError::failed(name, message);

    let mut state = Streaming {
        settings,
        open: None,
        // One for the utterance being collected, the rest for decodes in flight.
        pool: (0..=BUFFERS)
            .map(|_| Vec::with_capacity(settings.max_turn_samples))
            .collect(),
        in_flight: Vec::with_capacity(BUFFERS + 1),
        waiting_final: None,
        partials_skipped: 0,
    };
    let mut input_done = false;
    loop {
        let event = if input_done {
            // Only results are left to wait for.
            tokio::select! {
                biased;
                _ = ctx.shutdown.requested() => return Ok(()),
                result = results.recv() => match result {
                    Some(result) => SideEvent::Side(result),
                    None => SideEvent::SideClosed,
                },
            }
        } else {
            ctx.next_with_side(&mut input, Some(&mut results), None).await
        };
        match event {
            SideEvent::Item(TurnItem::Start { .. }) if !transcribes => {}
            SideEvent::Item(TurnItem::Typed { epoch, text }) => {
                if let Some(old) = state.open.take() {
                    state.abort_partials(old.utterance);
                    state.recycle(old.audio);
                }
                ctx.metrics.mark(epoch, TurnMark::Transcript(text.clone()));
                events.publish(|| SessionEvent::Transcript {
                    turn: epoch.0,
                    text: text.clone(),
                    is_final: true,
                });
                let transcript = Transcript {
                    epoch,
                    committed_len: text.len(),
                    text,
                    is_final: true,
                };
                ctx.emit(&mut output, transcript).await?;
            }
            SideEvent::Item(TurnItem::Start { epoch, utterance }) => {
                if let Some(old) = state.open.take() {
                    state.abort_partials(old.utterance);
                    state.recycle(old.audio);
                }
                let audio = state.buffer();
                state.open = Some(Open {
                    utterance,
                    epoch,
                    audio,
                    end_sample: 0,
                    voiced_len: 0,
                    decoded_len: 0,
                    truncated_samples: 0,
                    agreement: LocalAgreement::new(),
                    partials: 0,
                });
            }
            SideEvent::Item(TurnItem::Audio {
                utterance,
                frame,
                speech,
                ..
            }) => {
                let Some(open) = state.open.as_mut().filter(|o| o.utterance == utterance) else {
                    continue;
                };
                let room = settings.max_turn_samples - open.audio.len();
                let take = frame.len().min(room);
                open.audio.extend_from_slice(&frame.samples()[..take]);
                open.truncated_samples += (frame.len() - take) as u64;
                open.end_sample = frame.end_sample();
                if speech {
                    open.voiced_len = open.audio.len();
                }
                if let Some(job) = state.partial_job() {
                    submit(&mut state, &mut jobs, job).map_err(|m| fail(ctx.name, m))?;
                }
            }
            SideEvent::Item(TurnItem::End { epoch, utterance }) => {
                let Some(open) = state.open.take_if(|o| o.utterance == utterance) else {
                    continue;
                };
                // The final must not wait behind a partial that is now pointless.
                state.abort_partials(utterance);
                let undecoded = open.audio.len() - open.decoded_len;
                if let Some(intervals) = undecoded.checked_div(settings.partial_interval_samples) {
                    state.partials_skipped += intervals.saturating_sub(1) as u64;
                }
                if open.truncated_samples > 0 {
                    tracing::warn!(
                        turn = epoch.0,
                        truncated_samples = open.truncated_samples,
                        "turn audio longer than the STT buffer"
                    );
                }
                tracing::debug!(
                    turn = epoch.0,
                    audio_ms = open.audio.len() as f64 * 1000.0 / LISTEN_RATE_HZ as f64,
                    partials = open.partials,
                    "decoding the final transcript"
                );
                let job = DecodeJob {
                    kind: Kind::Final,
                    utterance,
                    epoch,
                    audio: open.audio,
                    audio_end_sample: open.end_sample,
                    end_of_turn_at: Some(tokio::time::Instant::now()),
                    agreement: Some(open.agreement),
                    abort: AbortSignal::new(),
                };
                submit(&mut state, &mut jobs, job).map_err(|m| fail(ctx.name, m))?;
            }
            SideEvent::Item(TurnItem::Cancel { utterance, .. }) => {
                if let Some(old) = state.open.take_if(|o| o.utterance == utterance) {
                    tracing::debug!(utterance, "candidate cancelled: its audio is dropped");
                    state.abort_partials(utterance);
                    state.recycle(old.audio);
                }
            }
            SideEvent::Side(result) => {
                let position = state
                    .in_flight
                    .iter()
                    .position(|j| j.utterance == result.job.utterance && j.kind == result.job.kind);
                if let Some(position) = position {
                    state.in_flight.remove(position);
                }
                if let Some(job) = state.waiting_final.take() {
                    submit(&mut state, &mut jobs, job).map_err(|m| fail(ctx.name, m))?;
                }
                let DecodeResult { job, text, decode_ms } = result;
                match job.kind {
                    Kind::Partial => {
                        let current = state.open.as_mut().filter(|o| o.utterance == job.utterance);
                        match (current, text) {
                            (Some(open), Ok(text)) => {
                                let agreed = open.agreement.update(&text);
                                open.partials += 1;
                                tracing::debug!(
                                    utterance = job.utterance,
                                    decode_ms,
                                    committed = %crate::redact::text(&agreed.text[..agreed.committed_len]),
                                    "partial transcript"
                                );
                                let words = Heard {
                                    utterance: job.utterance,
                                    text: agreed.text.clone(),
                                    audio_end_sample: job.audio_end_sample,
                                };
                                // A drop-oldest edge: the turn detector wants the latest.
                                let turn_gone = heard.as_mut().is_some_and(|h| {
                                    matches!(h.try_send(words), Err(TrySendError::Closed(_)))
                                });
                                if turn_gone {
                                    heard = None;
                                }
                                // A candidate's words stay here until it is confirmed.
                                if job.epoch == ctx.epochs.current() {
                                    ctx.metrics.mark(job.epoch, TurnMark::PartialTranscript);
                                    events.publish(|| SessionEvent::Transcript {
                                        turn: job.epoch.0,
                                        text: agreed.text.clone(),
                                        is_final: false,
                                    });
                                    let partial = Transcript {
                                        epoch: job.epoch,
                                        committed_len: agreed.committed_len,
                                        text: agreed.text,
                                        is_final: false,
                                    };
                                    // Partials are expendable: a busy dialogue skips them.
                                    if let Err(TrySendError::Closed(_)) = output.try_send(partial) {
                                        return Err(fail(ctx.name, "the dialogue stage is gone"));
                                    }
                                }
                            }
                            (_, Err(SttError::Aborted)) => {}
                            (_, Err(error)) => tracing::warn!(%error, "a partial decode failed"),
                            (None, Ok(_)) => {}
                        }
                    }
                    Kind::Final => {
                        if ctx.is_stale(job.epoch) {
                            tracing::debug!(
                                turn = job.epoch.0,
                                "dropping the transcript of an interrupted turn"
                            );
                        } else {
                            let text = match text {
                                Ok(text) => job.agreement.map_or(text.clone(), |mut a| a.finish(&text)),
                                Err(error) => {
                                    // The turn goes on without words; the dialogue asks again.
                                    tracing::error!(turn = job.epoch.0, %error, "transcription failed");
                                    String::new()
                                }
                            };
                            let end_of_turn_at = job.end_of_turn_at.expect("finals carry their start");
                            let final_ms = end_of_turn_at.elapsed().as_secs_f64() * 1000.0;
                            tracing::info!(
                                turn = job.epoch.0,
                                decode_ms,
                                stt_final_ms = final_ms,
                                chars = text.len(),
                                "final transcript"
                            );
                            ctx.metrics.mark(job.epoch, TurnMark::Transcript(text.clone()));
                            events.publish(|| SessionEvent::Transcript {
                                turn: job.epoch.0,
                                text: text.clone(),
                                is_final: true,
                            });
                            ctx.metrics.mark(job.epoch, TurnMark::SttFinal { ms: final_ms });
                            // The stage's latency is end of turn → final transcript (`stt_final_ms`).
                            ctx.set_cause(end_of_turn_at);
                            let transcript = Transcript {
                                epoch: job.epoch,
                                committed_len: text.len(),
                                text,
                                is_final: true,
                            };
                            ctx.emit(&mut output, transcript).await?;
                        }
                    }
                }
                state.recycle(job.audio);
                if let Some(job) = state.partial_job() {
                    submit(&mut state, &mut jobs, job).map_err(|m| fail(ctx.name, m))?;
                }
                if input_done && state.in_flight.is_empty() && state.waiting_final.is_none() {
                    break;
                }
            }
            SideEvent::Interrupt(epoch) => {
                // Work for interrupted turns is pointless now (a candidate's own epoch is
                // never older than the new one).
                if let Some(old) = state.open.take_if(|o| o.epoch < epoch) {
                    state.recycle(old.audio);
                }
                for job in state.in_flight.iter().filter(|j| j.epoch < epoch) {
                    job.abort.abort();
                }
            }
            SideEvent::Closed => {
                input_done = true;
                if state.in_flight.is_empty() && state.waiting_final.is_none() {
                    break;
                }
            }
            SideEvent::SideClosed => {
                return Err(fail(ctx.name, "the decoder thread stopped unexpectedly"));
            }
            SideEvent::Shutdown => return Ok(()),
            SideEvent::Deadline => {}
        }
    }
    if state.partials_skipped > 0 {
        ctx.metrics.count("stt_partials_skipped", state.partials_skipped);
    }
    Ok(())
}
