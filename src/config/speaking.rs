//! The speaking half of a pipeline file: `[stages.dialogue]` and `[stages.tts]`.
//!
//! ```toml
//! [stages.dialogue]
//! backend = "openai"                     # or "scripted" (with `flow = "..."`)
//! base_url = "http://localhost:8080/v1"  # else OPENAI_BASE_URL, else https://api.openai.com/v1
//! model = "llama-3.2-3b"                 # else OPENAI_MODEL
//! api_key_env = "OPENAI_API_KEY"         # the variable holding the key (none needed locally)
//! persona = "You are Ava, the front-desk assistant of the Riverside clinic."
//! timeout_ms = 8000                      # first token, and any gap in the stream
//! answers_dir = "../answers"             # answer files (JSON lines), one per session
//!
//! [stages.tts]
//! backend = "piper"                      # or "espeak" (default), "openai"
//! model = "../models/en_US-lessac-medium.onnx"
//! ```
//!
//! Environment variables are read here and nowhere else (see the module docs of `config`).

use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::reader::Section;

/// Looks an environment variable up (injected so tests need not touch the process environment).
pub type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

/// A key or token: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// The default system prompt of the chat backend: short spoken answers, no markup.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a friendly assistant speaking to a person through an \
     on-screen avatar. Everything you write is read aloud: answer in one to three short sentences, \
     in plain words, without lists, markdown, emoji or URLs unless asked. Ask one question at a time.";

pub const DEFAULT_FALLBACK: &str = "Sorry, I'm having trouble answering right now. Could you say that again?";
pub const DEFAULT_HANDOVER_LINE: &str = "A member of staff will be with you shortly.";

#[derive(Clone, Debug, PartialEq)]
pub enum DialogueBackend {
    /// A scripted flow file (TOML).
    Scripted { flow: PathBuf },
    /// An OpenAI-compatible chat server.
    OpenAi(ChatConfig),
}

/// `[stages.dialogue]` with `backend = "openai"`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatConfig {
    pub base_url: String,
    pub model: String,
    /// Never printed (`Secret`'s `Debug` hides it).
    pub api_key: Option<Secret>,
    /// The system prompt; the persona follows it.
    pub system_prompt: String,
    pub persona: Option<String>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Longest wait for the response to start and between two stream chunks.
    pub timeout: Duration,
    /// Offer the runtime tools to the model.
    pub tools: bool,
    /// Said to every turn after a hand-over to a human.
    pub handover_line: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DialogueConfig {
    pub backend: Option<DialogueBackend>,
    pub budget: Option<Duration>,
    /// Where answer files go (one JSON-lines file per session); `None`: answers are not saved.
    pub answers_dir: Option<PathBuf>,
    /// Said when the backend fails.
    pub fallback: String,
    /// Clause chunking (bytes): the first piece may end at a clause mark from this length …
    pub first_clause_min_chars: usize,
    /// … later pieces from this length …
    pub clause_min_chars: usize,
    /// … and none grows past this.
    pub max_chunk_chars: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TtsBackend {
    Espeak {
        voice: String,
        rate_wpm: u32,
        pitch: u8,
    },
    /// A Piper voice: `model` (.onnx) and its `config` (.onnx.json).
    Piper {
        model: PathBuf,
        config: PathBuf,
        speaker: Option<String>,
        length_scale: Option<f32>,
        noise_scale: Option<f32>,
        noise_w: Option<f32>,
    },
    /// An OpenAI-compatible speech service.
    OpenAi(SpeechConfig),
}

/// `[stages.tts]` with `backend = "openai"`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeechConfig {
    pub base_url: String,
    pub model: String,
    pub voice: String,
    pub api_key: Option<Secret>,
    pub speed: Option<f32>,
    pub instructions: Option<String>,
    pub timeout: Duration,
    /// The espeak-ng language used to estimate word timing.
    pub language: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TtsConfig {
    pub backend: TtsBackend,
    pub budget: Option<Duration>,
}

const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// `base_url`, else `$OPENAI_BASE_URL`, else OpenAI's; checked to be http(s).
fn base_url(s: &mut Section<'_>, env: Env<'_>) -> Result<String, ConfigError> {
    let url = match s.optional_string("base_url")? {
        Some(url) => url,
        None => env("OPENAI_BASE_URL").unwrap_or_else(|| OPENAI_BASE_URL.into()),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(s.error(
            "base_url",
            format!("`{url}` is not an http(s) URL; use e.g. http://localhost:8080/v1"),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `api_key` (literal) or the variable named by `api_key_env` (default OPENAI_API_KEY).
fn api_key(s: &mut Section<'_>, env: Env<'_>) -> Result<Option<Secret>, ConfigError> {
    let literal = s.optional_string("api_key")?;
    let variable = s.string("api_key_env", "OPENAI_API_KEY")?;
    Ok(literal
        .or_else(|| env(&variable))
        .filter(|k| !k.is_empty())
        .map(Secret))
}

fn timeout(s: &mut Section<'_>, default_ms: u64) -> Result<Duration, ConfigError> {
    s.millis("timeout_ms", default_ms, 100, 120_000)
}

/// Reads `[stages.dialogue]`.
pub(super) fn dialogue(stages: &mut Section<'_>, env: Env<'_>) -> Result<DialogueConfig, ConfigError> {
    let present = stages.has("dialogue");
    let mut s = stages.section("dialogue")?;
    let backend = if present {
        match s.choice("backend", "scripted", &["scripted", "openai"])?.as_str() {
            "openai" => {
                let base_url = base_url(&mut s, env)?;
                let model = match s.optional_string("model")?.or_else(|| env("OPENAI_MODEL")) {
                    Some(model) if !model.trim().is_empty() => model,
                    _ => {
                        return Err(s.error(
                            "model",
                            "is required for the openai backend (or set OPENAI_MODEL): the model name the server knows",
                        ));
                    }
                };
                Some(DialogueBackend::OpenAi(ChatConfig {
                    base_url,
                    model,
                    api_key: api_key(&mut s, env)?,
                    system_prompt: s.string("system_prompt", DEFAULT_SYSTEM_PROMPT)?,
                    persona: s.optional_string("persona")?,
                    temperature: s.optional_float("temperature", 0.0, 2.0)?.map(|t| t as f32),
                    max_tokens: s.optional_float("max_tokens", 1.0, 32_768.0)?.map(|t| t as u32),
                    timeout: timeout(&mut s, 10_000)?,
                    tools: s.boolean("tools", true)?,
                    handover_line: s.string("handover_line", DEFAULT_HANDOVER_LINE)?,
                }))
            }
            _ => Some(DialogueBackend::Scripted {
                flow: s.existing_file(
                    "flow",
                    "scripted flow file",
                    "Point it at a flow such as flows/front-desk-demo.toml.",
                )?,
            }),
        }
    } else {
        None
    };
    let config = DialogueConfig {
        backend,
        budget: s.budget(None)?,
        answers_dir: s.path("answers_dir")?,
        fallback: s.string("fallback", DEFAULT_FALLBACK)?,
        first_clause_min_chars: s.integer("first_clause_min_chars", 12, 1, 1_000)? as usize,
        clause_min_chars: s.integer("clause_min_chars", 50, 1, 1_000)? as usize,
        max_chunk_chars: s.integer("max_chunk_chars", 160, 20, 4_000)? as usize,
    };
    s.finish()?;
    Ok(config)
}

/// Reads `[stages.tts]`.
pub(super) fn tts(stages: &mut Section<'_>, env: Env<'_>) -> Result<TtsConfig, ConfigError> {
    let mut s = stages.section("tts")?;
    let backend = match s
        .choice("backend", "espeak", &["espeak", "piper", "openai"])?
        .as_str()
    {
        "piper" => {
            let hint = "Run `persona models list` to see the Piper voices and how to get them.";
            let model = s.existing_file("model", "Piper voice model", hint)?;
            let config = match s.path("config")? {
                Some(_) => s.existing_file("config", "Piper voice configuration", hint)?,
                None => {
                    let mut beside = model.clone().into_os_string();
                    beside.push(".json");
                    let beside = PathBuf::from(beside);
                    if !beside.is_file() {
                        return Err(ConfigError::MissingFile {
                            file: s.file().to_path_buf(),
                            key: s.key_path("config"),
                            what: "Piper voice configuration (the .onnx.json beside the model)".into(),
                            missing: beside,
                            hint: hint.into(),
                        });
                    }
                    beside
                }
            };
            TtsBackend::Piper {
                model,
                config,
                speaker: s.name_or_number("speaker")?,
                length_scale: s.optional_float("length_scale", 0.1, 10.0)?.map(|v| v as f32),
                noise_scale: s.optional_float("noise_scale", 0.0, 2.0)?.map(|v| v as f32),
                noise_w: s.optional_float("noise_w", 0.0, 2.0)?.map(|v| v as f32),
            }
        }
        "openai" => TtsBackend::OpenAi(SpeechConfig {
            base_url: base_url(&mut s, env)?,
            model: s
                .optional_string("model")?
                .or_else(|| env("OPENAI_TTS_MODEL"))
                .unwrap_or_else(|| "gpt-4o-mini-tts".into()),
            voice: s.string("voice", "alloy")?,
            api_key: api_key(&mut s, env)?,
            speed: s.optional_float("speed", 0.25, 4.0)?.map(|v| v as f32),
            instructions: s.optional_string("instructions")?,
            timeout: timeout(&mut s, 10_000)?,
            language: s.string("language", "en-us")?,
        }),
        _ => TtsBackend::Espeak {
            voice: s.string("voice", "en-us")?,
            rate_wpm: s.integer("rate_wpm", 170, 80, 450)? as u32,
            pitch: s.integer("pitch", 50, 0, 100)? as u8,
        },
    };
    let config = TtsConfig {
        backend,
        budget: s.budget(None)?,
    };
    s.finish()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::super::PipelineConfig;
    use super::*;
    use std::path::Path;

    fn parse(dir: &Path, text: &str, env: &[(&str, &str)]) -> Result<PipelineConfig, ConfigError> {
        let lookup = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        PipelineConfig::parse_with_env(&dir.join("p.toml"), text, &lookup)
    }

    #[test]
    fn the_chat_backend_takes_its_settings_from_the_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let from_env = parse(
            dir.path(),
            "[stages.dialogue]\nbackend = \"openai\"\npersona = \"You are Ava.\"\nanswers_dir = \"answers\"\n",
            &[
                ("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1/"),
                ("OPENAI_MODEL", "qwen"),
                ("OPENAI_API_KEY", "sk-test"),
            ],
        )
        .unwrap();
        let Some(DialogueBackend::OpenAi(chat)) = &from_env.dialogue.backend else {
            panic!("{:?}", from_env.dialogue.backend);
        };
        assert_eq!(chat.base_url, "http://127.0.0.1:8080/v1");
        assert_eq!(chat.model, "qwen");
        assert_eq!(chat.api_key.as_ref().map(Secret::expose), Some("sk-test"));
        assert!(!format!("{chat:?}").contains("sk-test"), "keys never reach logs");
        assert_eq!(chat.persona.as_deref(), Some("You are Ava."));
        assert_eq!(from_env.dialogue.answers_dir, Some(dir.path().join("answers")));

        let from_file = parse(
            dir.path(),
            "[stages.dialogue]\nbackend = \"openai\"\nbase_url = \"http://h:1/v1\"\nmodel = \"m\"\napi_key_env = \"MY_KEY\"\ntimeout_ms = 500\ntemperature = 0.2\n",
            &[("OPENAI_MODEL", "ignored"), ("MY_KEY", "k2")],
        )
        .unwrap();
        let Some(DialogueBackend::OpenAi(chat)) = &from_file.dialogue.backend else {
            panic!();
        };
        assert_eq!(
            (chat.base_url.as_str(), chat.model.as_str()),
            ("http://h:1/v1", "m")
        );
        assert_eq!(chat.api_key.as_ref().map(Secret::expose), Some("k2"));
        assert_eq!(chat.timeout, Duration::from_millis(500));
        assert_eq!(chat.temperature, Some(0.2));
    }

    #[test]
    fn speaking_sections_reject_bad_values_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &[&str])] = &[
            (
                "[stages.dialogue]\nbackend = \"openai\"",
                &["stages.dialogue.model", "OPENAI_MODEL"],
            ),
            (
                "[stages.dialogue]\nbackend = \"openai\"\nmodel = \"m\"\nbase_url = \"ftp://x\"",
                &["stages.dialogue.base_url", "http"],
            ),
            (
                "[stages.dialogue]\nbackend = \"openai\"\nmodel = \"m\"\ntemperature = 7",
                &["stages.dialogue.temperature", "out of range"],
            ),
            (
                "[stages.dialogue]\nbackend = \"gpt\"",
                &["stages.dialogue.backend", "scripted, openai"],
            ),
            (
                "[stages.tts]\nbackend = \"piper\"\nmodel = \"voices/none.onnx\"",
                &["stages.tts.model", "does not exist", "persona models list"],
            ),
            (
                "[stages.tts]\nbackend = \"openai\"\nspeed = 9",
                &["stages.tts.speed", "0.25"],
            ),
            (
                "[stages.tts]\nbackend = \"openai\"\ncolour = 1",
                &["stages.tts.colour", "unknown key"],
            ),
        ];
        for (text, needles) in cases {
            let error = parse(dir.path(), text, &[]).unwrap_err().to_string();
            for needle in *needles {
                assert!(error.contains(needle), "{text}: {error}");
            }
        }
    }

    #[test]
    fn a_piper_voice_needs_its_configuration_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v.onnx"), b"x").unwrap();
        let error = parse(
            dir.path(),
            "[stages.tts]\nbackend = \"piper\"\nmodel = \"v.onnx\"",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("v.onnx.json") && error.contains("stages.tts.config"),
            "{error}"
        );
        std::fs::write(dir.path().join("v.onnx.json"), b"{}").unwrap();
        let config = parse(
            dir.path(),
            "[stages.tts]\nbackend = \"piper\"\nmodel = \"v.onnx\"\nspeaker = 3\nlength_scale = 1.2",
            &[],
        )
        .unwrap();
        match config.tts.backend {
            TtsBackend::Piper {
                config,
                speaker,
                length_scale,
                ..
            } => {
                assert_eq!(config, dir.path().join("v.onnx.json"));
                assert_eq!(speaker.as_deref(), Some("3"));
                assert_eq!(length_scale, Some(1.2));
            }
            other => panic!("{other:?}"),
        }
    }
}
