//! Speech to text with whisper.cpp, through `whisper-rs`.
//!
//! [`WhisperTranscriber`] loads a legacy GGML whisper model once and transcribes whole
//! utterances: greedy decoding, no timestamps, a cap on tokens per 30 s window, and no
//! temperature fallback, so the time one call takes is bounded by the audio length and the cap
//! rather than by how unsure the model is. whisper.cpp's own logging goes to `tracing` (targets
//! `whisper_rs::whisper_logging_hook` and `whisper_rs::ggml_logging_hook`); nothing is printed.
//!
//! A transcription can be abandoned: whisper.cpp checks the [`AbortSignal`] before each
//! encoder and decoder pass and gives up (the stage aborts a partial decode when the final is
//! waiting behind it).
//!
//! whisper.cpp always encodes a 30 s window, however short the audio, so the encoder's cost is
//! the same for a 1 s partial as for a 30 s turn. Partial transcripts
//! ([`Transcriber::transcribe_partial`]) encode only the part of the window the audio fills
//! (whisper.cpp's `audio_ctx`, plus a margin): several times faster for short turns, a little
//! less accurate — LocalAgreement absorbs that, and the final transcript uses the full window.
//!
//! The model's weights are loaded once per file and shared: every transcriber of the same file
//! (one per web session) has its own decoding state over one [`WhisperContext`], which is freed
//! when the last of them is dropped. A file replaced on disk (new size or modification time) is
//! loaded afresh.
//!
//! It does not resample, detect speech, decide when to decode or fetch models. The process
//! must run with `GGML_NO_BACKTRACE=1` in its environment: on an internal abort ggml otherwise
//! tries to attach gdb to itself, which hangs. Library code cannot set it safely, so the binary
//! (and the tests, below) do.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState};

use super::ggml::check_model_file;
use super::synthetic::TINY_WHISPER_FILE;
use super::{AbortSignal, SttError, Transcriber};

/// The only rate whisper accepts.
const SAMPLE_RATE_HZ: usize = 16_000;
/// Encoder positions per second of audio (a 30 s window is 1500).
const AUDIO_CTX_PER_SECOND: usize = 50;
/// Encoder positions added to a trimmed window beyond the audio, so the last word is not cut.
const AUDIO_CTX_MARGIN: usize = 64;

/// 1 s at 16 kHz. whisper.cpp skips input under 100 ms without a word and some releases refused
/// anything under 1 s, so shorter audio is padded with trailing silence to this length. The
/// padding costs nothing: whisper pads every window to 30 s internally anyway.
const MIN_AUDIO_SAMPLES: usize = SAMPLE_RATE_HZ;

/// How a [`WhisperTranscriber`] decodes.
#[derive(Clone, Debug)]
pub struct WhisperSettings {
    /// Spoken language as a whisper code ("en", "de", …) or "auto" to detect it per call.
    /// English-only models (`*.en`) ignore it.
    pub language: String,
    /// CPU threads whisper.cpp may use; at least 1.
    pub threads: usize,
    /// Most tokens decoded per 30 s window, bounding the time a call can take; 0 = no cap
    /// beyond the model's text context.
    pub max_tokens: u32,
}

impl Default for WhisperSettings {
    fn default() -> Self {
        Self {
            language: "en".to_string(),
            threads: 1,
            // About 45 English words: more than a conversational turn, so the cap only bites
            // when decoding runs away.
            max_tokens: 64,
        }
    }
}

/// A loaded whisper model with its decoding state, ready to transcribe utterances.
pub struct WhisperTranscriber {
    /// The decoding state; it holds a reference to the model, which lives until the state is
    /// dropped.
    state: WhisperState,
    /// The shared model, held so later loads of the same file find it in [`loaded_models`].
    model: Arc<WhisperContext>,
    /// Built once: whisper-rs copies the language into a C string it never frees, so building
    /// parameters per call would leak a little on every utterance.
    params: FullParams<'static, 'static>,
    path: PathBuf,
    settings: WhisperSettings,
    /// The model's encoder positions for 30 s (1500 for every released whisper).
    full_audio_ctx: usize,
}

impl WhisperTranscriber {
    /// Loads the model at `path`.
    ///
    /// Fails with [`SttError::InvalidSetting`] for a thread count of 0 or an unknown language,
    /// and with [`SttError::ModelLoad`] (naming `path`) when the file is missing, unreadable or
    /// not a whisper.cpp model.
    pub fn load(path: &Path, settings: WhisperSettings) -> Result<Self, SttError> {
        whisper_rs::install_logging_hooks();
        let threads = validate_threads(settings.threads)?;
        let language = validate_language(&settings.language)?;
        let model_load = |reason: String| SttError::ModelLoad {
            path: path.to_path_buf(),
            reason: with_synth_hint(path, reason),
        };

        // whisper.cpp reads lengths from the file unchecked and can abort the process on a
        // corrupt one: only hand it files whose framing is sound.
        let info = check_model_file(path).map_err(model_load)?;
        let context = shared_model(path, &model_load)?;
        if !context.is_multilingual() && !matches!(language, "en" | "auto") {
            tracing::warn!(
                model = %path.display(),
                language,
                "English-only model: the language setting is ignored"
            );
        }
        let state = context
            .create_state()
            .map_err(|e| model_load(format!("whisper.cpp could not allocate its decoding state ({e})")))?;

        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_language(Some(language));
        params.set_n_threads(threads);
        params.set_max_tokens(i32::try_from(settings.max_tokens).unwrap_or(i32::MAX));
        params.set_translate(false);
        params.set_no_timestamps(true);
        params.set_token_timestamps(false);
        // One utterance in, one line out; each call stands alone, as the dialogue stage keeps
        // the conversation, not the recogniser.
        params.set_single_segment(true);
        params.set_no_context(true);
        // No retries at higher temperature: latency over the last bit of accuracy.
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);

        tracing::info!(
            model = %path.display(),
            n_tensors = info.n_tensors,
            n_audio_layer = info.hparams.n_audio_layer,
            n_vocab = info.hparams.n_vocab,
            language,
            threads,
            max_tokens = settings.max_tokens,
            "whisper model loaded"
        );
        Ok(Self {
            state,
            model: context,
            params,
            path: path.to_path_buf(),
            settings,
            full_audio_ctx: usize::try_from(info.hparams.n_audio_ctx).unwrap_or(1500),
        })
    }

    /// The model file this transcriber was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn settings(&self) -> &WhisperSettings {
        &self.settings
    }

    /// The encoder positions of a full 30 s window for this model.
    fn state_audio_ctx(&self) -> usize {
        self.full_audio_ctx
    }

    /// Whether `other` decodes with the very same loaded weights.
    pub fn shares_model_with(&self, other: &WhisperTranscriber) -> bool {
        Arc::ptr_eq(&self.model, &other.model)
    }
}

/// Which file a loaded model came from: its path and, so a replaced file is not mistaken for
/// the old one, its size and modification time.
type ModelKey = (PathBuf, u64, Option<SystemTime>);

/// Models loaded in this process, held weakly: the transcribers own them.
fn loaded_models() -> &'static Mutex<HashMap<ModelKey, Weak<WhisperContext>>> {
    static MODELS: std::sync::OnceLock<Mutex<HashMap<ModelKey, Weak<WhisperContext>>>> =
        std::sync::OnceLock::new();
    MODELS.get_or_init(Default::default)
}

/// The model at `path`, loaded now or shared with transcribers that already hold it. The lock is
/// held while loading, so two sessions starting together load it once.
fn shared_model(
    path: &Path,
    model_load: &dyn Fn(String) -> SttError,
) -> Result<Arc<WhisperContext>, SttError> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let meta = std::fs::metadata(&canonical).map_err(|e| model_load(format!("cannot read it ({e})")))?;
    let key = (canonical, meta.len(), meta.modified().ok());
    let mut models = loaded_models()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    models.retain(|_, model| model.strong_count() > 0);
    if let Some(model) = models.get(&key).and_then(Weak::upgrade) {
        return Ok(model);
    }
    let model = WhisperContext::new_with_params(path, WhisperContextParameters::default()).map_err(|e| {
        model_load(format!(
            "whisper.cpp rejected it ({e}); the tracing target whisper_rs names the tensor \
             at fault. The file may be damaged or from an incompatible converter"
        ))
    })?;
    let model = Arc::new(model);
    models.insert(key, Arc::downgrade(&model));
    Ok(model)
}

impl Transcriber for WhisperTranscriber {
    /// Transcribes 16 kHz mono audio. Empty audio gives an empty string; non-finite samples are
    /// treated as silence.
    fn transcribe(&mut self, audio_16k: &[f32], abort: &AbortSignal) -> Result<String, SttError> {
        self.decode(audio_16k, abort, false)
    }

    /// Like `transcribe`, encoding only the part of the 30 s window the audio fills.
    fn transcribe_partial(&mut self, audio_16k: &[f32], abort: &AbortSignal) -> Result<String, SttError> {
        self.decode(audio_16k, abort, true)
    }
}

impl WhisperTranscriber {
    fn decode(
        &mut self,
        audio_16k: &[f32],
        abort: &AbortSignal,
        trim_window: bool,
    ) -> Result<String, SttError> {
        if audio_16k.is_empty() {
            return Ok(String::new());
        }
        let duration_ms = audio_16k.len() as u64 * 1000 / SAMPLE_RATE_HZ as u64;
        if i32::try_from(audio_16k.len()).is_err() {
            return Err(SttError::Decode(format!(
                "{duration_ms} ms of audio is more than whisper.cpp can take in one call; \
                 split the utterance"
            )));
        }
        let padded;
        let audio = if audio_16k.len() < MIN_AUDIO_SAMPLES || audio_16k.iter().any(|s| !s.is_finite()) {
            let mut copy: Vec<f32> = audio_16k
                .iter()
                .map(|&s| if s.is_finite() { s } else { 0.0 })
                .collect();
            copy.resize(copy.len().max(MIN_AUDIO_SAMPLES), 0.0);
            padded = copy;
            &padded[..]
        } else {
            audio_16k
        };

        let mut params = self.params.clone();
        if trim_window {
            let seconds = audio.len().div_ceil(SAMPLE_RATE_HZ);
            let full = self.state_audio_ctx();
            let ctx = (seconds * AUDIO_CTX_PER_SECOND + AUDIO_CTX_MARGIN).min(full);
            params.set_audio_ctx(i32::try_from(ctx).unwrap_or(0));
        }
        // SAFETY: the callback only reads the flag; `abort` (and so the flag) is borrowed for
        // this whole call, and whisper.cpp uses the pointer only during `full`.
        unsafe {
            params.set_abort_callback(Some(abort_requested));
            params.set_abort_callback_user_data(abort.flag() as *const AtomicBool as *mut c_void);
        }
        let outcome = self.state.full(params, audio);
        if abort.is_aborted() {
            return Err(SttError::Aborted);
        }
        outcome.map_err(|e| {
            SttError::Decode(format!(
                "whisper.cpp failed on {duration_ms} ms of audio with model {} ({e}); \
                 the tracing target whisper_rs has its own account",
                self.path.display()
            ))
        })?;

        let mut text = String::new();
        for segment in self.state.as_iter() {
            // Lossy: a multi-byte character can be split across tokens at a segment edge.
            let piece = segment
                .to_str_lossy()
                .map_err(|e| SttError::Decode(format!("whisper.cpp returned no text for a segment ({e})")))?;
            text.push_str(&piece);
        }
        let text = text.trim().to_string();
        tracing::debug!(duration_ms, chars = text.chars().count(), "transcribed");
        Ok(text)
    }
}

/// whisper.cpp's abort callback: `user_data` is the `AtomicBool` of the call's [`AbortSignal`].
unsafe extern "C" fn abort_requested(user_data: *mut c_void) -> bool {
    // SAFETY: set in `transcribe` to a flag that outlives the call that uses it.
    let flag = unsafe { &*(user_data as *const AtomicBool) };
    flag.load(Ordering::Acquire)
}

fn validate_threads(threads: usize) -> Result<i32, SttError> {
    match i32::try_from(threads) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(SttError::InvalidSetting {
            name: "threads",
            value: threads.to_string(),
            reason: "it must be a whole number of CPU threads, at least 1".to_string(),
        }),
    }
}

/// Returns whisper.cpp's own `'static` spelling of the language, which lets the decoding
/// parameters be built once and kept.
fn validate_language(language: &str) -> Result<&'static str, SttError> {
    if language == "auto" {
        return Ok("auto");
    }
    let invalid = |reason: &str| SttError::InvalidSetting {
        name: "language",
        value: format!("{language:?}"),
        reason: reason.to_string(),
    };
    // whisper-rs panics on an interior NUL; an empty name would mean "auto" to whisper.cpp.
    if language.is_empty() || language.contains('\0') {
        return Err(invalid("use a whisper language code such as \"en\", or \"auto\""));
    }
    whisper_rs::get_lang_id(language)
        .and_then(whisper_rs::get_lang_str)
        .ok_or_else(|| invalid("whisper does not know it; use a code such as \"en\" or \"de\", or \"auto\""))
}

fn with_synth_hint(path: &Path, reason: String) -> String {
    if path.file_name().is_some_and(|n| n == TINY_WHISPER_FILE) {
        format!("{reason}. Regenerate the synthetic model with `persona models synth`")
    } else {
        reason
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Once;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::stt::synthetic::write_tiny_whisper;

    /// ggml attaches gdb to the process on an internal abort unless told not to; the test
    /// binary must never hang on that.
    fn no_backtrace() {
        static ONCE: Once = Once::new();
        // SAFETY: runs once, before this module's tests call into whisper.cpp; no test in this
        // crate reads GGML_NO_BACKTRACE concurrently from Rust.
        ONCE.call_once(|| unsafe { std::env::set_var("GGML_NO_BACKTRACE", "1") });
    }

    fn synthetic_model(dir: &Path) -> PathBuf {
        let path = dir.join(TINY_WHISPER_FILE);
        write_tiny_whisper(&path, 2024).expect("write the synthetic model");
        path
    }

    /// A 440 Hz tone plus seeded noise, 16 kHz.
    fn tone_and_noise(duration_ms: usize) -> Vec<f32> {
        let mut noise_state = 0x1234_5678_u32;
        (0..duration_ms * SAMPLE_RATE_HZ / 1000)
            .map(|i| {
                noise_state ^= noise_state << 13;
                noise_state ^= noise_state >> 17;
                noise_state ^= noise_state << 5;
                let noise = (noise_state as f32 / u32::MAX as f32 - 0.5) * 0.1;
                let t_s = i as f32 / SAMPLE_RATE_HZ as f32;
                0.3 * (2.0 * std::f32::consts::PI * 440.0 * t_s).sin() + noise
            })
            .collect()
    }

    #[test]
    fn synthetic_model_transcribes_in_bounded_time() {
        no_backtrace();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = synthetic_model(dir.path());
        let settings = WhisperSettings {
            max_tokens: 16,
            ..WhisperSettings::default()
        };
        let mut stt = WhisperTranscriber::load(&path, settings).expect("the synthetic model loads");
        assert_eq!(stt.path(), path);

        let started = Instant::now();
        let never = AbortSignal::new();
        let text = stt
            .transcribe(&tone_and_noise(2000), &never)
            .expect("2 s of audio transcribes");
        let took = started.elapsed();
        // Garbage text, but decoding stopped at the cap: at most 16 (+1) tokens, the longest of
        // which whisper.cpp names "[_extra_token_NNNNN]".
        assert!(
            text.chars().count() <= 17 * 24,
            "{} chars: {text:?}",
            text.chars().count()
        );
        assert!(took < Duration::from_secs(120), "took {took:?}");

        assert_eq!(stt.transcribe(&[], &never).expect("empty audio"), "");
        // 300 ms is padded to 1 s; NaN is read as silence.
        let mut short = tone_and_noise(300);
        short[10] = f32::NAN;
        stt.transcribe(&short, &never)
            .expect("short audio with a NaN transcribes");

        // An aborted decode stops at whisper.cpp's first check and says so; the model is
        // still usable afterwards.
        let abort = AbortSignal::new();
        abort.abort();
        assert!(matches!(
            stt.transcribe(&tone_and_noise(2000), &abort),
            Err(SttError::Aborted)
        ));
        stt.transcribe(&short, &never)
            .expect("decodes again after an abort");
    }

    /// Sessions of one file share its weights, each with its own state; once every holder is
    /// gone the model is freed, and a file replaced on disk is loaded afresh.
    #[test]
    fn transcribers_of_one_file_share_the_model_until_the_file_changes() {
        no_backtrace();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = synthetic_model(dir.path());
        let mut first = WhisperTranscriber::load(&path, WhisperSettings::default()).expect("loads");
        let mut second = WhisperTranscriber::load(&path, WhisperSettings::default()).expect("loads");
        assert!(first.shares_model_with(&second));
        // Each decodes on its own state, one after the other and interleaved.
        let never = AbortSignal::new();
        let audio = tone_and_noise(1000);
        let a = first.transcribe(&audio, &never).expect("first decodes");
        let b = second.transcribe(&audio, &never).expect("second decodes");
        assert_eq!(a, b, "same weights, same audio, same greedy answer");

        // A replaced file (another seed: other weights, the same size) is not the loaded one.
        // Its modification time is set apart explicitly: a coarse file system could otherwise
        // give both writes the same stamp.
        let first_written = std::fs::metadata(&path).unwrap().modified().unwrap();
        write_tiny_whisper(&path, 7).expect("rewrite the model");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(first_written + Duration::from_secs(10))
            .unwrap();
        let replaced = WhisperTranscriber::load(&path, WhisperSettings::default()).expect("loads");
        assert!(!replaced.shares_model_with(&first));
        assert!(
            first.shares_model_with(&second),
            "holders of the old file keep theirs"
        );
        drop((first, second, replaced));
        let key_count = loaded_models()
            .lock()
            .unwrap()
            .iter()
            .filter(|(key, model)| {
                key.0.starts_with(dir.path().canonicalize().unwrap()) && model.strong_count() > 0
            })
            .count();
        assert_eq!(
            key_count, 0,
            "nothing of this file is held once its transcribers are gone"
        );
    }

    #[test]
    fn unloadable_files_name_the_path() {
        no_backtrace();
        let dir = tempfile::tempdir().expect("temp dir");
        let good = fs_read(&synthetic_model(dir.path()));
        // Sound framing, but a tensor name whisper.cpp does not know: its own checks must
        // report it as an error, not abort.
        let mut renamed = good.clone();
        let at = renamed
            .windows(b"encoder.conv1.weight".len())
            .position(|w| w == b"encoder.conv1.weight")
            .expect("tensor name in file");
        renamed[at + "encoder.conv".len()] = b'9';
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "junk.bin",
                b"this is not a whisper model, just some junk bytes".to_vec(),
                "magic",
            ),
            ("empty.bin", Vec::new(), "too short"),
            ("gguf.bin", b"GGUF\x03\0\0\0rest".to_vec(), "GGUF"),
            ("truncated.bin", good[..good.len() / 2].to_vec(), "truncated"),
            ("header-only.bin", good[..48].to_vec(), "truncated"),
            (TINY_WHISPER_FILE, good[..100].to_vec(), "persona models synth"),
            ("renamed-tensor.bin", renamed, "whisper.cpp rejected it"),
        ];
        for (name, bytes, expected) in cases {
            let path = dir.path().join("bad").join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write case");
            assert_model_load(&path, expected);
        }
        assert_model_load(&dir.path().join("no-such-model.bin"), "does not exist");
        assert_model_load(dir.path(), "not a regular file");
    }

    #[test]
    fn invalid_settings_are_rejected_before_loading() {
        no_backtrace();
        let missing = Path::new("/nonexistent/model.bin");
        for (settings, name) in [
            (
                WhisperSettings {
                    threads: 0,
                    ..Default::default()
                },
                "threads",
            ),
            (
                WhisperSettings {
                    language: "xx".into(),
                    ..Default::default()
                },
                "language",
            ),
            (
                WhisperSettings {
                    language: "e\0n".into(),
                    ..Default::default()
                },
                "language",
            ),
            (
                WhisperSettings {
                    language: String::new(),
                    ..Default::default()
                },
                "language",
            ),
        ] {
            match WhisperTranscriber::load(missing, settings) {
                Err(SttError::InvalidSetting { name: got, .. }) => assert_eq!(got, name),
                Err(other) => panic!("expected an invalid {name}, got {other}"),
                Ok(_) => panic!("expected an invalid {name}, got a model"),
            }
        }
        assert_eq!(validate_language("german").expect("full names work"), "de");
    }

    fn fs_read(path: &Path) -> Vec<u8> {
        std::fs::read(path).expect("read model")
    }

    fn assert_model_load(path: &Path, expected_reason: &str) {
        match WhisperTranscriber::load(path, WhisperSettings::default()) {
            Err(e @ SttError::ModelLoad { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
                assert!(message.contains(expected_reason), "{message}");
            }
            Err(other) => panic!("{}: expected ModelLoad, got {other}", path.display()),
            Ok(_) => panic!("{}: expected ModelLoad, got a model", path.display()),
        }
    }
}
