//! An OpenAI-compatible speech service (`POST {base_url}/audio/speech`) as a TTS backend.
//!
//! Asks for raw PCM (`response_format = "pcm"`: 24 kHz, 16-bit little-endian, mono — the
//! format OpenAI and the common compatible servers stream) and hands audio on as the response
//! body arrives, so playback starts before the service has finished. The request runs on the
//! session's tokio runtime; this backend's caller (the TTS stage thread) waits on a small
//! bounded channel, at most `timeout` per chunk. A stop request drops the channel, which ends
//! the request task and closes the connection.
//!
//! The service reports no timing. Word and phoneme marks are estimated
//! ([`super::estimate`]) from espeak-ng's phonemes of the same text over the audio that
//! arrived, and are delivered once the audio is complete — after the audio they describe, so
//! pipelines with this backend animate the face from the audio (`energy` motion).

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::Semaphore;

use async_openai::types::audio::{CreateSpeechRequest, SpeechModel, SpeechResponseFormat, Voice};
use futures_util::StreamExt as _;

use super::espeak::{Espeak, PhonemeNotation, VoiceSettings};
use super::estimate::{clause_estimates, phoneme_words, place};
use super::{Flow, SpeechSynth, SynthChunk, SynthSummary, TtsError};
use crate::config::Secret;

/// The rate of OpenAI's `pcm` response format.
pub const PCM_RATE_HZ: u32 = 24_000;
/// Body chunks buffered between the request task and the TTS thread (each a few KB).
const CHUNKS_IN_FLIGHT: usize = 16;
/// Most of an error body kept for the message.
const ERROR_BODY_BYTES: usize = 2_000;

/// Where and how to ask for speech.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenAiSpeechSettings {
    /// e.g. `https://api.openai.com/v1` or `http://localhost:8880/v1`.
    pub base_url: String,
    pub model: String,
    pub voice: String,
    /// Never printed (`Secret`'s `Debug` hides it).
    pub api_key: Option<Secret>,
    /// 0.25 ..= 4.0; `None` leaves the service's default.
    pub speed: Option<f32>,
    /// Voice instructions, for models that take them.
    pub instructions: Option<String>,
    /// Longest wait for the response to start and between two pieces of it.
    pub timeout: Duration,
    /// The espeak-ng voice whose phonemiser estimates word timing (the speech's language).
    pub timing_language: String,
}

/// The backend.
pub struct OpenAiSpeech {
    settings: OpenAiSpeechSettings,
    url: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Handle,
    espeak: &'static Espeak,
    phonemizer: VoiceSettings,
}

enum Body {
    Audio(Vec<u8>),
    Failed(String),
}

/// The consumer's end of a request: body chunks, and the credits that bound them. Dropping it
/// closes the credits, which stops the request task (and so the connection).
struct Incoming {
    body: mpsc::Receiver<Body>,
    /// One permit per chunk the request task may send ahead; the consumer returns one per
    /// chunk taken.
    credits: Arc<Semaphore>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.credits.close();
    }
}

impl OpenAiSpeech {
    /// Must be called inside a tokio runtime (requests run on it).
    pub fn new(settings: OpenAiSpeechSettings) -> Result<OpenAiSpeech, TtsError> {
        let url = format!("{}/audio/speech", settings.base_url.trim_end_matches('/'));
        let service = |message: String| TtsError::Service {
            url: url.clone(),
            message,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(settings.timeout)
            .build()
            .map_err(|e| service(format!("cannot create the HTTP client: {e}")))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| service("the speech backend needs a running tokio runtime".into()))?;
        let espeak = Espeak::global()?;
        let phonemizer = VoiceSettings {
            voice: settings.timing_language.clone(),
            ..VoiceSettings::default()
        };
        espeak.phonemize("a", &phonemizer, PhonemeNotation::Ipa)?;
        Ok(OpenAiSpeech {
            settings,
            url,
            http,
            runtime,
            espeak,
            phonemizer,
        })
    }

    fn request(&self, text: &str) -> CreateSpeechRequest {
        CreateSpeechRequest {
            input: text.to_string(),
            model: SpeechModel::Other(self.settings.model.clone()),
            voice: Voice::Other(self.settings.voice.clone()),
            instructions: self.settings.instructions.clone(),
            response_format: Some(SpeechResponseFormat::Pcm),
            speed: self.settings.speed,
            stream_format: None,
        }
    }

    /// Starts the request; the body arrives on the returned channel.
    fn start(&self, text: &str) -> Incoming {
        let (tx, rx) = mpsc::sync_channel(CHUNKS_IN_FLIGHT);
        let credits = Arc::new(Semaphore::new(CHUNKS_IN_FLIGHT));
        let task_credits = credits.clone();
        let mut request = self.http.post(&self.url).json(&self.request(text));
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key.expose());
        }
        self.runtime.spawn(async move {
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    let _ = tx.send(Body::Failed(describe(&error)));
                    return;
                }
            };
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                let body: String = body.chars().take(ERROR_BODY_BYTES).collect();
                let _ = tx.send(Body::Failed(format!("HTTP {status}: {}", body.trim())));
                return;
            }
            let mut stream = response.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let item = match chunk {
                    Ok(bytes) => Body::Audio(bytes.to_vec()),
                    Err(error) => Body::Failed(describe(&error)),
                };
                let failed = matches!(item, Body::Failed(_));
                // Waits (asynchronously) for the consumer to take a chunk; closed credits mean
                // it stopped listening, and returning drops the stream, closing the connection.
                let Ok(permit) = task_credits.acquire().await else {
                    return;
                };
                permit.forget();
                // Never full: at most CHUNKS_IN_FLIGHT chunks are sent ahead of the consumer.
                if tx.try_send(item).is_err() || failed {
                    return;
                }
            }
        });
        Incoming { body: rx, credits }
    }

    /// Estimated word and phoneme marks for `text` spoken over `total_samples`.
    fn estimate(
        &self,
        text: &str,
        total_samples: u64,
    ) -> Result<(Vec<super::WordMark>, Vec<super::PhonemeMark>), TtsError> {
        let clauses = self.espeak.phonemize(
            text,
            &self.phonemizer,
            PhonemeNotation::Mnemonic { separator: '|' },
        )?;
        let mut estimates = Vec::new();
        for clause in clauses {
            let phoneme_words = phoneme_words(&clause.phonemes, '|');
            estimates.extend(clause_estimates(
                text,
                clause.text,
                clause.terminator,
                &phoneme_words,
            ));
        }
        Ok(place(&estimates, 0, total_samples))
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_connect() {
        format!("cannot connect ({error})")
    } else if error.is_timeout() {
        format!("timed out ({error})")
    } else {
        error.to_string()
    }
}

impl SpeechSynth for OpenAiSpeech {
    fn sample_rate_hz(&self) -> u32 {
        PCM_RATE_HZ
    }

    fn synthesize(
        &mut self,
        text: &str,
        on_chunk: &mut dyn FnMut(SynthChunk<'_>) -> Flow,
    ) -> Result<SynthSummary, TtsError> {
        let mut summary = SynthSummary {
            samples: 0,
            cancelled: false,
        };
        if text.trim().is_empty() {
            return Ok(summary);
        }
        let service = |message: String| TtsError::Service {
            url: self.url.clone(),
            message,
        };
        let incoming = self.start(text);
        let mut pcm: Vec<i16> = Vec::new();
        // An odd byte waiting for its partner: chunks may split a sample.
        let mut carry: Option<u8> = None;
        loop {
            let received = incoming.body.recv_timeout(self.settings.timeout);
            if received.is_ok() {
                incoming.credits.add_permits(1);
            }
            let bytes = match received {
                Ok(Body::Audio(bytes)) => bytes,
                Ok(Body::Failed(message)) => return Err(service(message)),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(service(format!(
                        "no audio for {} ms (`stages.tts.timeout_ms`)",
                        self.settings.timeout.as_millis()
                    )));
                }
            };
            pcm.clear();
            let mut bytes = bytes.as_slice();
            if let Some(low) = carry.take()
                && let Some((&high, rest)) = bytes.split_first()
            {
                pcm.push(i16::from_le_bytes([low, high]));
                bytes = rest;
            }
            let mut pairs = bytes.chunks_exact(2);
            pcm.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
            carry = pairs.remainder().first().copied();
            if pcm.is_empty() {
                continue;
            }
            summary.samples += pcm.len() as u64;
            if on_chunk(SynthChunk {
                samples: &pcm,
                phonemes: &[],
                words: &[],
            }) == Flow::Stop
            {
                summary.cancelled = true;
                return Ok(summary);
            }
        }
        if summary.samples == 0 {
            return Err(service("the response held no audio".into()));
        }
        let (word_marks, phoneme_marks) = self.estimate(text, summary.samples)?;
        if on_chunk(SynthChunk {
            samples: &[],
            phonemes: &phoneme_marks,
            words: &word_marks,
        }) == Flow::Stop
        {
            summary.cancelled = true;
        }
        Ok(summary)
    }
}
