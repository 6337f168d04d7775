//! The TTS stage: speaks each reply piece and streams audio plus phoneme timing downstream.
//!
//! Each piece is normalised for speech ([`super::normalize`]) and handed to the backend. Audio
//! leaves as soon as the backend produces it: the synthesis callback resamples to the output
//! rate, frames it, and pushes frames without blocking while the edge has room; the rest waits
//! in a backlog (bounded by one reply piece) that drains after synthesis returns. The callback
//! never blocks, so a backend's engine lock is held only for synthesis itself. An interrupt
//! cancels synthesis from inside the callback and drops the backlog. A backend that fails
//! mid-reply is logged with the text it failed on; what it produced is played, and the reply
//! goes on with the next piece (the last piece still ends the utterance).
//!
//! Positions: every reply of one epoch is one utterance on its own sample clock at the output
//! rate, starting at 0; phoneme marks are placed on that same clock, and word marks are
//! published on it ([`super::spoken`], mapped back to the reply's own text) for the dialogue's
//! heard history.

use crate::pipeline::events::{EventBus, SessionEvent};
use std::collections::VecDeque;

use arrayvec::ArrayVec;

use crate::audio::{AudioFrame, MAX_FRAME_SAMPLES, StreamResampler};
use crate::dialogue::ReplyText;
use crate::runtime::{
    CancelProbe, Epoch, Event, Receiver, Sender, StageCtx, StageError, Stamped, TrySendError, TurnMark,
};

pub use super::SpeechSynth;
pub use super::espeak::EspeakSynth;
use super::normalize::{Normalized, normalize};
use super::{Flow, PhonemeMark, SpokenPublisher, SynthChunk};

/// Phoneme marks per item; larger batches are split.
pub const PHONEMES_PER_ITEM: usize = 16;

/// What the TTS stage sends to motion.
#[derive(Debug)]
pub enum TtsPayload {
    /// Utterance audio at the output rate.
    Audio(AudioFrame),
    /// Phonemes starting at utterance-local output-rate samples (sent before the audio they label).
    Phonemes(ArrayVec<PhonemeMark, PHONEMES_PER_ITEM>),
    /// The utterance is complete: `total_samples` of audio were sent.
    End { total_samples: u64 },
}

#[derive(Debug)]
pub struct TtsItem {
    pub epoch: Epoch,
    pub payload: TtsPayload,
}

impl Stamped for TtsItem {
    fn epoch(&self) -> Option<Epoch> {
        Some(self.epoch)
    }
}

/// One epoch's speech being produced.
struct Utterance {
    epoch: Epoch,
    /// Engine-rate samples synthesised so far in this utterance.
    engine_samples: u64,
    /// `engine_samples` when the current piece's synthesis began: the engine positions marks
    /// from the start of each synthesis call.
    piece_start: u64,
    /// Output-rate samples framed so far.
    framed_samples: u64,
    /// Resampled audio not yet framed.
    pending: Vec<f32>,
    /// Whether this utterance's first audio left (for the turn log's `tts_first_audio_ms`).
    sent_audio: bool,
}

/// The captions of one reply piece. A word's caption is published when the next word is marked
/// (or the piece ends), and runs up to it: a voice may voice two words as one ("I am" in
/// espeak-ng) and mark only the first, and the caption must not lose the second.
struct Captions<'a> {
    events: &'a EventBus,
    turn: u64,
    /// The last marked word: where it starts in the piece's text and in the audio (ms).
    pending: Option<(std::ops::Range<usize>, f64)>,
}

impl Captions<'_> {
    fn word(&mut self, original: &str, source: std::ops::Range<usize>, start_ms: f64) {
        let next_start = source.start;
        self.flush(original, Some(next_start));
        self.pending = Some((source, start_ms));
    }

    /// Publishes the pending word, up to `next_start` (or its own end).
    fn flush(&mut self, original: &str, next_start: Option<usize>) {
        let Some((source, start_ms)) = self.pending.take() else {
            return;
        };
        let end = next_start.map_or(source.end, |next| next.max(source.end));
        let turn = self.turn;
        self.events.publish(|| SessionEvent::Caption {
            turn,
            word: original
                .get(source.start..end)
                .unwrap_or_default()
                .trim()
                .trim_end_matches([',', '.', ';', ':', '!', '?'])
                .to_string(),
            start_ms,
        });
    }
}

/// Turns engine chunks into items; shared by the callback and the drain.
struct Framer {
    engine_rate_hz: u32,
    output_rate_hz: u32,
    frame_samples: usize,
    resampler: StreamResampler,
    scratch_in: Vec<f32>,
}

impl Framer {
    /// An engine-rate position in the current piece, on the utterance's output-rate clock.
    fn to_output(&self, utterance: &Utterance, piece_sample: u64) -> u64 {
        (utterance.piece_start + piece_sample) * self.output_rate_hz as u64 / self.engine_rate_hz as u64
    }

    /// Publishes word marks (and the pauses that end words) mapped back to the piece's own text
    /// (`original`), and each word as a caption (through `captions`).
    fn words(
        &self,
        utterance: &Utterance,
        chunk: &SynthChunk<'_>,
        (original, spoken_text): (&str, &Normalized),
        spoken: &mut SpokenPublisher,
        captions: &mut Captions<'_>,
    ) {
        // Words and pauses in the order they are spoken: a pause ends the word before it.
        let mut pauses = chunk
            .phonemes
            .iter()
            .filter(|m| m.symbol.as_str().starts_with('_'))
            .peekable();
        for word in chunk.words {
            while let Some(pause) = pauses.next_if(|p| p.start_sample < word.start_sample) {
                spoken.word_ends(self.to_output(utterance, pause.start_sample));
            }
            let source = spoken_text
                .source_range(word.text_start as usize..(word.text_start + word.text_len) as usize);
            let start = self.to_output(utterance, word.start_sample);
            spoken.word(start, source.end);
            captions.word(
                original,
                source,
                start as f64 * 1000.0 / self.output_rate_hz as f64,
            );
        }
        for pause in pauses {
            spoken.word_ends(self.to_output(utterance, pause.start_sample));
        }
    }

    fn marks(&self, utterance: &Utterance, marks: &[PhonemeMark], out: &mut impl FnMut(TtsPayload)) {
        for batch in marks.chunks(PHONEMES_PER_ITEM) {
            let converted = batch
                .iter()
                .map(|mark| PhonemeMark {
                    symbol: mark.symbol,
                    start_sample: self.to_output(utterance, mark.start_sample),
                })
                .collect();
            out(TtsPayload::Phonemes(converted));
        }
    }

    fn audio(&mut self, utterance: &mut Utterance, samples: &[i16], out: &mut impl FnMut(TtsPayload)) {
        self.scratch_in.clear();
        self.scratch_in
            .extend(samples.iter().map(|s| *s as f32 / 32768.0));
        self.resampler.process(&self.scratch_in, &mut utterance.pending);
        utterance.engine_samples += samples.len() as u64;
        self.frame(utterance, false, out);
    }

    fn finish(&mut self, utterance: &mut Utterance, out: &mut impl FnMut(TtsPayload)) {
        self.resampler.flush(&mut utterance.pending);
        self.frame(utterance, true, out);
    }

    fn frame(&self, utterance: &mut Utterance, all: bool, out: &mut impl FnMut(TtsPayload)) {
        let mut offset = 0;
        while utterance.pending.len() - offset >= self.frame_samples
            || (all && offset < utterance.pending.len())
        {
            let len = (utterance.pending.len() - offset).min(self.frame_samples);
            let frame = AudioFrame::new(
                self.output_rate_hz,
                utterance.framed_samples,
                &utterance.pending[offset..offset + len],
            )
            .with_epoch(utterance.epoch);
            utterance.framed_samples += len as u64;
            offset += len;
            out(TtsPayload::Audio(frame));
        }
        utterance.pending.drain(..offset);
    }
}

/// The TTS stage (runs on its own thread: synthesis is synchronous).
pub async fn run_stage(
    mut ctx: StageCtx,
    mut synth: Box<dyn SpeechSynth>,
    output_rate_hz: u32,
    mut spoken: SpokenPublisher,
    mut input: Receiver<ReplyText>,
    mut output: Sender<TtsItem>,
    events: EventBus,
) -> Result<(), StageError> {
    let frame_samples = (output_rate_hz as usize / 50).min(MAX_FRAME_SAMPLES);
    let mut framer = Framer {
        engine_rate_hz: synth.sample_rate_hz(),
        output_rate_hz,
        frame_samples,
        resampler: StreamResampler::new(synth.sample_rate_hz(), output_rate_hz)
            .map_err(|e| StageError::failed(ctx.name, e))?,
        scratch_in: Vec::new(),
    };
    let mut utterance: Option<Utterance> = None;
    let mut backlog: VecDeque<TtsPayload> = VecDeque::new();
    loop {
        let piece = match ctx.next(&mut input, None).await {
            Event::Item(piece) => piece,
            Event::Interrupt(_) | Event::Deadline => continue,
            Event::Closed | Event::Shutdown => return Ok(()),
        };
        if utterance.as_ref().is_none_or(|u| u.epoch != piece.epoch) {
            framer.resampler.reset();
            spoken.begin_reply(piece.epoch);
            utterance = Some(Utterance {
                epoch: piece.epoch,
                engine_samples: 0,
                piece_start: 0,
                framed_samples: 0,
                pending: Vec::with_capacity(frame_samples * 4),
                sent_audio: false,
            });
        }
        let current = utterance.as_mut().expect("set above");
        current.piece_start = current.engine_samples;
        let epoch = piece.epoch;
        let spoken_text = normalize(&piece.text);
        spoken.begin_piece(piece.text.len(), framer.to_output(current, 0));
        let mut first_audio_of_utterance = !current.sent_audio;
        let cancel: CancelProbe = ctx.epochs.probe(epoch);
        let shutdown = ctx.shutdown.clone();
        let mut sent_first = false;
        {
            // Sends without blocking while the edge has room, else queues in the backlog.
            let mut deliver = |payload: TtsPayload| {
                if !backlog.is_empty() {
                    backlog.push_back(payload);
                    return;
                }
                if !sent_first && matches!(payload, TtsPayload::Audio(_)) {
                    ctx.record_output(Some(epoch));
                    sent_first = true;
                    if first_audio_of_utterance {
                        ctx.metrics.mark(epoch, TurnMark::TtsFirstAudio);
                        first_audio_of_utterance = false;
                    }
                }
                match output.try_send(TtsItem { epoch, payload }) {
                    Ok(_) | Err(TrySendError::Closed(_)) => {}
                    Err(TrySendError::Full(item)) => backlog.push_back(item.payload),
                }
            };
            let mut captions = Captions {
                events: &events,
                turn: epoch.0,
                pending: None,
            };
            let result = synth.synthesize(&spoken_text.text, &mut |chunk: SynthChunk<'_>| {
                if cancel.is_cancelled() || shutdown.is_requested() {
                    return Flow::Stop;
                }
                framer.words(
                    current,
                    &chunk,
                    (&piece.text, &spoken_text),
                    &mut spoken,
                    &mut captions,
                );
                framer.marks(current, chunk.phonemes, &mut deliver);
                framer.audio(current, chunk.samples, &mut deliver);
                Flow::Continue
            });
            match result {
                Ok(summary) if summary.cancelled => tracing::debug!(turn = epoch.0, "synthesis cancelled"),
                Ok(_) => {}
                // The turn recovers: what was synthesised is played and the reply goes on.
                Err(error) => tracing::error!(
                    turn = epoch.0,
                    %error,
                    text = %crate::redact::text(&piece.text),
                    "synthesis failed; playing what was produced and going on with the reply"
                ),
            }
            captions.flush(&piece.text, None);
            spoken.end_piece(current.engine_samples * output_rate_hz as u64 / framer.engine_rate_hz as u64);
            if piece.is_last && !cancel.is_cancelled() {
                framer.finish(current, &mut deliver);
                let total_samples = current.framed_samples;
                deliver(TtsPayload::End { total_samples });
            }
        }
        if output.is_closed() {
            if ctx.shutdown.is_requested() {
                return Ok(());
            }
            return Err(StageError::failed(
                ctx.name,
                "its output edge `tts_to_motion` was closed",
            ));
        }
        while let Some(payload) = backlog.pop_front() {
            if ctx.is_stale(epoch) || ctx.shutdown.is_requested() {
                backlog.clear();
                break;
            }
            if !sent_first && matches!(payload, TtsPayload::Audio(_)) {
                ctx.record_output(Some(epoch));
                sent_first = true;
                if first_audio_of_utterance {
                    ctx.metrics.mark(epoch, TurnMark::TtsFirstAudio);
                    first_audio_of_utterance = false;
                }
            }
            ctx.emit(&mut output, TtsItem { epoch, payload }).await?;
        }
        if let Some(current) = utterance.as_mut() {
            current.sent_audio |= !first_audio_of_utterance;
        }
        if piece.is_last {
            utterance = None;
        }
    }
}
