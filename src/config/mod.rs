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
mod serve;
mod speaking;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use reader::Section;
pub use serve::ServeConfig;

pub use speaking::{
    ChatConfig, DEFAULT_FALLBACK, DEFAULT_HANDOVER_LINE, DEFAULT_SYSTEM_PROMPT, DialogueBackend,
    DialogueConfig, Env, Secret, SpeechConfig, TtsBackend, TtsConfig,
};

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
    /// Silero VAD v5 (ONNX); a frame is speech when its probability reaches `threshold`.
    Silero { model: PathBuf, threshold: f32 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct VadConfig {
    pub backend: VadBackend,
    pub budget: Option<Duration>,
}

/// How the end of a turn is decided (see `turn`).
#[derive(Clone, Debug, PartialEq)]
pub enum TurnBackend {
    /// A fixed silence: `end_silence` after the last speech.
    Silence,
    /// The silence wait adapts to the words so far (short after a finished sentence, long after
    /// a trailing "and", digits or spelling), never beyond `max_wait`.
    Adaptive,
    /// Adaptive, plus Smart Turn v3 (ONNX) asked once the user pauses: a "complete" verdict at
    /// or above `threshold` ends the turn at once, an "incomplete" one waits up to `max_wait`.
    SmartTurn { model: PathBuf, threshold: f32 },
}

/// When user speech over the avatar interrupts it.
#[derive(Clone, Debug, PartialEq)]
pub struct BargeInConfig {
    /// Off: every user turn start interrupts at once (the turn start rule alone).
    pub enabled: bool,
    /// How long the user must have been speaking (onset to the latest speech, some of it
    /// voiced) to interrupt without recognised words.
    pub min_speech: Duration,
    /// Words other than backchannels that interrupt sooner (0: words are not used).
    pub min_words: u32,
    /// Words and phrases that never interrupt ("mhm", "okay", …).
    pub backchannels: Vec<String>,
}

/// Endpointing parameters (see `turn`).
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
    pub backend: TurnBackend,
    /// The wait after a transcript that ends like a finished sentence (adaptive backends).
    pub complete_silence: Duration,
    /// The wait after a transcript that ends mid-phrase (adaptive backends).
    pub incomplete_silence: Duration,
    /// The longest silence any rule may wait for before the turn ends.
    pub max_wait: Duration,
    pub barge_in: BargeInConfig,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SttBackend {
    Whisper {
        model: PathBuf,
        language: String,
        threads: usize,
        max_tokens: u32,
    },
    /// An OpenAI-compatible `/v1/audio/transcriptions` endpoint.
    OpenAi {
        /// API base, e.g. `http://localhost:8000/v1`.
        base_url: String,
        /// Model name the server knows (`whisper-1`).
        model: String,
        language: String,
        /// Read from the environment variable named by `api_key_env`; `None` when unset
        /// (local servers usually need none).
        api_key: Option<ApiKey>,
        /// Longest a request may take before the transcript is given up.
        timeout: Duration,
    },
}

/// A secret read from the environment; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(pub String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SttConfig {
    /// `None` when the file has no `[stages.stt]`: the pipeline cannot listen (say/render only).
    pub backend: Option<SttBackend>,
    pub budget: Option<Duration>,
    /// How much new turn audio triggers a partial re-decode; zero: no partial transcripts.
    pub partial_interval: Duration,
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
    /// The CPU rasteriser; `threads`: 1 on the stage's own thread, 0 all cores (shared pool).
    Cpu { threads: usize },
    /// wgpu on the first Vulkan adapter (a GPU, or Mesa's software lavapipe).
    Gpu,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RenderConfig {
    pub backend: RenderBackend,
    /// Avatar folder (`assets/avatars/NAME`); `None`: the built-in default avatar.
    pub avatar: Option<PathBuf>,
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
    /// `[serve]`: the web agent's limits and network settings.
    pub serve: ServeConfig,
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
    "stt_to_turn",
];

const STAGE_NAMES: &[&str] = &[
    "capture", "resample", "vad", "turn", "stt", "dialogue", "tts", "motion", "playout", "render", "sink",
];

/// `[stages.turn]` and its `[stages.turn.barge_in]`.
fn turn_config(s: &mut Section) -> Result<TurnConfig, ConfigError> {
    let backend = match s
        .choice("backend", "adaptive", &["silence", "adaptive", "smart-turn"])?
        .as_str()
    {
        "silence" => TurnBackend::Silence,
        "smart-turn" => TurnBackend::SmartTurn {
            model: s.existing_file(
                "model",
                "Smart Turn v3 model",
                "Run `persona models list` to see how to get it, or use `backend = \"adaptive\"`.",
            )?,
            threshold: s.number("threshold", 0.5, 0.01, 0.99)? as f32,
        },
        _ => TurnBackend::Adaptive,
    };
    let end_silence = s.millis("end_silence_ms", 700, 100, 10_000)?;
    let complete_silence = s.millis("complete_silence_ms", 400, 100, 10_000)?;
    let incomplete_silence = s.millis("incomplete_silence_ms", 1_500, 100, 20_000)?;
    let max_wait = s.millis("max_wait_ms", 3_000, 100, 30_000)?;
    let ordered = [
        ("complete_silence_ms", complete_silence),
        ("end_silence_ms", end_silence),
        ("incomplete_silence_ms", incomplete_silence),
        ("max_wait_ms", max_wait),
    ];
    for pair in ordered.windows(2) {
        let ((shorter_key, shorter), (longer_key, longer)) = (pair[0], pair[1]);
        if shorter > longer {
            return Err(s.error(
                longer_key,
                format!(
                    "{} ms is shorter than `{shorter_key}` ({} ms); the waits must grow in the order \
                     complete_silence_ms <= end_silence_ms <= incomplete_silence_ms <= max_wait_ms",
                    longer.as_millis(),
                    shorter.as_millis()
                ),
            ));
        }
    }
    let mut b = s.section("barge_in")?;
    let barge_in = BargeInConfig {
        enabled: b.boolean("enabled", true)?,
        min_speech: b.millis("min_speech_ms", 800, 100, 5_000)?,
        min_words: b.integer("min_words", 2, 0, 20)? as u32,
        backchannels: b.strings("backchannels", crate::turn::words::DEFAULT_BACKCHANNELS)?,
    };
    b.finish()?;
    Ok(TurnConfig {
        min_speech: s.millis("min_speech_ms", 200, 20, 2_000)?,
        end_silence,
        max_turn: s.millis("max_turn_ms", 30_000, 1_000, 120_000)?,
        preroll: s.millis("preroll_ms", 300, 0, 2_000)?,
        budget: s.budget(None)?,
        backend,
        complete_silence,
        incomplete_silence,
        max_wait,
        barge_in,
    })
}

/// The backend keys of `[stages.stt]`.
fn stt_backend(s: &mut Section) -> Result<SttBackend, ConfigError> {
    Ok(
        match s.choice("backend", "whisper", &["whisper", "openai"])?.as_str() {
            "openai" => {
                let base_url = s.string("base_url", "")?;
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                    return Err(s.error(
                        "base_url",
                        format!(
                            "{base_url:?} is not an http(s) URL; set the API base of an OpenAI-compatible \
                         server, e.g. \"http://localhost:8000/v1\""
                        ),
                    ));
                }
                let api_key_env = s.string("api_key_env", "OPENAI_API_KEY")?;
                SttBackend::OpenAi {
                    base_url,
                    model: s.string("model", "whisper-1")?,
                    language: s.string("language", "en")?,
                    api_key: std::env::var(&api_key_env)
                        .ok()
                        .filter(|k| !k.is_empty())
                        .map(ApiKey),
                    timeout: s.millis("timeout_ms", 10_000, 100, 120_000)?,
                }
            }
            _ => SttBackend::Whisper {
                model: s.existing_file(
                    "model",
                    "whisper model",
                    "Run `persona models list` to see the models and how to get them \
                 (`persona models synth` makes the small offline test model).",
                )?,
                language: s.string("language", "en")?,
                threads: s.integer("threads", 1, 1, 64)? as usize,
                max_tokens: s.integer("max_tokens", 96, 1, 448)? as u32,
            },
        },
    )
}

impl PipelineConfig {
    /// The embedded default: every stage's embedded backend, no STT model, no dialogue.
    pub fn embedded_default() -> Self {
        let empty = Path::new("<embedded default>");
        Self::from_table(empty, &toml::Table::new(), &|_| None).expect("the embedded default is valid")
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
    /// Settings a file leaves out may come from the process environment (`OPENAI_BASE_URL`,
    /// `OPENAI_MODEL`, the API key variable).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::parse_with_env(path, text, &|name| std::env::var(name).ok())
    }

    /// [`PipelineConfig::parse`] with the environment looked up through `env`.
    pub fn parse_with_env(path: &Path, text: &str, env: Env<'_>) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError::Syntax {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut config = Self::from_table(path, &table, env)?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    fn from_table(file: &Path, table: &toml::Table, env: Env<'_>) -> Result<Self, ConfigError> {
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
        let vad_backend = match s.choice("backend", "webrtc", &["webrtc", "silero"])?.as_str() {
            "silero" => VadBackend::Silero {
                model: s.existing_file(
                    "model",
                    "Silero VAD v5 model",
                    "Run `persona models list` to see how to get silero_vad.onnx, or use `backend = \"webrtc\"`.",
                )?,
                threshold: s.number("threshold", 0.5, 0.01, 0.99)? as f32,
            },
            _ => VadBackend::WebRtc {
                aggressiveness: s.integer("aggressiveness", 2, 0, 3)? as u8,
            },
        };
        let vad = VadConfig {
            backend: vad_backend,
            budget: s.budget(None)?,
        };
        s.finish()?;

        let mut s = stages.section("turn")?;
        let turn = turn_config(&mut s)?;
        s.finish()?;

        let mut s = stages.section("stt")?;
        let stt_backend = if stages.has("stt") {
            Some(stt_backend(&mut s)?)
        } else {
            None
        };
        let stt = SttConfig {
            backend: stt_backend,
            budget: s.budget(None)?,
            partial_interval: s.millis("partial_interval_ms", 500, 0, 10_000)?,
        };
        s.finish()?;

        let dialogue = speaking::dialogue(&mut stages, env)?;
        let tts = speaking::tts(&mut stages, env)?;

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
        let render_backend = match s.choice("backend", "cpu", &["cpu", "gpu"])?.as_str() {
            "gpu" => RenderBackend::Gpu,
            _ => RenderBackend::Cpu {
                threads: s.integer("threads", 1, 0, 256)? as usize,
            },
        };
        let avatar = s.path("avatar")?;
        if let Some(dir) = &avatar
            && !dir.is_dir()
        {
            return Err(ConfigError::MissingFile {
                file: file.to_path_buf(),
                key: s.key_path("avatar"),
                what: "avatar folder".into(),
                missing: dir.clone(),
                hint: "An avatar is a folder with an avatar.toml (see assets/avatars/README.md); \
                       leave the key out for the built-in avatar."
                    .into(),
            });
        }
        let render = RenderConfig {
            backend: render_backend,
            avatar,
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

        let mut s = root.section("serve")?;
        let serve = serve::serve(&mut s)?;
        s.finish()?;

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
            serve,
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
