//! espeak-ng as a TTS backend: audio with exact phoneme and word timing.
//!
//! espeak-ng is a C library whose state is process-global (one voice, one set of parameters,
//! one synthesis callback). This module therefore exposes exactly one engine,
//! [`Espeak::global`], initialised once in synchronous mode with phoneme events, and serialises
//! every use of it behind a mutex. Audio and marks are handed to the caller chunk by chunk, as
//! espeak produces them (about 50 ms each), so playback can start before synthesis ends and a
//! [`Flow::Stop`] cancels promptly.
//!
//! Marks are positioned in samples at espeak's own rate ([`Espeak::sample_rate_hz`], 22 050 Hz),
//! counted from the start of the utterance. This module does not resample, does not run on a
//! thread of its own (callers put it on a blocking thread) and does not speak SSML.

use std::any::Any;
use std::cell::Cell;
use std::ffi::{CStr, CString, c_char, c_int, c_short, c_void};
use std::ops::RangeInclusive;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr;
use std::sync::OnceLock;

use espeakng_sys as sys;
use parking_lot::Mutex;

pub use super::{Flow, SynthChunk, SynthSummary};
use super::{PhonemeMark, PhonemeSymbol, TtsError, WordMark};

/// Speaking rates espeak-ng accepts, in words per minute.
pub const RATE_WPM_RANGE: RangeInclusive<u32> = 80..=450;
/// Pitches espeak-ng accepts; 50 is the voice's normal pitch.
pub const PITCH_RANGE: RangeInclusive<u8> = 0..=100;

/// Bounds the walk over one callback's event list should espeak ever omit its terminator;
/// espeak holds far fewer (about 200 per second of audio per buffer).
const MAX_EVENTS_PER_CALLBACK: usize = 4096;

/// How a voice should sound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceSettings {
    /// An espeak-ng voice or language name, e.g. `en-us` (see `espeak-ng --voices`).
    pub voice: String,
    /// Speaking rate in words per minute, within [`RATE_WPM_RANGE`].
    pub rate_wpm: u32,
    /// Base pitch within [`PITCH_RANGE`].
    pub pitch: u8,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self {
            voice: "en-us".to_string(),
            rate_wpm: 175,
            pitch: 50,
        }
    }
}

impl VoiceSettings {
    /// Checks the settings without touching the engine (voice names are checked by espeak).
    pub fn validate(&self) -> Result<(), TtsError> {
        if !RATE_WPM_RANGE.contains(&self.rate_wpm) {
            return Err(TtsError::RateOutOfRange {
                rate_wpm: self.rate_wpm,
                min: *RATE_WPM_RANGE.start(),
                max: *RATE_WPM_RANGE.end(),
            });
        }
        if !PITCH_RANGE.contains(&self.pitch) {
            return Err(TtsError::PitchOutOfRange {
                pitch: self.pitch,
                min: *PITCH_RANGE.start(),
                max: *PITCH_RANGE.end(),
            });
        }
        // espeak resolves names to files under its voices folder: refuse anything that could
        // climb out of it, or that no voice is called.
        let plausible_name = !self.voice.is_empty()
            && self.voice.len() <= 64
            && !self.voice.contains("..")
            && self.voice.chars().all(|c| c.is_ascii_graphic());
        if !plausible_name {
            return Err(TtsError::UnknownVoice {
                voice: self.voice.clone(),
            });
        }
        Ok(())
    }
}

/// The process-wide espeak-ng engine.
pub struct Espeak {
    sample_rate_hz: u32,
    /// Held for every call into espeak: its state is global to the process.
    state: Mutex<EngineState>,
}

struct EngineState {
    /// The voice espeak currently has loaded; loading one reads files, so it is skipped when
    /// the voice does not change. `None` after a failed change, when espeak's choice is unclear.
    current_voice: Option<String>,
}

static ENGINE: OnceLock<Result<Espeak, TtsError>> = OnceLock::new();

thread_local! {
    /// True while this thread is inside `espeak_Synth`: a nested call would deadlock on the
    /// engine mutex, so it is refused instead.
    static IN_SYNTHESIS: Cell<bool> = const { Cell::new(false) };
}

impl Espeak {
    /// The engine, initialised on first use. A failed initialisation is remembered: espeak-ng
    /// cannot be initialised twice safely, so fix the installation and restart.
    pub fn global() -> Result<&'static Espeak, TtsError> {
        ENGINE
            .get_or_init(|| initialise(None))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The rate of all audio and mark positions, as espeak reports it (22 050 Hz).
    pub fn sample_rate_hz(&self) -> u32 {
        self.sample_rate_hz
    }

    /// Speaks `text` (UTF-8, plain text) with `voice`, handing audio and marks to `on_chunk` as
    /// they are produced. Blocks until the utterance ends or `on_chunk` returns [`Flow::Stop`];
    /// other callers wait for the engine meanwhile.
    ///
    /// Empty or whitespace-only text produces no audio and no calls to `on_chunk`. A panic in
    /// `on_chunk` stops synthesis and is resumed here, after espeak has returned. `on_chunk`
    /// must not call back into the engine ([`TtsError::Reentrant`]).
    pub fn synthesize(
        &self,
        text: &str,
        voice: &VoiceSettings,
        on_chunk: &mut dyn FnMut(SynthChunk<'_>) -> Flow,
    ) -> Result<SynthSummary, TtsError> {
        voice.validate()?;
        let c_text = CString::new(text).map_err(|e| TtsError::InvalidText {
            byte_offset: e.nul_position(),
        })?;
        if text.trim().is_empty() {
            return Ok(SynthSummary {
                samples: 0,
                cancelled: false,
            });
        }
        refuse_reentry()?;

        let mut state = self.state.lock();
        state.select_voice(voice)?;
        // SAFETY: espeak is initialised (self exists) and the engine lock is held.
        unsafe {
            check(
                sys::espeak_SetParameter(sys::espeak_PARAMETER_espeakRATE, voice.rate_wpm as c_int, 0),
                "espeak_SetParameter(rate)",
            )?;
            check(
                sys::espeak_SetParameter(sys::espeak_PARAMETER_espeakPITCH, c_int::from(voice.pitch), 0),
                "espeak_SetParameter(pitch)",
            )?;
        }

        let mut call = CallState::new(text, self.sample_rate_hz, on_chunk);
        let status = {
            let _reentry = ReentryGuard::enter();
            // SAFETY: the text is NUL-terminated UTF-8 and its size includes the terminator.
            // `call` outlives espeak_Synth, which invokes the callback only before it returns
            // (synchronous mode), and the callback is the only user of the pointer.
            unsafe {
                sys::espeak_Synth(
                    c_text.as_ptr().cast::<c_void>(),
                    c_text.as_bytes_with_nul().len(),
                    0,
                    sys::espeak_POSITION_TYPE_POS_CHARACTER,
                    0,
                    sys::espeakCHARS_UTF8,
                    ptr::null_mut(),
                    ptr::from_mut(&mut call).cast::<c_void>(),
                )
            }
        };
        drop(state);

        if let Some(payload) = call.panic.take() {
            resume_unwind(payload);
        }
        if let Some(sample_rate_hz) = call.foreign_rate_hz {
            return Err(TtsError::VoiceRateMismatch {
                voice: voice.voice.clone(),
                sample_rate_hz,
                engine_rate_hz: self.sample_rate_hz,
            });
        }
        check(status, "espeak_Synth")?;
        tracing::debug!(
            samples = call.samples_total,
            cancelled = call.stopped,
            voice = %voice.voice,
            "espeak synthesis finished"
        );
        Ok(SynthSummary {
            samples: call.samples_total,
            cancelled: call.stopped,
        })
    }

    /// Language names of the installed voices (`en-us`, `fr-fr` …), sorted: each works as
    /// [`VoiceSettings::voice`].
    pub fn voices(&self) -> Result<Vec<String>, TtsError> {
        refuse_reentry()?;
        let _state = self.state.lock();
        let mut names = Vec::new();
        // SAFETY: the engine lock is held; espeak returns a NULL-terminated array of voices
        // that stays valid until the next espeak_ListVoices call, and we copy out of it before
        // releasing the lock. `languages` is a list of (priority byte, NUL-terminated name)
        // pairs ending with an empty name.
        unsafe {
            let list = sys::espeak_ListVoices(ptr::null_mut());
            if list.is_null() {
                return Err(TtsError::Engine {
                    operation: "espeak_ListVoices",
                    code: -1,
                });
            }
            let mut entry = list;
            while !(*entry).is_null() {
                let languages = (**entry).languages;
                if !languages.is_null() && *languages != 0 {
                    let first = CStr::from_ptr(languages.add(1));
                    if let Ok(name) = first.to_str()
                        && !name.is_empty()
                    {
                        names.push(name.to_string());
                    }
                }
                entry = entry.add(1);
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

impl EngineState {
    fn select_voice(&mut self, voice: &VoiceSettings) -> Result<(), TtsError> {
        if self.current_voice.as_deref() == Some(voice.voice.as_str()) {
            return Ok(());
        }
        self.current_voice = None;
        let unknown = || TtsError::UnknownVoice {
            voice: voice.voice.clone(),
        };
        // espeak looks a name up as a voice file first (`en-us` is one, `en-us+f3` adds a
        // variant). A language code such as `en-gb` names no file: then the best espeak voice
        // for that language is chosen from the voice list, never an MBROLA one (those need
        // separate data and speak at another rate), and the variant is applied to it.
        let mut status = set_voice_by_name(&voice.voice).ok_or_else(unknown)?;
        if status == sys::espeak_ERROR_EE_NOT_FOUND {
            let (language, variant) = match voice.voice.split_once('+') {
                Some((language, variant)) => (language, Some(variant)),
                None => (voice.voice.as_str(), None),
            };
            if let Some(identifier) = best_voice_for_language(language) {
                let name = match variant {
                    Some(variant) => format!("{identifier}+{variant}"),
                    None => identifier,
                };
                tracing::debug!(requested = %voice.voice, chosen = %name, "espeak voice chosen by language");
                status = set_voice_by_name(&name).ok_or_else(unknown)?;
            }
        }
        match status {
            sys::espeak_ERROR_EE_OK => {
                self.current_voice = Some(voice.voice.clone());
                Ok(())
            }
            sys::espeak_ERROR_EE_NOT_FOUND => Err(unknown()),
            code => Err(TtsError::Engine {
                operation: "espeak_SetVoiceByName",
                code,
            }),
        }
    }
}

/// `espeak_SetVoiceByName`; `None` for a name with a NUL in it. The caller holds the engine lock.
fn set_voice_by_name(name: &str) -> Option<sys::espeak_ERROR> {
    let name = CString::new(name).ok()?;
    // SAFETY: espeak is initialised and the caller holds the engine lock.
    Some(unsafe { sys::espeak_SetVoiceByName(name.as_ptr()) })
}

/// The identifier (`gmw/en`) of the best non-MBROLA voice for `language`, as espeak ranks
/// them. The caller holds the engine lock.
fn best_voice_for_language(language: &str) -> Option<String> {
    let language = CString::new(language).ok()?;
    // SAFETY: zeroed is a valid espeak_VOICE (all pointers NULL, all numbers 0).
    let mut spec: sys::espeak_VOICE = unsafe { std::mem::zeroed() };
    spec.languages = language.as_ptr();
    // SAFETY: the engine lock is held; `spec` and the string it points to outlive the call;
    // espeak returns a NULL-terminated array, valid until the next espeak_ListVoices call,
    // which cannot happen while we hold the lock and copy out of it.
    unsafe {
        let list = sys::espeak_ListVoices(&mut spec);
        if list.is_null() {
            return None;
        }
        let mut entry = list;
        while !(*entry).is_null() {
            let identifier = (**entry).identifier;
            if !identifier.is_null()
                && let Ok(identifier) = CStr::from_ptr(identifier).to_str()
                && !identifier.starts_with("mb/")
            {
                return Some(identifier.to_string());
            }
            entry = entry.add(1);
        }
    }
    None
}

/// How phonemes are written by [`Espeak::phonemize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhonemeNotation {
    /// The International Phonetic Alphabet, as UTF-8 (what Piper voices are trained on); words
    /// are separated by spaces.
    Ipa,
    /// espeak's ASCII mnemonics (the motion vocabulary), each phoneme followed by `separator`,
    /// words separated by spaces.
    Mnemonic { separator: char },
}

/// One clause of text as phonemes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhonemeClause {
    pub phonemes: String,
    /// The bytes of the input this clause covers.
    pub text: std::ops::Range<usize>,
    /// The punctuation that ended the clause (`.`, `,`, `?` …), if any.
    pub terminator: Option<char>,
}

impl Espeak {
    /// Translates `text` into phonemes, clause by clause, in `voice`'s language (espeak's own
    /// letter-to-sound rules and dictionary: numbers and abbreviations are expanded as it
    /// speaks them).
    pub fn phonemize(
        &self,
        text: &str,
        voice: &VoiceSettings,
        notation: PhonemeNotation,
    ) -> Result<Vec<PhonemeClause>, TtsError> {
        voice.validate()?;
        let c_text = CString::new(text).map_err(|e| TtsError::InvalidText {
            byte_offset: e.nul_position(),
        })?;
        refuse_reentry()?;
        let mode: c_int = match notation {
            PhonemeNotation::Ipa => 0x02,
            PhonemeNotation::Mnemonic { separator } => (separator as c_int) << 8,
        };
        let mut state = self.state.lock();
        state.select_voice(voice)?;
        let base = c_text.as_ptr() as usize;
        let mut cursor: *const c_void = c_text.as_ptr().cast();
        let mut clauses = Vec::new();
        // Where the next clause starts in `text` (espeak's cursor runs one character ahead).
        let mut clause_start = 0;
        // Each call consumes at least one character; the bound guards against a stuck cursor.
        for _ in 0..=text.len() {
            if cursor.is_null() {
                break;
            }
            let before = (cursor as usize - base).min(text.len());
            // SAFETY: the engine lock is held; `cursor` points into `c_text`, NUL-terminated
            // UTF-8 that outlives the call. espeak advances it, or sets it to NULL at the end,
            // and returns a pointer to its own static buffer, copied before the next call.
            let phonemes = unsafe {
                let out = sys::espeak_TextToPhonemes(&mut cursor, sys::espeakCHARS_UTF8 as c_int, mode);
                if out.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(out).to_string_lossy().into_owned()
                }
            };
            let clause_end = if cursor.is_null() {
                text.len()
            } else {
                // espeak has read the first character of the next clause already: the clause
                // ends before it.
                let mut at = (cursor as usize - base).min(text.len());
                while !text.is_char_boundary(at) {
                    at += 1;
                }
                text[..at]
                    .char_indices()
                    .next_back()
                    .map_or(at, |(last, _)| last)
                    .max(clause_start)
            };
            let consumed = &text[clause_start..clause_end];
            let terminator = consumed
                .trim_end()
                .chars()
                .last()
                .filter(|c| matches!(c, '.' | ',' | '?' | '!' | ';' | ':'));
            if !phonemes.trim().is_empty() || terminator.is_some() {
                clauses.push(PhonemeClause {
                    phonemes: phonemes.trim().to_string(),
                    text: clause_start..clause_end,
                    terminator,
                });
            }
            clause_start = clause_end;
            let after = if cursor.is_null() {
                text.len()
            } else {
                cursor as usize - base
            };
            if after <= before && !cursor.is_null() {
                break;
            }
        }
        Ok(clauses)
    }
}

/// Initialises espeak in synchronous mode with phoneme events; `data_dir` overrides where it
/// looks for `espeak-ng-data` (tests only: the default search honours ESPEAK_DATA_PATH).
fn initialise(data_dir: Option<&CStr>) -> Result<Espeak, TtsError> {
    let options = sys::espeakINITIALIZE_PHONEME_EVENTS | sys::espeakINITIALIZE_DONT_EXIT;
    // SAFETY: called once per process (under ENGINE's OnceLock, or in a dedicated test
    // process) before any other espeak call. DONT_EXIT stops espeak from calling exit() when
    // its data is missing.
    let sample_rate = unsafe {
        sys::espeak_Initialize(
            sys::espeak_AUDIO_OUTPUT_AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            data_dir.map_or(ptr::null(), CStr::as_ptr),
            options as c_int,
        )
    };
    // espeak reports a failed load only by returning a sample rate of 0 or -1, after printing
    // the file it could not read to stderr.
    if sample_rate <= 0 {
        let detail = format!(
            "espeak_Initialize returned {sample_rate}; espeak-ng printed the file it could not read on stderr"
        );
        tracing::error!(%detail, "espeak-ng initialisation failed");
        return Err(TtsError::DataMissing { detail });
    }
    // SAFETY: the callback never unwinds (it catches panics) and only dereferences the
    // user_data pointer that `synthesize` passes.
    unsafe { sys::espeak_SetSynthCallback(Some(synth_callback)) };
    tracing::info!(sample_rate_hz = sample_rate, "espeak-ng initialised");
    Ok(Espeak {
        sample_rate_hz: sample_rate as u32,
        state: Mutex::new(EngineState { current_voice: None }),
    })
}

fn check(code: sys::espeak_ERROR, operation: &'static str) -> Result<(), TtsError> {
    if code == sys::espeak_ERROR_EE_OK {
        Ok(())
    } else {
        Err(TtsError::Engine { operation, code })
    }
}

fn refuse_reentry() -> Result<(), TtsError> {
    if IN_SYNTHESIS.with(Cell::get) {
        Err(TtsError::Reentrant)
    } else {
        Ok(())
    }
}

/// Marks this thread as inside espeak for as long as it lives.
struct ReentryGuard;

impl ReentryGuard {
    fn enter() -> Self {
        IN_SYNTHESIS.with(|flag| flag.set(true));
        ReentryGuard
    }
}

impl Drop for ReentryGuard {
    fn drop(&mut self) {
        IN_SYNTHESIS.with(|flag| flag.set(false));
    }
}

/// Everything one `synthesize` call shares with the C callback, reached through `user_data`.
struct CallState<'a> {
    on_chunk: &'a mut dyn FnMut(SynthChunk<'_>) -> Flow,
    sample_rate_hz: u64,
    /// Byte offset of each character of the text, plus the text's length: espeak reports word
    /// positions in characters.
    char_starts: Vec<usize>,
    samples_total: u64,
    last_phoneme_sample: u64,
    last_word_sample: u64,
    /// Marks of the current callback, reused across callbacks.
    phonemes: Vec<PhonemeMark>,
    words: Vec<WordMark>,
    stopped: bool,
    panic: Option<Box<dyn Any + Send>>,
    /// Set when espeak switched to another sample rate (an MBROLA voice): marks and audio
    /// would be mislabelled, so synthesis is abandoned.
    foreign_rate_hz: Option<u32>,
}

impl<'a> CallState<'a> {
    fn new(text: &str, sample_rate_hz: u32, on_chunk: &'a mut dyn FnMut(SynthChunk<'_>) -> Flow) -> Self {
        let mut char_starts: Vec<usize> = text.char_indices().map(|(at, _)| at).collect();
        char_starts.push(text.len());
        Self {
            on_chunk,
            sample_rate_hz: u64::from(sample_rate_hz),
            char_starts,
            samples_total: 0,
            last_phoneme_sample: 0,
            last_word_sample: 0,
            phonemes: Vec::with_capacity(32),
            words: Vec::with_capacity(8),
            stopped: false,
            panic: None,
            foreign_rate_hz: None,
        }
    }

    /// Handles one callback: collects its marks, then hands audio and marks to the consumer.
    fn on_callback(&mut self, samples: &[i16], events: &[sys::espeak_EVENT]) -> Flow {
        self.phonemes.clear();
        self.words.clear();
        let chunk_end = self.samples_total + samples.len() as u64;
        for event in events {
            match event.type_ {
                sys::espeak_EVENT_TYPE_espeakEVENT_PHONEME => {
                    // SAFETY: PHONEME events carry the phoneme name in `string`.
                    let raw = unsafe { event.id.string };
                    let Some(name) = phoneme_name(&raw) else {
                        tracing::debug!(?raw, "skipping a phoneme event whose name is not UTF-8");
                        continue;
                    };
                    let start_sample = self.event_sample(event, chunk_end).max(self.last_phoneme_sample);
                    self.last_phoneme_sample = start_sample;
                    self.phonemes.push(PhonemeMark {
                        symbol: PhonemeSymbol::new(name),
                        start_sample,
                    });
                }
                sys::espeak_EVENT_TYPE_espeakEVENT_WORD => {
                    let Some((text_start, text_len)) = self.word_bytes(event) else {
                        continue;
                    };
                    let start_sample = self.event_sample(event, chunk_end).max(self.last_word_sample);
                    self.last_word_sample = start_sample;
                    self.words.push(WordMark {
                        start_sample,
                        text_start,
                        text_len,
                    });
                }
                sys::espeak_EVENT_TYPE_espeakEVENT_SAMPLERATE => {
                    // SAFETY: SAMPLERATE events carry the rate in `number`.
                    let rate = unsafe { event.id.number };
                    if u64::try_from(rate).ok() != Some(self.sample_rate_hz) {
                        self.foreign_rate_hz = Some(rate.max(0) as u32);
                        return Flow::Stop;
                    }
                }
                _ => {}
            }
        }
        self.samples_total = chunk_end;
        if samples.is_empty() && self.phonemes.is_empty() && self.words.is_empty() {
            return Flow::Continue;
        }
        (self.on_chunk)(SynthChunk {
            samples,
            phonemes: &self.phonemes,
            words: &self.words,
        })
    }

    /// The event's position in samples, no later than the end of the audio delivered with it.
    ///
    /// espeak fills `sample` with the exact sample index and `audio_position` with the same
    /// instant truncated to milliseconds. `sample` is documented as internal, so it is used only
    /// while it agrees with `audio_position`.
    fn event_sample(&self, event: &sys::espeak_EVENT, chunk_end: u64) -> u64 {
        let from_ms = u64::try_from(event.audio_position).unwrap_or(0) * self.sample_rate_hz / 1000;
        let exact = u64::try_from(event.sample).unwrap_or(0);
        let exact_ms = exact * 1000 / self.sample_rate_hz;
        let agrees = exact_ms.abs_diff(u64::try_from(event.audio_position).unwrap_or(0)) <= 1;
        let position = if agrees { exact } else { from_ms };
        position.min(chunk_end)
    }

    /// Byte range of a word event in the text. espeak counts 1-based characters; events without
    /// a position or length (it emits some between clauses) yield `None`.
    fn word_bytes(&self, event: &sys::espeak_EVENT) -> Option<(u32, u32)> {
        let chars = self.char_starts.len() - 1;
        let first = usize::try_from(event.text_position).ok()?.checked_sub(1)?;
        let len = usize::try_from(event.length).ok().filter(|&len| len > 0)?;
        if first >= chars {
            return None;
        }
        let end = (first + len).min(chars);
        let start_byte = self.char_starts[first];
        let end_byte = self.char_starts[end];
        Some((
            u32::try_from(start_byte).ok()?,
            u32::try_from(end_byte - start_byte).ok()?,
        ))
    }
}

/// The phoneme name in an event: NUL-terminated unless it fills all 8 bytes.
fn phoneme_name(raw: &[c_char; 8]) -> Option<&str> {
    // SAFETY: c_char and u8 have the same size and alignment.
    let bytes: &[u8; 8] = unsafe { &*ptr::from_ref(raw).cast::<[u8; 8]>() };
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..len])
        .ok()
        .filter(|name| !name.is_empty())
}

/// espeak's synthesis callback: audio plus a LIST_TERMINATED-ended event list. Returns 1 to stop.
///
/// Never unwinds: a panic in the consumer is caught, stored in the call state and resumed by
/// `synthesize` once espeak has returned.
unsafe extern "C" fn synth_callback(
    wav: *mut c_short,
    num_samples: c_int,
    events: *mut sys::espeak_EVENT,
) -> c_int {
    if events.is_null() {
        return 0;
    }
    // SAFETY: espeak passes a non-null event list in which every entry, including the
    // terminator, carries the user_data given to espeak_Synth.
    let user_data = unsafe { (*events).user_data };
    if user_data.is_null() {
        // Not a synthesis of ours; cannot happen while the engine lock serialises all use.
        return 0;
    }
    // SAFETY: user_data is the `CallState` that `synthesize` keeps alive and does not touch
    // while espeak_Synth (and so this callback) runs.
    let call = unsafe { &mut *user_data.cast::<CallState<'_>>() };
    if call.stopped {
        return 1;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        let samples: &[i16] = match usize::try_from(num_samples) {
            // SAFETY: espeak passes `num_samples` valid samples at `wav` for this call.
            Ok(len) if len > 0 && !wav.is_null() => unsafe { std::slice::from_raw_parts(wav, len) },
            _ => &[],
        };
        let mut count = 0;
        // SAFETY: the list ends with a LIST_TERMINATED entry; the bound guards against a
        // missing terminator.
        while count < MAX_EVENTS_PER_CALLBACK
            && unsafe { (*events.add(count)).type_ } != sys::espeak_EVENT_TYPE_espeakEVENT_LIST_TERMINATED
        {
            count += 1;
        }
        // SAFETY: the first `count` entries were just read as valid events.
        let events = unsafe { std::slice::from_raw_parts(events, count) };
        call.on_callback(samples, events)
    }));
    match result {
        Ok(Flow::Continue) => 0,
        Ok(Flow::Stop) => {
            call.stopped = true;
            1
        }
        Err(payload) => {
            call.panic = Some(payload);
            call.stopped = true;
            1
        }
    }
}

/// An espeak-ng voice as a [`super::SpeechSynth`].
pub struct EspeakSynth {
    engine: &'static Espeak,
    voice: VoiceSettings,
}

impl EspeakSynth {
    /// Checks the engine and the voice now, so a bad voice fails before the pipeline starts.
    /// Variants (`en-us+f3`) and language codes (`en-gb`) are accepted: the check selects the
    /// voice for real by starting a one-word synthesis and stopping it at the first chunk.
    pub fn new(voice: VoiceSettings) -> Result<Self, TtsError> {
        voice.validate()?;
        let engine = Espeak::global()?;
        engine.synthesize("a", &voice, &mut |_| Flow::Stop)?;
        Ok(EspeakSynth { engine, voice })
    }
}

impl super::SpeechSynth for EspeakSynth {
    fn sample_rate_hz(&self) -> u32 {
        self.engine.sample_rate_hz()
    }

    fn synthesize(
        &mut self,
        text: &str,
        on_chunk: &mut dyn FnMut(SynthChunk<'_>) -> Flow,
    ) -> Result<SynthSummary, TtsError> {
        self.engine.synthesize(text, &self.voice, on_chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Everything an utterance produced, gathered from its chunks.
    #[derive(Default)]
    struct Collected {
        samples: Vec<i16>,
        phonemes: Vec<PhonemeMark>,
        words: Vec<WordMark>,
        chunks: usize,
    }

    fn speak(text: &str, voice: &VoiceSettings) -> Result<(Collected, SynthSummary), TtsError> {
        let engine = Espeak::global()?;
        let mut collected = Collected::default();
        let summary = engine.synthesize(text, voice, &mut |chunk| {
            collected.samples.extend_from_slice(chunk.samples);
            collected.phonemes.extend_from_slice(chunk.phonemes);
            collected.words.extend_from_slice(chunk.words);
            collected.chunks += 1;
            Flow::Continue
        })?;
        Ok((collected, summary))
    }

    fn words_of<'t>(text: &'t str, marks: &[WordMark]) -> Vec<&'t str> {
        marks
            .iter()
            .map(|mark| &text[mark.text_start as usize..(mark.text_start + mark.text_len) as usize])
            .collect()
    }

    #[test]
    fn bob_made_a_map_with_phonemes_and_words() {
        let text = "Bob made a map.";
        let (got, summary) = speak(text, &VoiceSettings::default()).unwrap();
        let engine = Espeak::global().unwrap();
        assert_eq!(engine.sample_rate_hz(), 22_050);
        assert!(!summary.cancelled);
        assert_eq!(summary.samples, got.samples.len() as u64);
        assert!(
            got.samples.len() > 22_050 / 2,
            "only {} samples",
            got.samples.len()
        );
        assert!(
            got.samples.iter().any(|&s| s.unsigned_abs() > 1000),
            "audio is silent"
        );

        let total = got.samples.len() as u64;
        assert!(!got.phonemes.is_empty());
        assert!(
            got.phonemes
                .windows(2)
                .all(|w| w[0].start_sample <= w[1].start_sample)
        );
        assert!(got.phonemes.iter().all(|mark| mark.start_sample <= total));
        assert!(
            got.phonemes
                .iter()
                .any(|mark| matches!(mark.symbol.as_str(), "p" | "b" | "m")),
            "no bilabial in {:?}",
            got.phonemes
        );

        assert_eq!(words_of(text, &got.words), ["Bob", "made", "a", "map"]);
        assert!(
            got.words
                .windows(2)
                .all(|w| w[0].start_sample <= w[1].start_sample)
        );
        assert!(got.words.iter().all(|mark| mark.start_sample <= total));
    }

    #[test]
    fn word_marks_are_byte_ranges_in_utf8_text() {
        let text = "  Café où, naïve über";
        let (got, _) = speak(text, &VoiceSettings::default()).unwrap();
        assert_eq!(words_of(text, &got.words), ["Café", "où", "naïve", "über"]);
    }

    #[test]
    fn stop_after_the_first_chunk_cancels() {
        let text = "This sentence is long enough to need many chunks of audio before it ends.";
        let (full, _) = speak(text, &VoiceSettings::default()).unwrap();

        let engine = Espeak::global().unwrap();
        let mut chunks = 0;
        let mut samples = 0;
        let summary = engine
            .synthesize(text, &VoiceSettings::default(), &mut |chunk| {
                chunks += 1;
                samples += chunk.samples.len() as u64;
                Flow::Stop
            })
            .unwrap();
        assert!(summary.cancelled);
        assert_eq!(chunks, 1);
        assert_eq!(summary.samples, samples);
        assert!(
            summary.samples * 10 < full.samples.len() as u64,
            "{} of {} samples",
            summary.samples,
            full.samples.len()
        );
    }

    #[test]
    fn two_threads_are_served_one_at_a_time() {
        let active = Arc::new(AtomicUsize::new(0));
        let most_active = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = ["The first thread speaks.", "A second thread talks too."]
            .into_iter()
            .map(|text| {
                let (active, most_active) = (active.clone(), most_active.clone());
                std::thread::spawn(move || {
                    let engine = Espeak::global().unwrap();
                    let mut samples = 0;
                    engine
                        .synthesize(text, &VoiceSettings::default(), &mut |chunk| {
                            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                            most_active.fetch_max(now, Ordering::SeqCst);
                            samples += chunk.samples.len();
                            std::thread::yield_now();
                            active.fetch_sub(1, Ordering::SeqCst);
                            Flow::Continue
                        })
                        .unwrap();
                    samples
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().unwrap() > 11_025);
        }
        assert_eq!(most_active.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_unknown_voice_is_named() {
        let voice = VoiceSettings {
            voice: "xx-klingon".to_string(),
            ..VoiceSettings::default()
        };
        let error = speak("Hello.", &voice).err().unwrap();
        assert_eq!(
            error,
            TtsError::UnknownVoice {
                voice: "xx-klingon".to_string()
            }
        );
        let message = error.to_string();
        assert!(
            message.contains("xx-klingon") && message.contains("espeak-ng --voices"),
            "{message}"
        );
        // The engine still works with a good voice afterwards.
        assert!(speak("Hello.", &VoiceSettings::default()).unwrap().1.samples > 0);

        for voice in ["", "../../etc/passwd", "en us"] {
            let settings = VoiceSettings {
                voice: voice.to_string(),
                ..VoiceSettings::default()
            };
            assert!(
                matches!(settings.validate(), Err(TtsError::UnknownVoice { .. })),
                "{voice:?}"
            );
        }
    }

    #[test]
    fn rate_and_pitch_are_checked_before_synthesis() {
        let slow = VoiceSettings {
            rate_wpm: 20,
            ..VoiceSettings::default()
        };
        let message = speak("Hello.", &slow).err().unwrap().to_string();
        assert!(
            message.contains("20") && message.contains("80..=450"),
            "{message}"
        );

        let high = VoiceSettings {
            pitch: 101,
            ..VoiceSettings::default()
        };
        let message = speak("Hello.", &high).err().unwrap().to_string();
        assert!(
            message.contains("101") && message.contains("0..=100"),
            "{message}"
        );

        let fast_and_low = VoiceSettings {
            rate_wpm: 450,
            pitch: 0,
            ..VoiceSettings::default()
        };
        assert!(speak("Hello.", &fast_and_low).unwrap().1.samples > 0);
    }

    #[test]
    fn empty_text_is_silence_without_calls() {
        for text in ["", "   \n\t "] {
            let (got, summary) = speak(text, &VoiceSettings::default()).unwrap();
            assert_eq!(summary.samples, 0);
            assert!(!summary.cancelled);
            assert_eq!(got.chunks, 0);
        }
        let error = speak("one\0two", &VoiceSettings::default()).err().unwrap();
        assert_eq!(error, TtsError::InvalidText { byte_offset: 3 });
    }

    #[test]
    fn a_panicking_consumer_does_not_unwind_through_c() {
        let engine = Espeak::global().unwrap();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            engine.synthesize("Panic in the callback.", &VoiceSettings::default(), &mut |_| {
                panic!("consumer failed")
            })
        }));
        let payload = outcome.expect_err("the panic reaches the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"consumer failed"));
        // Neither the lock nor espeak was left broken.
        assert!(
            speak("Still alive.", &VoiceSettings::default())
                .unwrap()
                .1
                .samples
                > 0
        );
    }

    #[test]
    fn calling_the_engine_from_its_callback_is_refused() {
        let engine = Espeak::global().unwrap();
        let mut nested = None;
        engine
            .synthesize("Outer.", &VoiceSettings::default(), &mut |_| {
                nested =
                    Some(engine.synthesize("Inner.", &VoiceSettings::default(), &mut |_| Flow::Continue));
                Flow::Stop
            })
            .unwrap();
        assert_eq!(nested, Some(Err(TtsError::Reentrant)));
    }

    #[test]
    fn language_codes_and_variants_select_espeak_voices() {
        // `en-gb` is a language, not a voice file; `+f3` is a variant on top of either.
        for voice in ["en-gb", "en-gb+f3", "en-us+f3", "en-gb-x-rp", "en"] {
            let settings = VoiceSettings {
                voice: voice.to_string(),
                ..VoiceSettings::default()
            };
            let (got, _) = speak("Hello there.", &settings).unwrap_or_else(|e| panic!("{voice}: {e}"));
            assert!(got.samples.len() > 5_000, "{voice}");
        }
        // A variant changes the voice: the female variant sounds different from the default.
        let plain = speak("Hello there.", &VoiceSettings::default())
            .unwrap()
            .0
            .samples;
        let female = speak(
            "Hello there.",
            &VoiceSettings {
                voice: "en-us+f3".into(),
                ..VoiceSettings::default()
            },
        )
        .unwrap()
        .0
        .samples;
        assert_ne!(plain, female);
    }

    #[test]
    fn text_becomes_phonemes_clause_by_clause() {
        let engine = Espeak::global().unwrap();
        let text = "Hello there, doctor. How are you?";
        let ipa = engine
            .phonemize(text, &VoiceSettings::default(), PhonemeNotation::Ipa)
            .unwrap();
        assert_eq!(ipa.len(), 3, "{ipa:?}");
        assert_eq!(
            ipa.iter().map(|c| c.terminator).collect::<Vec<_>>(),
            [Some(','), Some('.'), Some('?')]
        );
        assert!(
            ipa[0].phonemes.contains('ð') && ipa[0].phonemes.contains(' '),
            "{ipa:?}"
        );
        assert_eq!(&text[ipa[0].text.clone()].trim(), &"Hello there,");
        assert_eq!(ipa.last().unwrap().text.end, text.len());

        let ascii = engine
            .phonemize(
                "Bob made a map",
                &VoiceSettings::default(),
                PhonemeNotation::Mnemonic { separator: '|' },
            )
            .unwrap();
        assert_eq!(ascii.len(), 1);
        let words: Vec<&str> = ascii[0].phonemes.split(' ').collect();
        assert_eq!(words.len(), 4, "{ascii:?}");
        assert!(words[0].split('|').any(|p| p == "b"), "{ascii:?}");
    }

    #[test]
    fn installed_voices_include_american_english() {
        let voices = Espeak::global().unwrap().voices().unwrap();
        assert!(voices.iter().any(|v| v == "en-us"), "{voices:?}");
        assert!(voices.windows(2).all(|w| w[0] < w[1]));
    }

    /// Set in the child process of `missing_data_says_how_to_install_it`.
    const CHILD_ENV: &str = "PERSONA_ESPEAK_MISSING_DATA_CHILD";

    #[test]
    fn missing_data_says_how_to_install_it() {
        // espeak's state is global to the process, so a failing initialisation runs in a
        // fresh copy of this test binary.
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "tts::espeak::tests::missing_data_child",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("1 passed"), "{stdout}");
    }

    #[test]
    #[ignore = "run in its own process by missing_data_says_how_to_install_it"]
    fn missing_data_child() {
        if std::env::var_os(CHILD_ENV).is_none() {
            return;
        }
        let empty = tempfile::tempdir().unwrap();
        let path = CString::new(empty.path().to_str().unwrap()).unwrap();
        let Err(error) = initialise(Some(&path)) else {
            panic!("initialisation succeeded without data");
        };
        assert!(matches!(error, TtsError::DataMissing { .. }));
        let message = error.to_string();
        assert!(
            message.contains("espeak-ng-data") && message.contains("./setup.sh"),
            "{message}"
        );
    }
}
