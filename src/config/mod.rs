//! Pipeline files: which stages and backends run, their model paths, budgets and edge capacities.
//!
//! A pipeline file (`pipelines/*.toml`) is data. [`PipelineConfig::load`] reads and checks all of
//! it before anything starts: syntax, types, ranges, backend names, unknown keys (typos), edge
//! names, and that every referenced file exists. Each error names the file, the dotted key and
//! what was expected. Relative paths are relative to the pipeline file's folder. Every section is
//! optional and falls back to the embedded default, so an empty file is a valid (offline-capable
//! except for speech recognition) pipeline.
//!
//! This module is the only one (with the CLI) that knows about files and keys; stages receive
//! the plain structs defined here.

mod reader;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use reader::Section;

/// A pipeline file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read pipeline file {}: {source}", file.display())]
    Read { file: PathBuf, source: std::io::Error },
    #[error("pipeline file {} is not valid TOML: {message}", file.display())]
    Syntax { file: PathBuf, message: String },
    #[error("pipeline file {}: `{key}`: {message}", file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        message: String,
    },
    /// A file the pipeline names (a model, a flow) is not there: the pipeline is fine, the
    /// machine lacks the file.
    #[error("pipeline file {}: `{key}`: {what} `{}` does not exist. {hint}", file.display(), missing.display())]
    MissingFile {
        file: PathBuf,
        key: String,
        what: String,
        missing: PathBuf,
        hint: String,
    },
}

/// Output media format: the one media clock every output stage shares.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputConfig {
    /// Output audio rate; the media clock counts samples at this rate.
    pub sample_rate_hz: u32,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VadBackend {
    /// WebRTC's GMM voice activity detector; `aggressiveness` 0 (permissive) ..= 3 (strict).
    WebRtc { aggressiveness: u8 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VadConfig {
    pub backend: VadBackend,
    pub budget: Option<Duration>,
}

/// Silence endpointing parameters (see `turn`).
#[derive(Clone, Debug, PartialEq)]
pub struct TurnConfig {
    /// Voiced audio needed before a turn starts (shorter bursts are ignored as noise).
    pub min_speech: Duration,
    /// Silence after speech that ends the turn.
    pub end_silence: Duration,
    /// A turn is cut after this long even if the user keeps talking.
    pub max_turn: Duration,
    /// Audio kept from before the detected start, so the first syllable reaches STT.
    pub preroll: Duration,
    pub budget: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SttBackend {
    Whisper {
        model: PathBuf,
        language: String,
        threads: usize,
        max_tokens: u32,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct SttConfig {
    /// `None` when the file has no `[stages.stt]`: the pipeline cannot listen (say/render only).
    pub backend: Option<SttBackend>,
    pub budget: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DialogueBackend {
    /// A scripted flow file (TOML).
    Scripted { flow: PathBuf },
}

#[derive(Clone, Debug, PartialEq)]
pub struct DialogueConfig {
    pub backend: Option<DialogueBackend>,
    pub budget: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TtsBackend {
    Espeak { voice: String, rate_wpm: u32, pitch: u8 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct TtsConfig {
    pub backend: TtsBackend,
    pub budget: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MotionBackend {
    /// Phoneme timings → visemes → blendshapes (needs a TTS that reports phonemes).
    Rules,
    /// Audio energy → jaw (works for any audio).
    Energy,
    /// persona's own audio-to-motion model (works for any audio; the default).
    Model,
}

/// Settings of the learned motion backend (`backend = "model"`).
#[derive(Clone, Debug, PartialEq)]
pub struct MotionModelConfig {
    /// The ONNX file (its `.json` metadata beside it); `None`: the model shipped in `models/`.
    pub model: Option<PathBuf>,
    /// Where inference runs; CUDA falls back to the CPU with a warning when unavailable.
    pub device: crate::onnx::Device,
    /// Threads inside one model call.
    pub threads: usize,
    /// Audio per model call (the streaming chunk), rounded to the model's frames (40 ms).
    pub chunk: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MotionConfig {
    pub backend: MotionBackend,
    pub model: MotionModelConfig,
    /// Seed of the idle motion (blinks, head drift), so a session replays identically.
    pub seed: u64,
    pub budget: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderBackend {
    Cpu,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RenderConfig {
    pub backend: RenderBackend,
    pub budget: Option<Duration>,
}

/// A stage with nothing to configure but its budget.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BudgetOnly {
    pub budget: Option<Duration>,
}

/// A whole pipeline file.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    /// The file it came from (`None` for the embedded default).
    pub file: Option<PathBuf>,
    pub name: String,
    pub description: String,
    pub output: OutputConfig,
    pub capture: BudgetOnly,
    pub resample: BudgetOnly,
    pub vad: VadConfig,
    pub turn: TurnConfig,
    pub stt: SttConfig,
    pub dialogue: DialogueConfig,
    pub tts: TtsConfig,
    pub motion: MotionConfig,
    pub playout: BudgetOnly,
    pub render: RenderConfig,
    pub sink: BudgetOnly,
    /// Capacity overrides by edge name.
    pub edge_capacities: BTreeMap<String, usize>,
}

/// Edge names a pipeline file may size in `[edges]`. Kept in step with `pipeline::edges`.
pub const EDGE_NAMES: &[&str] = &[
    "capture_to_resample",
    "resample_to_vad",
    "vad_to_turn",
    "turn_to_stt",
    "stt_to_dialogue",
    "dialogue_to_tts",
    "tts_to_motion",
    "motion_to_playout",
    "playout_to_render",
    "render_to_sink",
];

const STAGE_NAMES: &[&str] = &[
    "capture", "resample", "vad", "turn", "stt", "dialogue", "tts", "motion", "playout", "render", "sink",
];

impl PipelineConfig {
    /// The embedded default: every stage's embedded backend, no STT model, no dialogue.
    pub fn embedded_default() -> Self {
        let empty = Path::new("<embedded default>");
        Self::from_table(empty, &toml::Table::new()).expect("the embedded default is valid")
    }

    /// Reads and checks a pipeline file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks pipeline text as if it were read from `path` (paths resolve against its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut config = Self::from_table(path, &table)?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    fn from_table(file: &Path, table: &toml::Table) -> Result<Self, ConfigError> {
        let mut root = Section::root(file, table);
        let name = root.string("name", "default")?;
        let description = root.string("description", "")?;

        let mut output_section = root.section("output")?;
        let sample_rate_hz = output_section.integer("sample_rate_hz", 48_000, 8_000, 48_000)? as u32;
        if ![16_000, 24_000, 48_000].contains(&sample_rate_hz) {
            return Err(output_section.error(
                "sample_rate_hz",
                format!("{sample_rate_hz} is not supported: use 16000, 24000 or 48000 (Opus rates)"),
            ));
        }
        let fps = output_section.integer("fps", 25, 1, 60)? as u32;
        if !sample_rate_hz.is_multiple_of(fps) {
            return Err(output_section.error(
                "fps",
                format!("{fps} does not divide the output rate {sample_rate_hz} Hz: use 25 or 30"),
            ));
        }
        let width = output_section.integer("width", 512, 64, 4096)? as u32;
        let height = output_section.integer("height", 512, 64, 4096)? as u32;
        for (key, value) in [("width", width), ("height", height)] {
            if value % 2 != 0 {
                return Err(output_section.error(
                    key,
                    format!("{value} must be even (the video encoder needs 4:2:0 chroma)"),
                ));
            }
        }
        output_section.finish()?;
        let output = OutputConfig {
            sample_rate_hz,
            fps,
            width,
            height,
        };

        let mut stages = root.section("stages")?;

        let mut s = stages.section("capture")?;
        let capture = BudgetOnly {
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("resample")?;
        let resample = BudgetOnly {
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("vad")?;
        // One backend per stage today; `choice` still rejects unknown names.
        s.choice("backend", "webrtc", &["webrtc"])?;
        let vad_backend = VadBackend::WebRtc {
            aggressiveness: s.integer("aggressiveness", 2, 0, 3)? as u8,
        };
        let vad = VadConfig {
            backend: vad_backend,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("turn")?;
        s.choice("backend", "silence", &["silence"])?;
        let turn = TurnConfig {
            min_speech: s.millis("min_speech_ms", 200, 20, 2_000)?,
            end_silence: s.millis("end_silence_ms", 700, 100, 10_000)?,
            max_turn: s.millis("max_turn_ms", 30_000, 1_000, 120_000)?,
            preroll: s.millis("preroll_ms", 300, 0, 2_000)?,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("stt")?;
        let stt_backend = if stages.has("stt") {
            s.choice("backend", "whisper", &["whisper"])?;
            Some(SttBackend::Whisper {
                model: s.existing_file(
                    "model",
                    "whisper model",
                    "Run `persona models list` to see the models and how to get them \
                     (`persona models synth` makes the small offline test model).",
                )?,
                language: s.string("language", "en")?,
                threads: s.integer("threads", 1, 1, 64)? as usize,
                max_tokens: s.integer("max_tokens", 96, 1, 448)? as u32,
            })
        } else {
            None
        };
        let stt = SttConfig {
            backend: stt_backend,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("dialogue")?;
        let dialogue_backend = if stages.has("dialogue") {
            s.choice("backend", "scripted", &["scripted"])?;
            Some(DialogueBackend::Scripted {
                flow: s.existing_file(
                    "flow",
                    "scripted flow file",
                    "Point it at a flow such as flows/front-desk-demo.toml.",
                )?,
            })
        } else {
            None
        };
        let dialogue = DialogueConfig {
            backend: dialogue_backend,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("tts")?;
        s.choice("backend", "espeak", &["espeak"])?;
        let tts_backend = TtsBackend::Espeak {
            voice: s.string("voice", "en-us")?,
            rate_wpm: s.integer("rate_wpm", 170, 80, 450)? as u32,
            pitch: s.integer("pitch", 50, 0, 100)? as u8,
        };
        let tts = TtsConfig {
            backend: tts_backend,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("motion")?;
        let motion_backend = match s
            .choice("backend", "model", &["model", "rules", "energy"])?
            .as_str()
        {
            "energy" => MotionBackend::Energy,
            "rules" => MotionBackend::Rules,
            _ => MotionBackend::Model,
        };
        let motion_model = s.path("model")?;
        if let Some(path) = &motion_model
            && !path.is_file()
        {
            return Err(ConfigError::MissingFile {
                file: file.to_path_buf(),
                key: s.key_path("model"),
                what: "motion model".into(),
                missing: path.clone(),
                hint: "Leave `model` out to use the model shipped in models/motion-fm.onnx, or export one with scripts/motion/train.py.".into(),
            });
        }
        let device = match s.choice("device", "cpu", &["cpu", "cuda"])?.as_str() {
            "cuda" => crate::onnx::Device::Cuda,
            _ => crate::onnx::Device::Cpu,
        };
        let threads = s.integer("threads", 1, 1, 64)? as usize;
        let chunk = s.millis("chunk_ms", 200, 40, 2_000)?;
        let motion = MotionConfig {
            backend: motion_backend,
            model: MotionModelConfig {
                model: motion_model,
                device,
                threads,
                chunk,
            },
            seed: s.integer("seed", 7, 0, i64::MAX)? as u64,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("playout")?;
        let playout = BudgetOnly {
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("render")?;
        s.choice("backend", "cpu", &["cpu"])?;
        let render = RenderConfig {
            backend: RenderBackend::Cpu,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("sink")?;
        let sink = BudgetOnly {
            budget: s.budget(None)?,
        };
        s.finish()?;

        if let Some(table) = table.get("stages").and_then(|v| v.as_table()) {
            for key in table.keys() {
                if !STAGE_NAMES.contains(&key.as_str()) {
                    return Err(stages.error(
                        key,
                        format!("unknown stage (stages are: {})", STAGE_NAMES.join(", ")),
                    ));
                }
            }
        }

        let mut edges = root.section("edges")?;
        let mut edge_capacities = BTreeMap::new();
        for (name, capacity) in edges.integer_entries()? {
            if !EDGE_NAMES.contains(&name.as_str()) {
                return Err(edges.error(
                    &name,
                    format!("unknown edge (edges are: {})", EDGE_NAMES.join(", ")),
                ));
            }
            if !(1..=100_000).contains(&capacity) {
                return Err(edges.error(
                    &name,
                    format!("capacity {capacity} is out of range: expected 1 to 100000 items"),
                ));
            }
            edge_capacities.insert(name, capacity as usize);
        }

        root.finish()?;
        Ok(PipelineConfig {
            file: None,
            name,
            description,
            output,
            capture,
            resample,
            vad,
            turn,
            stt,
            dialogue,
            tts,
            motion,
            playout,
            render,
            sink,
            edge_capacities,
        })
    }

    /// Where this configuration came from, for messages.
    pub fn origin(&self) -> String {
        self.file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| "the embedded default pipeline".into())
    }
}

#[cfg(test)]
mod tests;
