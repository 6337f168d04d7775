//! Piper voices: VITS models exported to ONNX, run through ONNX Runtime.
//!
//! A Piper voice is two files: `voice.onnx` and `voice.onnx.json` (sample rate, the espeak-ng
//! voice its phonemes come from, inference scales, the phoneme → id map, speakers). Text is
//! phonemised by espeak-ng in IPA, clause by clause; each IPA character becomes its id(s),
//! framed as Piper expects (`^`, then every phoneme followed by the pad `_`, then `$`), and each
//! sentence is one inference: inputs `input` (int64 `[1, n]`), `input_lengths` (`[1]`),
//! `scales` (float `[3]`: noise, length, noise width) and, for multi-speaker voices, `sid`;
//! output `output` (float audio `[1, 1, samples]` or `[1, samples]`).
//!
//! Piper reports no timing. Word and phoneme marks are estimated ([`super::estimate`]) from the
//! sentence's phonemes (espeak-ng mnemonics, for the motion stage) over the audio the model
//! returned, and are delivered with that audio. Audio leaves sentence by sentence, so a stop
//! request takes effect at the next sentence boundary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;

use super::espeak::{Espeak, PhonemeNotation, VoiceSettings};
use super::estimate::{WordEstimate, clause_estimates, phoneme_words, place};
use super::{Flow, PhonemeSymbol, SpeechSynth, SynthChunk, SynthSummary, TtsError};
use crate::onnx::{SessionOptions, expect_signature, open_session};

const PAD: char = '_';
const BOS: char = '^';
const EOS: char = '$';

/// A voice's `.onnx.json`, the parts persona uses.
#[derive(Clone, Debug, Deserialize)]
pub struct PiperConfig {
    pub audio: AudioSection,
    pub espeak: EspeakSection,
    #[serde(default)]
    pub inference: InferenceSection,
    #[serde(default = "espeak_phonemes")]
    pub phoneme_type: String,
    /// Phoneme → replacement phonemes, applied before ids.
    #[serde(default)]
    pub phoneme_map: HashMap<String, Vec<String>>,
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default = "one")]
    pub num_speakers: u32,
    #[serde(default)]
    pub speaker_id_map: HashMap<String, i64>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AudioSection {
    pub sample_rate: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EspeakSection {
    pub voice: String,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub struct InferenceSection {
    #[serde(default = "noise_scale")]
    pub noise_scale: f32,
    #[serde(default = "length_scale")]
    pub length_scale: f32,
    #[serde(default = "noise_w")]
    pub noise_w: f32,
}

impl Default for InferenceSection {
    fn default() -> Self {
        InferenceSection {
            noise_scale: noise_scale(),
            length_scale: length_scale(),
            noise_w: noise_w(),
        }
    }
}

fn espeak_phonemes() -> String {
    "espeak".into()
}
fn one() -> u32 {
    1
}
fn noise_scale() -> f32 {
    0.667
}
fn length_scale() -> f32 {
    1.0
}
fn noise_w() -> f32 {
    0.8
}

/// What a pipeline file can set about a Piper voice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PiperSettings {
    /// Speaker name (from the voice's `speaker_id_map`) or number, for multi-speaker voices.
    pub speaker: Option<String>,
    /// Overrides of the voice's own inference scales.
    pub length_scale: Option<f32>,
    pub noise_scale: Option<f32>,
    pub noise_w: Option<f32>,
}

/// The `.onnx.json` beside a model: `voice.onnx` → `voice.onnx.json`.
pub fn default_config_path(model: &Path) -> PathBuf {
    let mut name = model.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

impl PiperConfig {
    pub fn load(path: &Path) -> Result<PiperConfig, TtsError> {
        let invalid = |message: String| TtsError::PiperVoice {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "cannot read the voice configuration ({e}); a Piper voice needs its .onnx.json \
                 beside the model (see `persona models list`)"
            ))
        })?;
        let config: PiperConfig = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("not a Piper voice configuration: {e}")))?;
        if config.phoneme_type != "espeak" {
            return Err(invalid(format!(
                "phoneme_type `{}` is not supported; persona phonemises with espeak-ng (`espeak`)",
                config.phoneme_type
            )));
        }
        for symbol in [PAD, BOS, EOS] {
            if !config.phoneme_id_map.contains_key(&symbol.to_string()) {
                return Err(invalid(format!("phoneme_id_map lacks the symbol `{symbol}`")));
            }
        }
        if !crate::audio::is_plausible_rate(config.audio.sample_rate) {
            return Err(invalid(format!(
                "audio.sample_rate {} Hz is not a plausible audio rate",
                config.audio.sample_rate
            )));
        }
        Ok(config)
    }

    /// Ids for a sentence's phonemes, framed as Piper expects. Phonemes without an id are
    /// skipped (counted in the second value).
    pub fn ids(&self, phonemes: &str) -> (Vec<i64>, usize) {
        let mut ids = Vec::with_capacity(phonemes.len() * 2 + 4);
        let mut missing = 0;
        let id = |symbol: char, ids: &mut Vec<i64>, missing: &mut usize| {
            let key = symbol.to_string();
            let mapped: Vec<String> = self.phoneme_map.get(&key).cloned().unwrap_or_else(|| vec![key]);
            for phoneme in mapped {
                match self.phoneme_id_map.get(&phoneme) {
                    Some(found) => {
                        ids.extend_from_slice(found);
                        ids.extend_from_slice(&self.phoneme_id_map[&PAD.to_string()]);
                    }
                    None => *missing += 1,
                }
            }
        };
        ids.extend_from_slice(&self.phoneme_id_map[&BOS.to_string()]);
        ids.extend_from_slice(&self.phoneme_id_map[&PAD.to_string()]);
        for symbol in phonemes.chars() {
            id(symbol, &mut ids, &mut missing);
        }
        ids.extend_from_slice(&self.phoneme_id_map[&EOS.to_string()]);
        (ids, missing)
    }
}

/// One sentence ready for the model: its ids and its words with their phonemes.
#[derive(Clone, Debug)]
pub struct Sentence {
    pub ids: Vec<i64>,
    pub words: Vec<WordEstimate>,
}

/// A loaded Piper voice.
pub struct PiperVoice {
    model: PathBuf,
    session: Session,
    config: PiperConfig,
    espeak: &'static Espeak,
    /// The espeak-ng voice that phonemises for this model.
    phonemizer: VoiceSettings,
    speaker_id: Option<i64>,
    scales: [f32; 3],
}

impl PiperVoice {
    /// Loads `model` with its configuration (`config`, or the `.onnx.json` beside the model) and
    /// checks that it has a Piper voice's inputs and outputs.
    pub fn load(
        model: &Path,
        config: Option<&Path>,
        settings: &PiperSettings,
    ) -> Result<PiperVoice, TtsError> {
        let config_path = config.map_or_else(|| default_config_path(model), Path::to_path_buf);
        let config = PiperConfig::load(&config_path)?;
        let onnx = |e: crate::onnx::OnnxError| TtsError::Model {
            message: e.to_string(),
        };
        let session = open_session(model, SessionOptions::default()).map_err(onnx)?;
        expect_signature(
            &session,
            model,
            "a Piper voice",
            &["input", "input_lengths", "scales"],
            &["output"],
        )
        .map_err(onnx)?;
        let has_sid = session.inputs().iter().any(|i| i.name() == "sid");
        let invalid = |message: String| TtsError::PiperVoice {
            path: model.to_path_buf(),
            message,
        };
        let speaker_id = match (&settings.speaker, has_sid) {
            (Some(speaker), true) => Some(match config.speaker_id_map.get(speaker) {
                Some(&id) => id,
                None => speaker.parse::<i64>().ok().filter(|id| (0..i64::from(config.num_speakers)).contains(id)).ok_or_else(|| {
                    let mut names: Vec<&String> = config.speaker_id_map.keys().collect();
                    names.sort();
                    invalid(format!(
                        "has no speaker `{speaker}`; use a number below {} or one of {names:?} (`stages.tts.speaker`)",
                        config.num_speakers
                    ))
                })?,
            }),
            (None, true) => Some(0),
            (Some(speaker), false) => {
                return Err(invalid(format!(
                    "has a single speaker, but `stages.tts.speaker` asks for `{speaker}`; remove it"
                )));
            }
            (None, false) if config.num_speakers > 1 => {
                return Err(invalid(format!(
                    "its configuration lists {} speakers but the model has no `sid` input: the \
                     .onnx.json belongs to another model",
                    config.num_speakers
                )));
            }
            (None, false) => None,
        };
        let scales = [
            settings.noise_scale.unwrap_or(config.inference.noise_scale),
            settings.length_scale.unwrap_or(config.inference.length_scale),
            settings.noise_w.unwrap_or(config.inference.noise_w),
        ];
        if !(0.1..=10.0).contains(&scales[1]) {
            return Err(invalid(format!(
                "length_scale {} is out of range; use 0.1 to 10 (1 is the voice's normal speed, larger is slower)",
                scales[1]
            )));
        }
        let espeak = Espeak::global()?;
        let phonemizer = VoiceSettings {
            voice: config.espeak.voice.clone(),
            ..VoiceSettings::default()
        };
        // The phonemiser voice must exist: checked now rather than at the first reply.
        espeak.phonemize("a", &phonemizer, PhonemeNotation::Ipa)?;
        tracing::info!(
            model = %model.display(),
            sample_rate_hz = config.audio.sample_rate,
            speakers = config.num_speakers,
            "Piper voice loaded"
        );
        Ok(PiperVoice {
            model: model.to_path_buf(),
            session,
            config,
            espeak,
            phonemizer,
            speaker_id,
            scales,
        })
    }

    pub fn config(&self) -> &PiperConfig {
        &self.config
    }

    /// Splits `text` into sentences and prepares each for the model.
    pub fn sentences(&self, text: &str) -> Result<Vec<Sentence>, TtsError> {
        let ipa = self
            .espeak
            .phonemize(text, &self.phonemizer, PhonemeNotation::Ipa)?;
        let mnemonic = self.espeak.phonemize(
            text,
            &self.phonemizer,
            PhonemeNotation::Mnemonic { separator: '|' },
        )?;
        let mut sentences = Vec::new();
        let mut phonemes = String::new();
        let mut estimates: Vec<WordEstimate> = Vec::new();
        for (index, clause) in ipa.iter().enumerate() {
            if !phonemes.is_empty() {
                phonemes.push(' ');
            }
            phonemes.push_str(&clause.phonemes);
            if let Some(terminator) = clause.terminator {
                phonemes.push(terminator);
            }
            // The mnemonic pass splits clauses the same way; if it ever does not, the clause's
            // words share its phonemes by length.
            let mnemonic_words: Vec<Vec<PhonemeSymbol>> = mnemonic
                .get(index)
                .filter(|m| m.text == clause.text)
                .map(|m| phoneme_words(&m.phonemes, '|'))
                .unwrap_or_default();
            estimates.extend(clause_estimates(
                text,
                clause.text.clone(),
                clause.terminator,
                &mnemonic_words,
            ));
            let sentence_ends = matches!(clause.terminator, Some('.' | '?' | '!'));
            if sentence_ends || index + 1 == ipa.len() {
                let (ids, missing) = self.config.ids(&phonemes);
                if missing > 0 {
                    tracing::debug!(missing, phonemes = %phonemes, "phonemes without an id in this voice were skipped");
                }
                sentences.push(Sentence {
                    ids,
                    words: std::mem::take(&mut estimates),
                });
                phonemes.clear();
            }
        }
        Ok(sentences)
    }

    /// Runs the model on one sentence's ids; returns audio in [-1, 1].
    pub fn infer(&mut self, ids: &[i64]) -> Result<Vec<f32>, TtsError> {
        let run_error = |detail: String| TtsError::Model {
            message: crate::onnx::OnnxError::Run {
                path: self.model.clone(),
                detail,
            }
            .to_string(),
        };
        let input =
            Array2::from_shape_vec((1, ids.len()), ids.to_vec()).map_err(|e| run_error(e.to_string()))?;
        let lengths = Array1::from_vec(vec![ids.len() as i64]);
        let scales = Array1::from_vec(self.scales.to_vec());
        let tensor = |r: ort::Result<Tensor<i64>>| r.map_err(|e| run_error(e.to_string()));
        let input = tensor(Tensor::from_array(input))?;
        let lengths = tensor(Tensor::from_array(lengths))?;
        let scales = Tensor::from_array(scales).map_err(|e| run_error(e.to_string()))?;
        let outputs = match self.speaker_id {
            Some(sid) => {
                let sid = tensor(Tensor::from_array(Array1::from_vec(vec![sid])))?;
                self.session.run(ort::inputs![
                    "input" => input,
                    "input_lengths" => lengths,
                    "scales" => scales,
                    "sid" => sid,
                ])
            }
            None => self.session.run(ort::inputs![
                "input" => input,
                "input_lengths" => lengths,
                "scales" => scales,
            ]),
        }
        .map_err(|e| run_error(e.to_string()))?;
        let audio = outputs["output"]
            .try_extract_array::<f32>()
            .map_err(|e| run_error(e.to_string()))?;
        Ok(audio.iter().copied().collect())
    }
}

impl SpeechSynth for PiperVoice {
    fn sample_rate_hz(&self) -> u32 {
        self.config.audio.sample_rate
    }

    fn synthesize(
        &mut self,
        text: &str,
        on_chunk: &mut dyn FnMut(SynthChunk<'_>) -> Flow,
    ) -> Result<SynthSummary, TtsError> {
        if text.contains('\0') {
            return Err(TtsError::InvalidText {
                byte_offset: text.find('\0').unwrap_or(0),
            });
        }
        let mut summary = SynthSummary {
            samples: 0,
            cancelled: false,
        };
        if text.trim().is_empty() {
            return Ok(summary);
        }
        let mut pcm: Vec<i16> = Vec::new();
        for sentence in self.sentences(text)? {
            let audio = self.infer(&sentence.ids)?;
            pcm.clear();
            pcm.extend(audio.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16));
            let (words, phonemes) = place(&sentence.words, summary.samples, pcm.len() as u64);
            summary.samples += pcm.len() as u64;
            let flow = on_chunk(SynthChunk {
                samples: &pcm,
                phonemes: &phonemes,
                words: &words,
            });
            if flow == Flow::Stop {
                summary.cancelled = true;
                break;
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/onnx")
            .join(name)
    }

    fn speak(
        voice: &mut PiperVoice,
        text: &str,
    ) -> (
        Vec<i16>,
        Vec<super::super::WordMark>,
        Vec<super::super::PhonemeMark>,
    ) {
        let (mut audio, mut words, mut phonemes) = (Vec::new(), Vec::new(), Vec::new());
        voice
            .synthesize(text, &mut |chunk| {
                audio.extend_from_slice(chunk.samples);
                words.extend_from_slice(chunk.words);
                phonemes.extend_from_slice(chunk.phonemes);
                Flow::Continue
            })
            .unwrap();
        (audio, words, phonemes)
    }

    #[test]
    fn ids_are_framed_as_piper_expects() {
        let config = PiperConfig::load(&fixture("tiny-piper.onnx.json")).unwrap();
        let id = |s: &str| config.phoneme_id_map[s][0];
        let (ids, missing) = config.ids("hə");
        assert_eq!(missing, 0);
        assert_eq!(
            ids,
            [id("^"), id("_"), id("h"), id("_"), id("ə"), id("_"), id("$")]
        );
        let (_, missing) = config.ids("h☃");
        assert_eq!(missing, 1);
    }

    #[test]
    fn a_piper_voice_loads_speaks_sentence_by_sentence_and_estimates_word_timing() {
        let mut voice =
            PiperVoice::load(&fixture("tiny-piper.onnx"), None, &PiperSettings::default()).unwrap();
        assert_eq!(voice.sample_rate_hz(), 22_050);
        let text = "Hello there. How are you today?";
        let sentences = voice.sentences(text).unwrap();
        assert_eq!(sentences.len(), 2);
        let expected_samples: usize = sentences.iter().map(|s| s.ids.len() * 64).sum();
        let (audio, words, phonemes) = speak(&mut voice, text);
        // The model's output length follows its inputs: every sentence was run.
        assert_eq!(audio.len(), expected_samples);
        assert!(
            audio.iter().any(|s| s.unsigned_abs() > 5_000),
            "the sine reached the output"
        );
        let said: Vec<&str> = words
            .iter()
            .map(|w| &text[w.text_start as usize..(w.text_start + w.text_len) as usize])
            .collect();
        assert_eq!(said, ["Hello", "there", "How", "are", "you", "today"]);
        assert!(words.windows(2).all(|w| w[0].start_sample < w[1].start_sample));
        assert!(words.iter().all(|w| w.start_sample < audio.len() as u64));
        // The second sentence's first word starts after the first sentence's audio.
        let first_sentence = (sentences[0].ids.len() * 64) as u64;
        assert!(words[2].start_sample >= first_sentence);
        // Phoneme marks (espeak mnemonics, for the motion stage) cover the words in order.
        assert!(
            phonemes
                .windows(2)
                .all(|w| w[0].start_sample <= w[1].start_sample)
        );
        assert!(
            phonemes.iter().any(|m| m.symbol.as_str().contains('h')),
            "{phonemes:?}"
        );
    }

    #[test]
    fn length_scale_and_speakers_change_the_audio() {
        let text = "Good morning.";
        let mut normal =
            PiperVoice::load(&fixture("tiny-piper.onnx"), None, &PiperSettings::default()).unwrap();
        let mut slow = PiperVoice::load(
            &fixture("tiny-piper.onnx"),
            None,
            &PiperSettings {
                length_scale: Some(2.0),
                ..PiperSettings::default()
            },
        )
        .unwrap();
        assert_eq!(
            speak(&mut slow, text).0.len(),
            2 * speak(&mut normal, text).0.len()
        );

        let multi = fixture("tiny-piper-multi.onnx");
        let mut ava = PiperVoice::load(&multi, None, &PiperSettings::default()).unwrap();
        let mut ben = PiperVoice::load(
            &multi,
            None,
            &PiperSettings {
                speaker: Some("ben".into()),
                ..PiperSettings::default()
            },
        )
        .unwrap();
        let (a, b) = (speak(&mut ava, text).0, speak(&mut ben, text).0);
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b, "the speaker id reaches the model");

        let by_number = PiperVoice::load(
            &multi,
            None,
            &PiperSettings {
                speaker: Some("1".into()),
                ..PiperSettings::default()
            },
        );
        assert!(by_number.is_ok());
        let unknown = PiperVoice::load(
            &multi,
            None,
            &PiperSettings {
                speaker: Some("cleo".into()),
                ..PiperSettings::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(unknown.contains("cleo") && unknown.contains("ava"), "{unknown}");
    }

    #[test]
    fn wrong_files_are_named_with_what_is_wrong() {
        // A model without a Piper voice's inputs.
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("add_one.onnx");
        std::fs::copy(fixture("add_one.onnx"), &model).unwrap();
        std::fs::copy(
            fixture("tiny-piper.onnx.json"),
            dir.path().join("add_one.onnx.json"),
        )
        .unwrap();
        let error = PiperVoice::load(&model, None, &PiperSettings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("Piper voice") && error.contains("input `input_lengths`"),
            "{error}"
        );

        // No configuration beside the model.
        let lonely = dir.path().join("voice.onnx");
        std::fs::copy(fixture("tiny-piper.onnx"), &lonely).unwrap();
        let error = PiperVoice::load(&lonely, None, &PiperSettings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("voice.onnx.json") && error.contains("persona models list"),
            "{error}"
        );

        // A configuration that is not Piper's.
        std::fs::write(dir.path().join("voice.onnx.json"), "{\"audio\": {}}").unwrap();
        let error = PiperVoice::load(&lonely, None, &PiperSettings::default())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("not a Piper voice configuration"), "{error}");

        // A single-speaker voice asked for a speaker.
        let error = PiperVoice::load(
            &fixture("tiny-piper.onnx"),
            None,
            &PiperSettings {
                speaker: Some("ava".into()),
                ..PiperSettings::default()
            },
        )
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("single speaker"), "{error}");
    }

    #[test]
    fn stop_ends_at_a_sentence_boundary() {
        let mut voice =
            PiperVoice::load(&fixture("tiny-piper.onnx"), None, &PiperSettings::default()).unwrap();
        let mut chunks = 0;
        let summary = voice
            .synthesize("One. Two. Three.", &mut |_| {
                chunks += 1;
                Flow::Stop
            })
            .unwrap();
        assert!(summary.cancelled);
        assert_eq!(chunks, 1);
    }
}
