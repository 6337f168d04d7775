//! The motion stage: turns each utterance's audio (and phoneme timing, when the TTS gives it)
//! into one pose per video frame, passing the audio through in order.
//!
//! One generator per epoch, created when the epoch's first item arrives; the backend comes from
//! the pipeline file. Frames and audio share the utterance's sample clock, so the playout can
//! line them up exactly.

use crate::audio::AudioFrame;
use crate::config::MotionBackend;
use crate::runtime::{Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped};
use crate::tts::stage::{TtsItem, TtsPayload};

use super::{EnergyMotion, FrameClock, MotionFrame, RulesMotion};

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
}

impl Generator {
    fn new(backend: MotionBackend, clock: FrameClock, epoch: Epoch) -> Self {
        match backend {
            MotionBackend::Rules => Generator::Rules(RulesMotion::new(clock, epoch)),
            MotionBackend::Energy => Generator::Energy(EnergyMotion::new(clock, epoch)),
        }
    }
}

/// The motion stage.
pub async fn run_stage(
    mut ctx: StageCtx,
    backend: MotionBackend,
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
            current = Some((epoch, Generator::new(backend, clock, epoch)));
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
                }
                audio = Some(frame);
            }
            TtsPayload::End { total_samples } => {
                match generator {
                    Generator::Rules(rules) => rules.finish(total_samples, &mut frames),
                    Generator::Energy(energy) => energy.finish(&mut frames),
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
