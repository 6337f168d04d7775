//! Speech to text through any OpenAI-compatible `POST {base}/audio/transcriptions` server
//! (OpenAI itself, a local faster-whisper or whisper.cpp server, vLLM …), via `async-openai`.
//!
//! Each call sends the audio as a 16-bit mono 16 kHz WAV file in a multipart form with the
//! model name, the language, `response_format = json` and temperature 0, and reads `text` from
//! the JSON answer. The [`super::Transcriber`] interface is synchronous (it runs on the STT
//! stage's worker thread), so the backend owns a small single-threaded tokio runtime to drive
//! its HTTP client; a request is abandoned when its [`AbortSignal`] is set or its timeout passes.
//!
//! It does not retry: a failed partial is simply skipped, and a failed final leaves the turn
//! without words (the dialogue asks again). No network is touched at construction.

use std::io::Cursor;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::audio::{AudioInput, AudioResponseFormat, CreateTranscriptionRequestArgs};

use super::{AbortSignal, SttError, Transcriber};
use crate::audio::LISTEN_RATE_HZ;

/// Where and how to transcribe.
#[derive(Clone, Debug)]
pub struct OpenAiSettings {
    /// API base, e.g. `http://localhost:8000/v1` (requests go to `{base}/audio/transcriptions`).
    pub base_url: String,
    pub model: String,
    /// An ISO-639-1 code ("en"); empty lets the server detect it.
    pub language: String,
    /// Sent as a bearer token when set.
    pub api_key: Option<String>,
    pub timeout: Duration,
}

/// A client for one server.
pub struct OpenAiTranscriber {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
    runtime: tokio::runtime::Runtime,
    /// The WAV encoding of the current request (reused).
    wav: Vec<u8>,
}

impl OpenAiTranscriber {
    pub fn new(settings: OpenAiSettings) -> Result<Self, SttError> {
        let invalid = |reason: String| SttError::InvalidSetting {
            name: "base_url",
            value: format!("{:?}", settings.base_url),
            reason,
        };
        if !(settings.base_url.starts_with("http://") || settings.base_url.starts_with("https://")) {
            return Err(invalid("it must be an http:// or https:// URL".into()));
        }
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.trim_end_matches('/'))
            .with_api_key(settings.api_key.clone().unwrap_or_default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("could not start its HTTP runtime: {e}")))?;
        Ok(OpenAiTranscriber {
            client: Client::with_config(config),
            settings,
            runtime,
            wav: Vec::new(),
        })
    }

    pub fn settings(&self) -> &OpenAiSettings {
        &self.settings
    }

    fn encode_wav(&mut self, audio_16k: &[f32]) -> Result<(), SttError> {
        self.wav.clear();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: LISTEN_RATE_HZ,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let encode = |e: hound::Error| SttError::Decode(format!("could not encode the audio as WAV: {e}"));
        let mut writer = hound::WavWriter::new(Cursor::new(&mut self.wav), spec).map_err(encode)?;
        for &sample in audio_16k {
            let value = if sample.is_finite() {
                sample.clamp(-1.0, 1.0)
            } else {
                0.0
            };
            writer
                .write_sample((value * f32::from(i16::MAX)).round() as i16)
                .map_err(encode)?;
        }
        writer.finalize().map_err(encode)
    }
}

impl Transcriber for OpenAiTranscriber {
    fn transcribe(&mut self, audio_16k: &[f32], abort: &AbortSignal) -> Result<String, SttError> {
        if audio_16k.is_empty() {
            return Ok(String::new());
        }
        self.encode_wav(audio_16k)?;
        let mut request = CreateTranscriptionRequestArgs::default();
        request
            .file(AudioInput::from_vec_u8("audio.wav".into(), self.wav.clone()))
            .model(self.settings.model.clone())
            .response_format(AudioResponseFormat::Json)
            .temperature(0.0);
        if !self.settings.language.is_empty() {
            request.language(self.settings.language.clone());
        }
        let request = request
            .build()
            .map_err(|e| SttError::Decode(format!("could not build the transcription request: {e}")))?;
        let base = &self.settings.base_url;
        let timeout = self.settings.timeout;
        let transcriptions = self.client.audio();
        let call = transcriptions.transcription();
        let outcome = self.runtime.block_on(async {
            tokio::select! {
                biased;
                _ = abort.aborted() => None,
                answer = tokio::time::timeout(timeout, call.create(request)) => Some(answer),
            }
        });
        match outcome {
            None => Err(SttError::Aborted),
            Some(Err(_)) => Err(SttError::Decode(format!(
                "the transcription server at {base} did not answer within {} ms; check that it is \
                 running, or raise `timeout_ms` in [stages.stt]",
                timeout.as_millis()
            ))),
            Some(Ok(Err(error))) => Err(SttError::Decode(format!(
                "the transcription server at {base} failed: {error}. Check `base_url`, `model` \
                 and the API key (the variable named by `api_key_env`) in [stages.stt]"
            ))),
            Some(Ok(Ok(answer))) => Ok(answer.text.trim().to_string()),
        }
    }
}
