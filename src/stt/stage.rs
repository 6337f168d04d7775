//! The STT stage: collects each turn's audio and has it transcribed when the turn ends.
//!
//! The stage itself is a light task that only appends audio, so it always keeps up with the
//! listening side. Decoding runs on the stage's own worker thread, fed through a small bounded
//! job edge; results come back on a second edge that the stage serves before new audio. A
//! decode of a turn that has since been interrupted is skipped (if not started) or its result
//! dropped. Streaming partial transcripts come later; this decodes once per turn.

use std::time::Instant;

use crate::audio::LISTEN_RATE_HZ;
use crate::runtime::{
    CancelProbe, EdgeSpec, Epoch, EpochWatch, FullPolicy, Receiver, Sender, SideEvent, StageCtx, StageError,
    Stamped, TurnMark, edge,
};
use crate::turn::TurnItem;

use super::Transcriber;

/// What STT tells the dialogue.
#[derive(Clone, Debug)]
pub struct Transcript {
    pub epoch: Epoch,
    pub text: String,
    /// The last transcript of the turn.
    pub is_final: bool,
}

impl Stamped for Transcript {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.epoch)
    }
}

struct DecodeJob {
    epoch: Epoch,
    /// When the end of the turn reached the stage: the start of `stt_final_ms`.
    end_of_turn_at: tokio::time::Instant,
    audio: Vec<f32>,
    cancel: CancelProbe,
}

struct DecodeResult {
    epoch: Epoch,
    end_of_turn_at: tokio::time::Instant,
    text: Result<String, String>,
    decode_ms: f64,
}

impl Stamped for DecodeResult {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.epoch)
    }
}

const JOBS: EdgeSpec = EdgeSpec::new("stt_jobs", 2, FullPolicy::Wait);
const RESULTS: EdgeSpec = EdgeSpec::new("stt_results", 4, FullPolicy::Wait);

fn spawn_worker(
    mut transcriber: Box<dyn Transcriber>,
    mut jobs: Receiver<DecodeJob>,
    mut results: Sender<DecodeResult>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("persona-stt-decode".into())
        .spawn(move || {
            while let Some(job) = jobs.recv_blocking() {
                if job.cancel.is_cancelled() {
                    tracing::debug!(turn = job.epoch.0, "skipping the decode of an interrupted turn");
                    continue;
                }
                let started = Instant::now();
                let text = transcriber.transcribe(&job.audio).map_err(|e| e.to_string());
                let result = DecodeResult {
                    epoch: job.epoch,
                    end_of_turn_at: job.end_of_turn_at,
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

/// The STT stage. `max_turn_samples` bounds the per-turn buffer (the endpointer cuts turns at
/// that length, so nothing is lost).
pub async fn run_stage(
    mut ctx: StageCtx,
    transcriber: Box<dyn Transcriber>,
    max_turn_samples: usize,
    mut input: Receiver<TurnItem>,
    mut output: Sender<Transcript>,
) -> Result<(), StageError> {
    let (mut jobs, job_rx) = edge(JOBS);
    let (result_tx, mut results) = edge(RESULTS);
    spawn_worker(transcriber, job_rx, result_tx).map_err(|e| StageError::failed(ctx.name, e))?;
    let epochs: EpochWatch = ctx.epochs.clone();

    let mut turn: Option<Epoch> = None;
    let mut audio: Vec<f32> = Vec::with_capacity(max_turn_samples);
    let mut truncated_samples = 0u64;
    let mut pending = 0usize;
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
            SideEvent::Item(TurnItem::Start { epoch }) => {
                turn = Some(epoch);
                audio.clear();
            }
            SideEvent::Item(TurnItem::Audio { epoch, frame }) if turn == Some(epoch) => {
                let room = max_turn_samples - audio.len();
                let take = frame.len().min(room);
                audio.extend_from_slice(&frame.samples()[..take]);
                truncated_samples += (frame.len() - take) as u64;
            }
            SideEvent::Item(TurnItem::Audio { .. }) => {}
            SideEvent::Item(TurnItem::End { epoch }) => {
                if turn.take() != Some(epoch) {
                    continue;
                }
                if truncated_samples > 0 {
                    tracing::warn!(
                        turn = epoch.0,
                        truncated_samples,
                        "turn audio longer than the STT buffer"
                    );
                    truncated_samples = 0;
                }
                let job_audio = std::mem::replace(&mut audio, Vec::with_capacity(max_turn_samples));
                tracing::debug!(
                    turn = epoch.0,
                    audio_ms = job_audio.len() as f64 * 1000.0 / LISTEN_RATE_HZ as f64,
                    "decoding"
                );
                let job = DecodeJob {
                    epoch,
                    end_of_turn_at: tokio::time::Instant::now(),
                    audio: job_audio,
                    cancel: epochs.probe(epoch),
                };
                if jobs.send(job).await.is_err() {
                    return Err(StageError::failed(ctx.name, "the decoder thread stopped"));
                }
                pending += 1;
            }
            SideEvent::Side(result) => {
                pending -= 1;
                if ctx.is_stale(result.epoch) {
                    tracing::debug!(
                        turn = result.epoch.0,
                        "dropping the transcript of an interrupted turn"
                    );
                } else {
                    let text = match result.text {
                        Ok(text) => text,
                        Err(error) => {
                            // The turn goes on without words; the dialogue asks again.
                            tracing::error!(turn = result.epoch.0, %error, "transcription failed");
                            String::new()
                        }
                    };
                    tracing::info!(
                        turn = result.epoch.0,
                        decode_ms = result.decode_ms,
                        chars = text.len(),
                        "final transcript"
                    );
                    ctx.metrics.mark(result.epoch, TurnMark::Transcript(text.clone()));
                    // The stage's latency is end of turn → final transcript (`stt_final_ms`).
                    ctx.set_cause(result.end_of_turn_at);
                    let transcript = Transcript {
                        epoch: result.epoch,
                        text,
                        is_final: true,
                    };
                    ctx.emit(&mut output, transcript).await?;
                }
                if input_done && pending == 0 {
                    return Ok(());
                }
            }
            SideEvent::Closed => {
                input_done = true;
                if pending == 0 {
                    return Ok(());
                }
            }
            SideEvent::SideClosed => {
                return Err(StageError::failed(
                    ctx.name,
                    "the decoder thread stopped unexpectedly",
                ));
            }
            SideEvent::Shutdown => return Ok(()),
            SideEvent::Interrupt(_) | SideEvent::Deadline => {}
        }
    }
}
