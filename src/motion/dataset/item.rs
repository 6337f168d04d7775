//! One utterance from plan to items: what to say and with which voice ([`UtterancePlan`]),
//! espeak-ng speaking it ([`speak`]), and each copy resampled, augmented, featurised and given
//! its targets ([`render`]). Also the shared babble pool and the voice pre-flight check.

use super::augment::{Augmentation, active_power};
use super::rng::{Rng, Stream, fnv1a};
use super::sentences::{self, SentenceKind};
use super::targets::{self, Gestures, Spoken};
use super::voices::{self, HOLDOUT_BASES, HOLDOUT_VARIANTS, TRAIN_BASES, TRAIN_VARIANTS, Voice};
use super::{DatasetError, DatasetSpec, FEATURE_FRAMES_PER_VIDEO_FRAME, FPS, SAMPLES_PER_VIDEO_FRAME, Split};
use crate::audio::resample_all;
use crate::motion::features::{MEL_BINS, SAMPLE_RATE_HZ, log_mel_all};
use crate::motion::spec::FrameClock;
use crate::tts::espeak::{Espeak, Flow, VoiceSettings};
use crate::tts::{PhonemeMark, TtsError, WordMark};

/// Draws before giving up on finding a sentence for a split (each draw lands in the holdout
/// bucket with probability `holdout_sentence_fraction`).
const MAX_SENTENCE_DRAWS: usize = 100_000;
/// After this many draws only the grammar is used: the user's sentences may all sit in the
/// wrong bucket.
const MAX_EXTRA_DRAWS: usize = 64;
/// Babble talkers are normalised to this active power (RMS 0.1) before mixing.
const BABBLE_POWER: f64 = 0.01;
/// What the voice check says.
const CHECK_TEXT: &str = "Hello there, how are you?";

/// Everything decided about an utterance before it is spoken.
#[derive(Clone, Debug)]
pub(super) struct UtterancePlan {
    pub(super) index: usize,
    pub(super) split: Split,
    pub(super) text: String,
    pub(super) kind: SentenceKind,
    pub(super) voice: Voice,
    pub(super) rate_wpm: u32,
    pub(super) pitch: u8,
    /// Drives the utterance's gestures and idle motion, and its copies' augmentation.
    pub(super) seed: u64,
}

impl UtterancePlan {
    pub(super) fn new(spec: &DatasetSpec, index: usize) -> Result<Self, DatasetError> {
        let u = index as u64;
        let x = Rng::new(spec.seed, Stream::Split, u).unit();
        let split = if x < spec.holdout_voice_fraction {
            Split::HoldoutVoice
        } else if x < spec.holdout_voice_fraction + spec.holdout_sentence_fraction {
            Split::HoldoutSentence
        } else {
            Split::Train
        };
        let mut rng = Rng::new(spec.seed, Stream::Sentence, u);
        let want_holdout = split == Split::HoldoutSentence;
        let mut found = None;
        for attempt in 0..MAX_SENTENCE_DRAWS {
            let use_extra = !spec.extra_sentences.is_empty()
                && attempt < MAX_EXTRA_DRAWS
                && rng.chance(spec.extra_sentence_probability);
            let (text, kind) = if use_extra {
                let text = spec.extra_sentences[rng.index(spec.extra_sentences.len())]
                    .trim()
                    .to_string();
                let kind = SentenceKind::of(&text);
                (text, kind)
            } else {
                sentences::generate(&mut rng)
            };
            if in_holdout_bucket(&text, spec.holdout_sentence_fraction) == want_holdout {
                found = Some((text, kind));
                break;
            }
        }
        let (text, kind) = found.ok_or_else(|| DatasetError::InvalidSpec {
            detail: format!(
                "no sentence for the {} split in {MAX_SENTENCE_DRAWS} draws; raise or lower \
                 `holdout_sentence_fraction` ({})",
                split.name(),
                spec.holdout_sentence_fraction
            ),
        })?;
        let mut rng = Rng::new(spec.seed, Stream::Voice, u);
        let voice = match split {
            Split::HoldoutVoice => voices::holdout_voice(&mut rng),
            Split::Train | Split::HoldoutSentence => voices::train_voice(&mut rng),
        };
        let rate_wpm = rng.int(u64::from(*spec.rate_wpm.start()), u64::from(*spec.rate_wpm.end())) as u32;
        let pitch = rng.int(u64::from(*spec.pitch.start()), u64::from(*spec.pitch.end())) as u8;
        Ok(UtterancePlan {
            index,
            split,
            text,
            kind,
            voice,
            rate_wpm,
            pitch,
            seed: Rng::new(spec.seed, Stream::Prosody, u).next_u64(),
        })
    }

    fn voice_settings(&self) -> VoiceSettings {
        VoiceSettings {
            voice: self.voice.espeak_name(),
            rate_wpm: self.rate_wpm,
            pitch: self.pitch,
        }
    }
}

/// Whether a sentence is reserved for `holdout_sentence`: its normalised text hashes into the
/// lowest `fraction` of the hash space. Depends on the text alone, so a sentence is held out in
/// every dataset made with the same fraction, whatever the seed.
pub(super) fn in_holdout_bucket(text: &str, fraction: f64) -> bool {
    const BUCKETS: u64 = 1_000_000;
    fnv1a(sentences::normalise(text).as_bytes()) % BUCKETS < (fraction * BUCKETS as f64) as u64
}

/// An utterance as espeak-ng spoke it, at espeak-ng's rate.
pub(super) struct SpokenUtterance {
    pub(super) plan: UtterancePlan,
    pub(super) rate_hz: u32,
    pub(super) samples: Vec<i16>,
    pub(super) phonemes: Vec<PhonemeMark>,
    pub(super) words: Vec<WordMark>,
}

pub(super) fn speak(espeak: &Espeak, plan: &UtterancePlan) -> Result<SpokenUtterance, DatasetError> {
    let settings = plan.voice_settings();
    let (samples, phonemes, words) =
        say(espeak, &plan.text, &settings).map_err(|source| DatasetError::Synthesis {
            voice: settings.voice.clone(),
            text: plan.text.clone(),
            source,
        })?;
    if samples.is_empty() {
        return Err(DatasetError::Silent {
            voice: settings.voice,
            text: plan.text.clone(),
        });
    }
    Ok(SpokenUtterance {
        plan: plan.clone(),
        rate_hz: espeak.sample_rate_hz(),
        samples,
        phonemes,
        words,
    })
}

type Said = (Vec<i16>, Vec<PhonemeMark>, Vec<WordMark>);

fn say(espeak: &Espeak, text: &str, settings: &VoiceSettings) -> Result<Said, TtsError> {
    let (mut samples, mut phonemes, mut words) = (Vec::new(), Vec::new(), Vec::new());
    espeak.synthesize(text, settings, &mut |chunk| {
        samples.extend_from_slice(chunk.samples);
        phonemes.extend_from_slice(chunk.phonemes);
        words.extend_from_slice(chunk.words);
        Flow::Continue
    })?;
    Ok((samples, phonemes, words))
}

/// Fails early, naming the voice, when a base voice or variant of the lists is not installed.
/// espeak-ng ignores an unknown variant silently, so a variant counts as missing when it
/// speaks exactly like the plain base voice.
pub(super) fn check_voices(espeak: &Espeak) -> Result<(), DatasetError> {
    let check = |name: String| -> Result<Vec<i16>, DatasetError> {
        let settings = VoiceSettings {
            voice: name.clone(),
            ..VoiceSettings::default()
        };
        match say(espeak, CHECK_TEXT, &settings) {
            Ok((samples, _, _)) if !samples.is_empty() => Ok(samples),
            Ok(_) => Err(DatasetError::VoiceMissing {
                voice: name,
                detail: "it produced no audio".into(),
            }),
            Err(e) => Err(DatasetError::VoiceMissing {
                voice: name,
                detail: e.to_string(),
            }),
        }
    };
    for base in TRAIN_BASES.iter().chain(HOLDOUT_BASES) {
        check(base.to_string())?;
    }
    let plain = check("en-us".to_string())?;
    for variant in TRAIN_VARIANTS
        .iter()
        .chain(HOLDOUT_VARIANTS)
        .filter(|v| !v.is_empty())
    {
        let name = format!("en-us+{variant}");
        if check(name.clone())? == plain {
            return Err(DatasetError::VoiceMissing {
                voice: name,
                detail: "espeak-ng spoke it exactly like plain en-us, so the variant file is missing".into(),
            });
        }
    }
    Ok(())
}

/// The babble pool: train-voice utterances of non-held-out sentences at 16 kHz, each at the
/// same speech level, end to end.
pub(super) fn babble_pool(spec: &DatasetSpec, espeak: &Espeak) -> Result<Vec<f32>, DatasetError> {
    let mut pool = Vec::new();
    for i in 0..spec.babble_utterances as u64 {
        let mut rng = Rng::new(spec.seed, Stream::Babble, i);
        let text = loop {
            let (text, _) = sentences::generate(&mut rng);
            if !in_holdout_bucket(&text, spec.holdout_sentence_fraction) {
                break text;
            }
        };
        let settings = VoiceSettings {
            voice: voices::train_voice(&mut rng).espeak_name(),
            rate_wpm: rng.int(u64::from(*spec.rate_wpm.start()), u64::from(*spec.rate_wpm.end())) as u32,
            pitch: rng.int(u64::from(*spec.pitch.start()), u64::from(*spec.pitch.end())) as u8,
        };
        let (samples, _, _) = say(espeak, &text, &settings).map_err(|source| DatasetError::Synthesis {
            voice: settings.voice.clone(),
            text: text.clone(),
            source,
        })?;
        let source: Vec<f32> = samples.iter().map(|s| f32::from(*s) / 32768.0).collect();
        let audio = resample_all(&source, espeak.sample_rate_hz(), SAMPLE_RATE_HZ)?;
        let power = active_power(&audio);
        if power > 0.0 {
            let scale = (BABBLE_POWER / power).sqrt() as f32;
            pool.extend(audio.iter().map(|x| x * scale));
        }
    }
    Ok(pool)
}

/// One item as it goes into the files; the sink fills in its id and offsets.
#[derive(Clone, Debug, serde::Serialize)]
pub(super) struct ItemRecord {
    pub(super) id: u64,
    pub(super) utterance: usize,
    /// 0 is the clean copy when the spec keeps one.
    pub(super) copy: usize,
    pub(super) split: Split,
    pub(super) clean: bool,
    pub(super) text: String,
    pub(super) kind: SentenceKind,
    /// The name espeak-ng was given (`base+variant`).
    pub(super) voice: String,
    pub(super) base_voice: &'static str,
    pub(super) variant: &'static str,
    pub(super) rate_wpm: u32,
    pub(super) pitch: u8,
    /// The utterance's seed (gestures, idle motion); shared by its copies.
    pub(super) seed: u64,
    /// This copy's seed for noise and room signals.
    pub(super) augmentation_seed: u64,
    pub(super) augmentation: Augmentation,
    /// Samples clipped at full scale (resampler overshoot on loud espeak-ng output, and the
    /// augmentation's gain).
    pub(super) clipped_samples: u64,
    pub(super) mel_offset: u64,
    pub(super) mel_frames: u64,
    pub(super) motion_offset: u64,
    pub(super) motion_frames: u64,
    /// 16 kHz samples of speech before the padding to whole video frames.
    pub(super) speech_samples: u64,
    /// (espeak-ng phoneme mnemonic, start as a 16 kHz sample index of this item's audio).
    pub(super) phonemes: Vec<(String, u64)>,
    /// (word, start as a 16 kHz sample index).
    pub(super) words: Vec<(String, u64)>,
}

/// One rendered item.
pub(super) struct ItemOutput {
    pub(super) record: ItemRecord,
    /// `mel_frames × 80`, row-major.
    pub(super) mels: Vec<f32>,
    /// `motion_frames × 17`, row-major.
    pub(super) motion: Vec<f32>,
    /// `motion_frames × 17`: the part of `motion` the idle overlay contributed.
    pub(super) idle: Vec<f32>,
    /// The 16 kHz audio the features were computed from (for the listening WAVs).
    pub(super) audio: Vec<f32>,
}

/// Renders every copy of a spoken utterance: pure computation, safe to run in parallel.
pub(super) fn render(
    spec: &DatasetSpec,
    spoken: &SpokenUtterance,
    babble: &[f32],
) -> Result<Vec<ItemOutput>, DatasetError> {
    let plan = &spoken.plan;
    let source: Vec<f32> = spoken.samples.iter().map(|s| f32::from(*s) / 32768.0).collect();
    let for_targets = Spoken {
        samples: &spoken.samples,
        phonemes: &spoken.phonemes,
        words: &spoken.words,
        kind: plan.kind,
        rate_hz: spoken.rate_hz,
    };
    let gestures = Gestures::plan(&for_targets, plan.seed);
    let copies = usize::from(spec.clean_copy) + spec.augmented_copies;
    let mut out = Vec::with_capacity(copies);
    for copy in 0..copies {
        let clean = spec.clean_copy && copy == 0;
        let mut rng = Rng::new(plan.seed, Stream::Augment, copy as u64);
        let augmentation = if clean {
            Augmentation::none(spoken.rate_hz)
        } else {
            Augmentation::draw(&mut rng, spoken.rate_hz)
        };
        let augmentation_seed = rng.next_u64();
        let source_rate_hz = augmentation.source_rate_hz;
        let mut audio = resample_all(&source, source_rate_hz, SAMPLE_RATE_HZ)?;
        let speech_samples = audio.len() as u64;
        let clock = FrameClock::new(source_rate_hz, FPS);
        let video_frames = clock.frames_covering(spoken.samples.len() as u64);
        audio.resize(video_frames as usize * SAMPLES_PER_VIDEO_FRAME, 0.0);
        let clipped_samples = if clean {
            // espeak-ng output can reach full scale and the resampler overshoots it a little:
            // clip, as any 16-bit source would be.
            let mut clipped = 0;
            for x in audio.iter_mut() {
                clipped += u64::from(x.abs() > 1.0);
                *x = x.clamp(-1.0, 1.0);
            }
            clipped
        } else {
            augmentation.apply(&mut audio, babble, augmentation_seed)
        };
        let mels = log_mel_all(&audio);
        let mel_frames = (mels.len() / MEL_BINS) as u64;
        assert_eq!(
            mel_frames,
            video_frames * FEATURE_FRAMES_PER_VIDEO_FRAME as u64,
            "audio is padded to whole video frames, each exactly four hops"
        );
        let motion = targets::motion_targets(&for_targets, &gestures, source_rate_hz, FPS, plan.seed);
        assert_eq!(motion.len() as u64, video_frames, "one target per video frame");
        let to_16k = |sample: u64| {
            (sample * u64::from(SAMPLE_RATE_HZ) + u64::from(source_rate_hz) / 2) / u64::from(source_rate_hz)
        };
        let record = ItemRecord {
            id: 0,
            utterance: plan.index,
            copy,
            split: plan.split,
            clean,
            text: plan.text.clone(),
            kind: plan.kind,
            voice: plan.voice.espeak_name(),
            base_voice: plan.voice.base,
            variant: plan.voice.variant,
            rate_wpm: plan.rate_wpm,
            pitch: plan.pitch,
            seed: plan.seed,
            augmentation_seed,
            augmentation,
            clipped_samples,
            mel_offset: 0,
            mel_frames,
            motion_offset: 0,
            motion_frames: video_frames,
            speech_samples,
            phonemes: spoken
                .phonemes
                .iter()
                .map(|m| (m.symbol.as_str().to_string(), to_16k(m.start_sample)))
                .collect(),
            words: spoken
                .words
                .iter()
                .map(|w| {
                    let start = w.text_start as usize;
                    let text = plan.text.get(start..start + w.text_len as usize).unwrap_or("");
                    (text.to_string(), to_16k(w.start_sample))
                })
                .collect(),
        };
        out.push(ItemOutput {
            record,
            mels,
            motion: motion.iter().flat_map(|(full, _)| full.0).collect(),
            idle: motion.iter().flat_map(|(_, idle)| idle.0).collect(),
            audio,
        });
    }
    Ok(out)
}
