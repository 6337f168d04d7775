//! The motion stage: turns each utterance's audio (and phoneme timing, when the TTS gives it)
//! into one pose per video frame, passing the audio through in order.
//!
//! One generator per epoch, created when the epoch's first item arrives; the backend comes from
//! the pipeline file. Frames and audio share the utterance's sample clock, so the playout can
//! line them up exactly. The learned backend computes on the shared [`MotionWorker`] thread; the
//! stage only awaits its answers, so the async task never blocks.

use std::sync::Arc;

use crate::audio::AudioFrame;
use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped};
use crate::tts::stage::{TtsItem, TtsPayload};

use super::model::{ModelMotion, MotionWorker};
use super::{EnergyMotion, FrameClock, MotionFrame, RulesMotion};

/// The backend a motion stage runs, built before the session starts.
#[derive(Clone)]
pub enum MotionEngine {
    /// Phoneme timings → visemes (needs a TTS that reports phonemes).
    Rules,
    /// Audio energy → jaw.
    Energy,
    /// The learned audio-to-motion model on a shared inference worker.
    Model {
        worker: Arc<MotionWorker>,
        /// The session's seed: with the epoch it decides the model's noise.
        seed: u64,
        /// Video frames per model call (the streaming chunk).
        chunk_frames: usize,
    },
}

impl std::fmt::Debug for MotionEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MotionEngine::Rules => write!(f, "Rules"),
            MotionEngine::Energy => write!(f, "Energy"),
            MotionEngine::Model {
                worker,
                seed,
                chunk_frames,
            } => write!(
                f,
                "Model({}, seed {seed}, {chunk_frames} frames per chunk)",
                worker.path().display()
            ),
        }
    }
}

/// What motion sends to the playout: the utterance's audio and poses on its clock.
#[derive(Debug)]
pub enum SpeechPayload {
    Audio(AudioFrame),
    Motion(MotionFrame),
    /// Everything of the utterance was sent: `total_samples` of audio and the poses covering it.
    End {
        total_samples: u64,
    },
}

#[derive(Debug)]
pub struct SpeechItem {
    pub epoch: Epoch,
    pub payload: SpeechPayload,
}

impl Stamped for SpeechItem {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.epoch)
    }
}

enum Generator {
    Rules(RulesMotion),
    Energy(EnergyMotion),
    Model(ModelMotion),
}

impl Generator {
    fn new(engine: &MotionEngine, clock: FrameClock, epoch: Epoch) -> Result<Self, StageError> {
        Ok(match engine {
            MotionEngine::Rules => Generator::Rules(RulesMotion::new(clock, epoch)),
            MotionEngine::Energy => Generator::Energy(EnergyMotion::new(clock, epoch)),
            MotionEngine::Model {
                worker,
                seed,
                chunk_frames,
            } => Generator::Model(
                ModelMotion::new(worker.meta(), clock, epoch, *seed, *chunk_frames)
                    .map_err(|e| StageError::failed("motion", e))?,
            ),
        })
    }
}

/// Runs every chunk the model stream has ready on the shared worker.
async fn run_model(
    engine: &MotionEngine,
    stream: &mut ModelMotion,
    frames: &mut Vec<MotionFrame>,
) -> Result<(), StageError> {
    let MotionEngine::Model { worker, .. } = engine else {
        unreachable!("model streams exist only for the model engine");
    };
    while let Some(request) = stream.poll_request() {
        let poses = worker
            .infer(request)
            .await
            .map_err(|e| StageError::failed("motion", e))?;
        stream.complete(&poses, frames);
    }
    Ok(())
}

/// The motion stage.
pub async fn run_stage(
    mut ctx: StageCtx,
    engine: MotionEngine,
    clock: FrameClock,
    mut input: Receiver<TtsItem>,
    mut output: Sender<SpeechItem>,
) -> Result<(), StageError> {
    let mut current: Option<(Epoch, Generator)> = None;
    let mut frames: Vec<MotionFrame> = Vec::with_capacity(16);
    loop {
        let item = match ctx.next(&mut input, None).await {
            Event::Item(item) => item,
            Event::Interrupt(_) | Event::Deadline => continue,
            Event::Closed | Event::Shutdown => return Ok(()),
        };
        let epoch = item.epoch;
        if current.as_ref().is_none_or(|(e, _)| *e != epoch) {
            current = Some((epoch, Generator::new(&engine, clock, epoch)?));
        }
        let (_, generator) = current.as_mut().expect("set above");
        let mut audio = None;
        let mut end = None;
        match item.payload {
            TtsPayload::Phonemes(marks) => {
                if let Generator::Rules(rules) = generator {
                    rules.push_phonemes(&marks);
                }
            }
            TtsPayload::Audio(frame) => {
                match generator {
                    Generator::Rules(rules) => rules.advance(frame.end_sample(), &mut frames),
                    Generator::Energy(energy) => {
                        energy.push_audio(frame.samples());
                        energy.advance(&mut frames);
                    }
                    Generator::Model(model) => {
                        model
                            .push_frame(&frame)
                            .map_err(|e| StageError::failed("motion", e))?;
                        run_model(&engine, model, &mut frames).await?;
                    }
                }
                audio = Some(frame);
            }
            TtsPayload::End { total_samples } => {
                match generator {
                    Generator::Rules(rules) => rules.finish(total_samples, &mut frames),
                    Generator::Energy(energy) => energy.finish(&mut frames),
                    Generator::Model(model) => {
                        model.finish(total_samples);
                        run_model(&engine, model, &mut frames).await?;
                    }
                }
                end = Some(total_samples);
                current = None;
            }
        }
        // The stage's latency is the time to compute poses, measured before any waiting on the
        // downstream edge; the audio it passes through is not its work.
        if !frames.is_empty() {
            ctx.record_output(Some(epoch));
        }
        if let Some(frame) = audio {
            let item = SpeechItem {
                epoch,
                payload: SpeechPayload::Audio(frame),
            };
            ctx.forward(&mut output, item).await?;
        }
        for frame in frames.drain(..) {
            let item = SpeechItem {
                epoch,
                payload: SpeechPayload::Motion(frame),
            };
            ctx.forward(&mut output, item).await?;
        }
        if let Some(total_samples) = end {
            let item = SpeechItem {
                epoch,
                payload: SpeechPayload::End { total_samples },
            };
            ctx.forward(&mut output, item).await?;
        }
    }
}
