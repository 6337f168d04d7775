//! The audio-to-motion model's training data, made rather than downloaded (`persona motion
//! dataset`).
//!
//! espeak-ng speaks seeded sentences (`sentences.rs`) with many voices, speeds and pitches
//! (`voices.rs`); its phoneme and word marks give exact timings. Each utterance becomes items:
//! a clean copy and augmented copies (`augment.rs`), all resampled to 16 kHz and turned into
//! log-mel frames by [`crate::motion::features`] (the same code inference runs), with motion
//! targets at 25 fps (`targets.rs`): the rule backend's mouth as the teacher plus stochastic
//! brows, nods, posture shifts, blinks, drift and gaze, tied to each word's measured pitch and
//! loudness (`prosody.rs`). The format on disk is described in
//! `scripts/motion/README.md`: `mels.npy`, `motion.npy`, `index.json`, `meta.json`.
//!
//! **Alignment is exact by construction.** At 25 fps a video frame is 882 samples at espeak's
//! 22 050 Hz and 640 at 16 kHz, which is 4 feature hops. Item audio is padded with silence to a
//! whole number of video frames, so item `i` has `4 n` feature frames for its `n` motion frames,
//! and feature frames `4k .. 4k + 4` end exactly where video frame `k` ends.
//!
//! **Deterministic.** Every random choice is a function of (seed, purpose, index)
//! (`rng.rs`), espeak-ng runs on one thread in plan order, and items are written in plan order
//! however the parallel stages were scheduled: the same spec gives byte-identical files when run
//! in a fresh process on the same machine and build. espeak-ng's waveform generator keeps state
//! across utterances (phase, sample counter, pitch flutter), so its audio depends on everything
//! spoken before in the process; a second run inside one process differs by a few samples here
//! and there. The FFTs pick SIMD kernels by CPU, so another CPU may differ in the last bits.
//!
//! **Splits.** `train`; `holdout_voice` (voices whose base or variant never occurs in train);
//! `holdout_sentence` (sentences whose normalised text hashes into a reserved bucket, spoken by
//! train voices; no train or holdout_voice item ever uses a sentence from that bucket).
//!
//! Speed: espeak-ng is process-global and serialised on its own thread; resampling,
//! augmentation, features and targets run in parallel on rayon's pool, a batch at a time.
//! 2000 utterances (1.4 h of speech, 4000 items) take about 21 s on a shared 2-core machine,
//! almost all of it inside espeak-ng.
//!
//! Not here: training, model metadata, and argument parsing (`examples/motion_dataset.rs` until
//! `persona motion dataset` is wired).

mod augment;
mod item;
mod npy;
mod output;
mod prosody;
mod rng;
mod sentences;
mod targets;
#[cfg(test)]
mod tests;
mod voices;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use thiserror::Error;

use crate::audio::AudioError;
use crate::tts::TtsError;
use crate::tts::espeak::{Espeak, PITCH_RANGE, RATE_WPM_RANGE};
use item::{ItemOutput, UtterancePlan};
use output::Sink;

/// Written into `meta.json`; bump when the format or the meaning of any field changes.
pub const GENERATOR_VERSION: u32 = 2;
/// Video frame rate of the motion targets.
pub const FPS: u32 = 25;
/// Feature hops per video frame: 40 ms / 10 ms.
pub const FEATURE_FRAMES_PER_VIDEO_FRAME: usize = 4;
/// 16 kHz samples per video frame.
pub const SAMPLES_PER_VIDEO_FRAME: usize = 640;
/// Utterances synthesised ahead and processed in parallel at a time.
const BATCH_UTTERANCES: usize = 32;

/// Which part of the data an item belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    HoldoutVoice,
    HoldoutSentence,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::HoldoutVoice, Split::HoldoutSentence];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::HoldoutVoice => "holdout_voice",
            Split::HoldoutSentence => "holdout_sentence",
        }
    }
}

/// What to generate. [`Default`] is the documented recipe; the CLI overrides a few fields.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSpec {
    pub seed: u64,
    /// Utterances to synthesise; each yields `clean_copy + augmented_copies` items.
    pub utterances: usize,
    /// The user's own sentences (e.g. from `--sentences FILE`, see [`load_sentences`]).
    pub extra_sentences: Vec<String>,
    /// Chance that an utterance takes one of `extra_sentences` rather than the grammar's.
    pub extra_sentence_probability: f64,
    /// Keep the unaugmented item of every utterance.
    pub clean_copy: bool,
    /// Augmented items per utterance, each with its own draw.
    pub augmented_copies: usize,
    pub holdout_voice_fraction: f64,
    /// Share of utterances in `holdout_sentence`, and of sentence-hash space reserved for it.
    pub holdout_sentence_fraction: f64,
    pub rate_wpm: RangeInclusive<u32>,
    pub pitch: RangeInclusive<u8>,
    /// Utterances synthesised once into the babble-noise pool (0: babble becomes white noise).
    pub babble_utterances: usize,
    /// Write the 16 kHz audio of the first this-many items to `wav/` for listening.
    pub wav_items: usize,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec {
            seed: 1,
            utterances: 2000,
            extra_sentences: Vec::new(),
            extra_sentence_probability: 0.3,
            clean_copy: true,
            augmented_copies: 1,
            holdout_voice_fraction: 0.05,
            holdout_sentence_fraction: 0.05,
            rate_wpm: 120..=260,
            pitch: 30..=70,
            babble_utterances: 24,
            wav_items: 0,
        }
    }
}

impl DatasetSpec {
    /// Checks the spec without touching espeak-ng or the disk.
    pub fn validate(&self) -> Result<(), DatasetError> {
        let invalid = |detail: String| Err(DatasetError::InvalidSpec { detail });
        if self.utterances == 0 {
            return invalid("`utterances` is 0; ask for at least one".into());
        }
        if !self.clean_copy && self.augmented_copies == 0 {
            return invalid("no items per utterance: keep the clean copy or ask for augmented copies".into());
        }
        let fractions = [
            ("holdout_voice_fraction", self.holdout_voice_fraction),
            ("holdout_sentence_fraction", self.holdout_sentence_fraction),
            ("extra_sentence_probability", self.extra_sentence_probability),
        ];
        for (name, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return invalid(format!("`{name}` = {value} must lie in 0..=1"));
            }
        }
        if self.holdout_voice_fraction + self.holdout_sentence_fraction > 0.5 {
            return invalid(format!(
                "the holdout fractions add up to {}, leaving too little to train on; keep them under 0.5",
                self.holdout_voice_fraction + self.holdout_sentence_fraction
            ));
        }
        if self.rate_wpm.is_empty()
            || !RATE_WPM_RANGE.contains(self.rate_wpm.start())
            || !RATE_WPM_RANGE.contains(self.rate_wpm.end())
        {
            return invalid(format!(
                "speaking rates {:?} words per minute must be a range inside {RATE_WPM_RANGE:?}",
                self.rate_wpm
            ));
        }
        if self.pitch.is_empty() || !PITCH_RANGE.contains(self.pitch.end()) {
            return invalid(format!(
                "pitches {:?} must be a range inside {PITCH_RANGE:?}",
                self.pitch
            ));
        }
        if let Some(bad) = self
            .extra_sentences
            .iter()
            .find(|s| s.trim().is_empty() || s.contains('\0'))
        {
            return invalid(format!(
                "extra sentence {bad:?} is empty or contains a NUL character"
            ));
        }
        Ok(())
    }
}

/// Whether the default recipe reserves `text` for `holdout_sentence`, so that no training item of
/// a dataset made with the default fractions ever speaks it.
pub fn is_holdout_sentence(text: &str) -> bool {
    item::in_holdout_bucket(text, DatasetSpec::default().holdout_sentence_fraction)
}

/// Reads a sentence file: one sentence per line; blank lines and lines starting with `#` are
/// skipped.
pub fn load_sentences(path: &Path) -> Result<Vec<String>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::SentencesFile {
        path: path.to_path_buf(),
        source,
    })?;
    let sentences: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if sentences.is_empty() {
        return Err(DatasetError::NoSentences {
            path: path.to_path_buf(),
        });
    }
    Ok(sentences)
}

/// Counts per split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SplitCounts {
    pub train: usize,
    pub holdout_voice: usize,
    pub holdout_sentence: usize,
}

impl SplitCounts {
    fn add(&mut self, split: Split, n: usize) {
        match split {
            Split::Train => self.train += n,
            Split::HoldoutVoice => self.holdout_voice += n,
            Split::HoldoutSentence => self.holdout_sentence += n,
        }
    }
}

/// What [`generate`] made, and how long it took.
#[derive(Clone, Debug)]
pub struct DatasetSummary {
    pub utterances: usize,
    pub items: usize,
    pub utterances_per_split: SplitCounts,
    /// Audio behind every item (all copies), at 16 kHz after padding.
    pub audio_seconds: f64,
    /// Distinct speech: the utterances as espeak-ng spoke them.
    pub speech_seconds: f64,
    pub mel_frames: u64,
    pub video_frames: u64,
    /// SHA-256 over the three data files' hashes, as in `meta.json`.
    pub training_data_hash: String,
    /// Wall time spent inside espeak-ng (on its own thread).
    pub synthesis: Duration,
    pub elapsed: Duration,
}

/// Errors of dataset generation.
#[derive(Debug, Error)]
pub enum DatasetError {
    #[error("invalid dataset spec: {detail}")]
    InvalidSpec { detail: String },

    #[error(transparent)]
    Engine(TtsError),

    #[error("espeak-ng could not speak {text:?} with voice `{voice}`: {source}")]
    Synthesis {
        voice: String,
        text: String,
        source: TtsError,
    },

    #[error(
        "espeak-ng produced no audio for {text:?} with voice `{voice}`; remove the sentence or pick another voice"
    )]
    Silent { voice: String, text: String },

    #[error(
        "espeak-ng voice `{voice}` is not installed here ({detail}); the dataset's voice lists are in \
         src/motion/dataset/voices.rs: compare them with `espeak-ng --voices=en` and \
         `espeak-ng --voices=variant`, or install the full `espeak-ng-data` package"
    )]
    VoiceMissing { voice: String, detail: String },

    #[error(transparent)]
    Audio(#[from] AudioError),

    #[error("could not read the sentence file {}: {source}; check the path", path.display())]
    SentencesFile { path: PathBuf, source: std::io::Error },

    #[error("the sentence file {} holds no sentences (one per line; `#` starts a comment)", path.display())]
    NoSentences { path: PathBuf },

    #[error("could not write {}: {source}; check that the folder is writable and the disk has space", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Generates the dataset described by `spec` into `out_dir` (created if missing; files of an
/// earlier run are replaced only once the new ones are complete). `progress(done, total)` is
/// called with utterance counts after every batch.
pub fn generate(
    spec: &DatasetSpec,
    out_dir: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<DatasetSummary, DatasetError> {
    let started = Instant::now();
    spec.validate()?;
    let espeak = Espeak::global().map_err(DatasetError::Engine)?;
    item::check_voices(espeak)?;
    std::fs::create_dir_all(out_dir).map_err(|source| DatasetError::Write {
        path: out_dir.to_path_buf(),
        source,
    })?;

    let plans = (0..spec.utterances)
        .map(|u| UtterancePlan::new(spec, u))
        .collect::<Result<Vec<_>, _>>()?;
    let mut synthesis = Duration::ZERO;
    let babble_started = Instant::now();
    let babble = item::babble_pool(spec, espeak)?;
    synthesis += babble_started.elapsed();

    let mut sink = Sink::create(out_dir, spec)?;
    let total = plans.len();
    let mut utterances_per_split = SplitCounts::default();
    let synthesis_thread = std::thread::scope(|scope| -> Result<Duration, DatasetError> {
        let (tx, rx) = mpsc::sync_channel(BATCH_UTTERANCES);
        let plans = &plans;
        // espeak-ng is process-global: one thread speaks every utterance, in plan order, while
        // the pool renders the previous batch. Dropping `rx` (on an error below) ends it.
        let speaker = scope.spawn(move || {
            let mut busy = Duration::ZERO;
            for plan in plans {
                let started = Instant::now();
                let spoken = item::speak(espeak, plan);
                busy += started.elapsed();
                let failed = spoken.is_err();
                if tx.send(spoken).is_err() || failed {
                    break;
                }
            }
            busy
        });
        let mut batch = Vec::with_capacity(BATCH_UTTERANCES);
        let mut done = 0;
        let mut received = rx.iter();
        loop {
            batch.clear();
            for spoken in received.by_ref().take(BATCH_UTTERANCES) {
                batch.push(spoken?);
            }
            if batch.is_empty() {
                break;
            }
            let rendered: Vec<Result<Vec<ItemOutput>, DatasetError>> = batch
                .par_iter()
                .map(|spoken| item::render(spec, spoken, &babble))
                .collect();
            for (spoken, items) in batch.iter().zip(rendered) {
                utterances_per_split.add(spoken.plan.split, 1);
                sink.write_utterance(spoken, items?)?;
            }
            done += batch.len();
            progress(done, total);
        }
        Ok(speaker.join().expect("the synthesis thread does not panic"))
    });
    synthesis += synthesis_thread?;

    let written = sink.finish(spec)?;
    Ok(DatasetSummary {
        utterances: total,
        items: written.items,
        utterances_per_split,
        audio_seconds: written.audio_samples as f64 / f64::from(crate::motion::features::SAMPLE_RATE_HZ),
        speech_seconds: written.speech_seconds,
        mel_frames: written.mel_frames,
        video_frames: written.video_frames,
        training_data_hash: written.training_data_hash,
        synthesis,
        elapsed: started.elapsed(),
    })
}
