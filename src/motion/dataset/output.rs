//! Writing the dataset: the two arrays, the index, the metadata and the listening WAVs.
//!
//! Items arrive in plan order and are appended as they come, so memory stays flat however large
//! the dataset. Every file is written under a `.part` name and renamed once complete; the
//! SHA-256 of each final file goes into `meta.json`, with the training data hash over them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::item::{ItemOutput, SpokenUtterance};
use super::npy::NpyWriter;
use super::voices::{HOLDOUT_BASES, HOLDOUT_VARIANTS, TRAIN_BASES, TRAIN_VARIANTS};
use super::{
    DatasetError, DatasetSpec, FEATURE_FRAMES_PER_VIDEO_FRAME, FPS, GENERATOR_VERSION,
    SAMPLES_PER_VIDEO_FRAME, Split,
};
use crate::models::sha256_hex;
use crate::motion::features::{
    FFT_SAMPLES, HOP_SAMPLES, LATENCY_NS, LOG_FLOOR, LOOKBACK_SAMPLES, MEL_BINS, SAMPLE_RATE_HZ,
    WINDOW_SAMPLES,
};
use crate::motion::spec::{CHANNEL_COUNT, Channel};

pub(super) const MELS_FILE: &str = "mels.npy";
pub(super) const MOTION_FILE: &str = "motion.npy";
pub(super) const IDLE_FILE: &str = "idle.npy";
pub(super) const INDEX_FILE: &str = "index.json";
pub(super) const META_FILE: &str = "meta.json";
pub(super) const WAV_DIR: &str = "wav";

/// Totals of what was written.
pub(super) struct Written {
    pub(super) items: usize,
    pub(super) audio_samples: u64,
    pub(super) speech_seconds: f64,
    pub(super) mel_frames: u64,
    pub(super) video_frames: u64,
    pub(super) training_data_hash: String,
}

#[derive(Default)]
struct SplitStats {
    utterances: u64,
    items: u64,
    clean_items: u64,
    video_frames: u64,
    speech_seconds: f64,
    voices: BTreeSet<String>,
}

/// Running sums for per-column mean and standard deviation.
struct Moments {
    sum: Vec<f64>,
    sum_squares: Vec<f64>,
    rows: u64,
}

impl Moments {
    fn new(cols: usize) -> Self {
        Moments {
            sum: vec![0.0; cols],
            sum_squares: vec![0.0; cols],
            rows: 0,
        }
    }

    fn add(&mut self, values: &[f32]) {
        let cols = self.sum.len();
        for row in values.chunks_exact(cols) {
            for ((s, q), v) in self.sum.iter_mut().zip(&mut self.sum_squares).zip(row) {
                let v = f64::from(*v);
                *s += v;
                *q += v * v;
            }
            self.rows += 1;
        }
    }

    fn mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        let n = self.rows.max(1) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let std = self
            .sum_squares
            .iter()
            .zip(&mean)
            .map(|(q, m)| (q / n - m * m).max(0.0).sqrt())
            .collect();
        (mean, std)
    }
}

/// Appends items to the files under `dir`.
pub(super) struct Sink {
    dir: PathBuf,
    mels: NpyWriter,
    motion: NpyWriter,
    idle: NpyWriter,
    index: BufWriter<File>,
    items: u64,
    audio_samples: u64,
    splits: BTreeMap<Split, SplitStats>,
    train_mels: Moments,
    train_motion: Moments,
    phoneme_counts: BTreeMap<String, u64>,
    wav_items: usize,
}

fn part(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.part"))
}

fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl Sink {
    pub(super) fn create(dir: &Path, spec: &DatasetSpec) -> Result<Self, DatasetError> {
        let mels_path = part(dir, MELS_FILE);
        let motion_path = part(dir, MOTION_FILE);
        let idle_path = part(dir, IDLE_FILE);
        let index_path = part(dir, INDEX_FILE);
        let mels = NpyWriter::create(&mels_path, MEL_BINS).map_err(write_error(&mels_path))?;
        let motion = NpyWriter::create(&motion_path, CHANNEL_COUNT).map_err(write_error(&motion_path))?;
        let idle = NpyWriter::create(&idle_path, CHANNEL_COUNT).map_err(write_error(&idle_path))?;
        let mut index = BufWriter::new(File::create(&index_path).map_err(write_error(&index_path))?);
        write!(
            index,
            "{{\"generator_version\": {GENERATOR_VERSION},\n\"items\": ["
        )
        .map_err(write_error(&index_path))?;
        if spec.wav_items > 0 {
            let wav_dir = dir.join(WAV_DIR);
            fs::create_dir_all(&wav_dir).map_err(write_error(&wav_dir))?;
        }
        Ok(Sink {
            dir: dir.to_path_buf(),
            mels,
            motion,
            idle,
            index,
            items: 0,
            audio_samples: 0,
            splits: BTreeMap::new(),
            train_mels: Moments::new(MEL_BINS),
            train_motion: Moments::new(CHANNEL_COUNT),
            phoneme_counts: BTreeMap::new(),
            wav_items: spec.wav_items,
        })
    }

    /// Appends every item of one utterance, in order.
    pub(super) fn write_utterance(
        &mut self,
        spoken: &SpokenUtterance,
        items: Vec<ItemOutput>,
    ) -> Result<(), DatasetError> {
        let split = spoken.plan.split;
        let stats = self.splits.entry(split).or_default();
        stats.utterances += 1;
        stats.speech_seconds += spoken.samples.len() as f64 / f64::from(spoken.rate_hz);
        stats.voices.insert(spoken.plan.voice.espeak_name());
        for mark in &spoken.phonemes {
            *self
                .phoneme_counts
                .entry(mark.symbol.as_str().to_string())
                .or_default() += 1;
        }
        for mut item in items {
            let record = &mut item.record;
            record.id = self.items;
            record.mel_offset = self.mels.rows();
            record.motion_offset = self.motion.rows();
            let stats = self.splits.entry(split).or_default();
            stats.items += 1;
            stats.clean_items += u64::from(record.clean);
            stats.video_frames += record.motion_frames;
            if split == Split::Train {
                self.train_mels.add(&item.mels);
                self.train_motion.add(&item.motion);
            }
            let mels_path = part(&self.dir, MELS_FILE);
            self.mels
                .write_rows(&item.mels)
                .map_err(write_error(&mels_path))?;
            let motion_path = part(&self.dir, MOTION_FILE);
            self.motion
                .write_rows(&item.motion)
                .map_err(write_error(&motion_path))?;
            let idle_path = part(&self.dir, IDLE_FILE);
            self.idle
                .write_rows(&item.idle)
                .map_err(write_error(&idle_path))?;
            let line = serde_json::to_string(record).expect("an item record always serialises");
            let separator = if self.items == 0 { "\n" } else { ",\n" };
            let index_path = part(&self.dir, INDEX_FILE);
            write!(self.index, "{separator}{line}").map_err(write_error(&index_path))?;
            if (record.id as usize) < self.wav_items {
                let path = self.dir.join(WAV_DIR).join(format!("{:05}.wav", record.id));
                crate::audio::write_wav(&path, &item.audio, SAMPLE_RATE_HZ)?;
            }
            self.audio_samples += item.audio.len() as u64;
            self.items += 1;
        }
        Ok(())
    }

    /// Completes the files, renames them into place and writes `meta.json`.
    pub(super) fn finish(mut self, spec: &DatasetSpec) -> Result<Written, DatasetError> {
        let index_path = part(&self.dir, INDEX_FILE);
        write!(self.index, "\n]}}\n").map_err(write_error(&index_path))?;
        let index = self.index.into_inner().map_err(|e| DatasetError::Write {
            path: index_path.clone(),
            source: e.into_error(),
        })?;
        index.sync_all().map_err(write_error(&index_path))?;
        let mels_path = part(&self.dir, MELS_FILE);
        let mel_frames = self.mels.finish().map_err(write_error(&mels_path))?;
        let motion_path = part(&self.dir, MOTION_FILE);
        let video_frames = self.motion.finish().map_err(write_error(&motion_path))?;
        let idle_path = part(&self.dir, IDLE_FILE);
        let idle_frames = self.idle.finish().map_err(write_error(&idle_path))?;
        debug_assert_eq!(idle_frames, video_frames);

        let mut hashes = BTreeMap::new();
        for name in [MELS_FILE, MOTION_FILE, IDLE_FILE, INDEX_FILE] {
            let from = part(&self.dir, name);
            let to = self.dir.join(name);
            fs::rename(&from, &to).map_err(write_error(&to))?;
            hashes.insert(name, sha256_hex(&to).map_err(write_error(&to))?);
        }
        let manifest = format!(
            "{MELS_FILE} {}\n{MOTION_FILE} {}\n{IDLE_FILE} {}\n{INDEX_FILE} {}\n",
            hashes[MELS_FILE], hashes[MOTION_FILE], hashes[IDLE_FILE], hashes[INDEX_FILE]
        );
        let training_data_hash = {
            use sha2::{Digest, Sha256};
            Sha256::digest(manifest.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };

        let (mel_mean, mel_std) = self.train_mels.mean_std();
        let (motion_mean, motion_std) = self.train_motion.mean_std();
        let speech_seconds = self.splits.values().map(|s| s.speech_seconds).sum();
        let splits: serde_json::Map<String, serde_json::Value> = Split::ALL
            .iter()
            .map(|split| {
                let s = self.splits.remove(split).unwrap_or_default();
                let value = json!({
                    "utterances": s.utterances,
                    "items": s.items,
                    "clean_items": s.clean_items,
                    "video_frames": s.video_frames,
                    "hours_of_items": s.video_frames as f64 / f64::from(FPS) / 3600.0,
                    "hours_of_speech": s.speech_seconds / 3600.0,
                    "voices": s.voices,
                });
                (split.name().to_string(), value)
            })
            .collect();
        let meta = json!({
            "generator": "persona motion dataset",
            "generator_version": GENERATOR_VERSION,
            "spec": {
                "seed": spec.seed,
                "utterances": spec.utterances,
                "clean_copy": spec.clean_copy,
                "augmented_copies": spec.augmented_copies,
                "holdout_voice_fraction": spec.holdout_voice_fraction,
                "holdout_sentence_fraction": spec.holdout_sentence_fraction,
                "extra_sentences": spec.extra_sentences.len(),
                "extra_sentence_probability": spec.extra_sentence_probability,
                "rate_wpm": [spec.rate_wpm.start(), spec.rate_wpm.end()],
                "pitch": [spec.pitch.start(), spec.pitch.end()],
                "babble_utterances": spec.babble_utterances,
            },
            "features": {
                "sample_rate_hz": SAMPLE_RATE_HZ,
                "window_samples": WINDOW_SAMPLES,
                "window": "hann_periodic",
                "hop_samples": HOP_SAMPLES,
                "n_fft": FFT_SAMPLES,
                "n_mels": MEL_BINS,
                "f_min_hz": 0,
                "f_max_hz": SAMPLE_RATE_HZ / 2,
                "mel_scale": "slaney",
                "mel_norm": "slaney_unit_area",
                "spectrum": "power",
                "log": "ln",
                "log_floor": LOG_FLOOR,
                "framing": "causal",
                "frame_window": format!(
                    "frame i covers 16 kHz samples [{HOP_SAMPLES} i - {LOOKBACK_SAMPLES}, {HOP_SAMPLES} i + {HOP_SAMPLES}), zeros before 0"
                ),
                "latency_ns": LATENCY_NS,
                "normalisation": "none; see `normalisation` below",
            },
            "video": {
                "fps": FPS,
                "samples_per_video_frame": SAMPLES_PER_VIDEO_FRAME,
                "feature_frames_per_video_frame": FEATURE_FRAMES_PER_VIDEO_FRAME,
                "alignment": "video frame k owns feature frames 4k..4k+4 and 16 kHz samples [640 k, 640 (k+1))",
            },
            "channels": Channel::ALL.iter().map(|c| json!({
                "name": c.name(),
                "min": c.range().0,
                "max": c.range().1,
            })).collect::<Vec<_>>(),
            "arrays": {
                "mels": {"file": MELS_FILE, "dtype": "float32", "shape": [mel_frames, MEL_BINS], "sha256": hashes[MELS_FILE]},
                "motion": {"file": MOTION_FILE, "dtype": "float32", "shape": [video_frames, CHANNEL_COUNT], "sha256": hashes[MOTION_FILE]},
                "idle": {"file": IDLE_FILE, "dtype": "float32", "shape": [idle_frames, CHANNEL_COUNT], "sha256": hashes[IDLE_FILE]},
                "index": {"file": INDEX_FILE, "sha256": hashes[INDEX_FILE]},
            },
            "training_data_hash": training_data_hash,
            "training_data_hash_of": manifest,
            "splits": splits,
            "normalisation": {
                "computed_over": "train (clean and augmented items)",
                "mel_mean": mel_mean,
                "mel_std": mel_std,
                "motion_mean": motion_mean,
                "motion_std": motion_std,
            },
            "voices": {
                "train_bases": TRAIN_BASES,
                "holdout_bases": HOLDOUT_BASES,
                "train_variants": TRAIN_VARIANTS,
                "holdout_variants": HOLDOUT_VARIANTS,
            },
            "phoneme_counts": self.phoneme_counts,
        });
        let meta_part = part(&self.dir, META_FILE);
        let text = serde_json::to_string_pretty(&meta).expect("metadata always serialises") + "\n";
        fs::write(&meta_part, text).map_err(write_error(&meta_part))?;
        let meta_path = self.dir.join(META_FILE);
        fs::rename(&meta_part, &meta_path).map_err(write_error(&meta_path))?;

        Ok(Written {
            items: self.items as usize,
            audio_samples: self.audio_samples,
            speech_seconds,
            mel_frames,
            video_frames,
            training_data_hash,
        })
    }
}
