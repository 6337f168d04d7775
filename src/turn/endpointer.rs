//! The sans-IO turn-taking core: when did the user start, is it an interruption, and when are
//! they done?
//!
//! Fed VAD-labelled 20 ms frames on the input's own sample clock (each frame's end sample is
//! "now"), plus what the rest of the pipeline knows — whether the avatar is busy, partial
//! transcripts from the streaming STT, and the turn model's verdicts — it emits
//! [`EndpointEvent`]s. It never reads a clock, so tests and the profiler replay a conversation
//! exactly and faster than real time.
//!
//! States: *listening*; *onset* (speech heard, not yet long enough to count); a *turn*, which
//! is first a barge-in *candidate* when the avatar is busy; then *speaking* / *maybe done*
//! (silence is being timed) until the end.
//!
//! - **Start.** Voiced audio of at least `min_speech` opens a turn. When the avatar is idle the
//!   turn starts at once. When it is busy the turn is only a candidate: its audio flows to STT,
//!   but nothing is interrupted until it is confirmed. While the avatar *speaks*, that takes the
//!   user speaking for `barge_in.min_speech` (from the first voiced sound to the latest speech,
//!   with some of it voiced: noise, or a cough before a word, does not count), or `barge_in.min_words` words that are not backchannels.
//!   While it is only *about to answer* (the previous turn ended, the reply has not started),
//!   voiced speech that is not a backchannel confirms at once — the user is going on with what
//!   they said — but a cough still does not cancel the coming reply. A candidate that stops
//!   first — a click, a cough, "mhm" — is rejected and the avatar never notices.
//! - **End.** Silence after speech ends the turn after a wait that depends on the words so far
//!   ([`super::words::completeness`]) and, when configured, the turn model's verdict — never
//!   longer than `max_wait`. A turn reaching `max_turn` while the user still talks is cut; the
//!   speech that follows starts the next turn.
//!
//! What it deliberately does not do: bump epochs, run models or talk to STT (the stage shell
//! does, from these events).

use std::collections::VecDeque;
use std::time::Duration;

use crate::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ};
use crate::config::{TurnBackend, TurnConfig};
use crate::runtime::EndpointReason;

use super::voicing::{VOICED_PERIODICITY, Voicing};
use super::words::{Completeness, Words, completeness};

/// Unvoiced frames tolerated inside an onset before it is abandoned (60 ms at 20 ms frames):
/// plosives and short gaps inside a first syllable must not reset the count.
const ONSET_GAP_FRAMES: u32 = 3;
/// Silence after which the turn model is asked whether the user is done.
pub const MODEL_AFTER: Duration = Duration::from_millis(200);
/// Voiced (periodic) sound a candidate needs before anything confirms it: whisper turns noise
/// into plausible words ("Thank you."), and a long cough spans as long as speech does.
const MIN_VOICED: Duration = Duration::from_millis(200);
/// A candidate with less voiced sound than this was not speech at all (a click, a cough).
const NOISE_MAX_VOICED: Duration = Duration::from_millis(100);
/// A candidate that has not been confirmed after this much audio is rejected (steady noise
/// the VAD mistakes for speech).
const CANDIDATE_MAX: Duration = Duration::from_millis(4_000);
/// How long after a turn ends the avatar counts as busy if its reply never starts playing.
const REPLY_WAIT: Duration = Duration::from_millis(5_000);
/// A candidate speaking this many times `barge_in.min_speech` interrupts even if all words heard
/// so far are backchannels (the transcript lags the audio).
const LONG_SPEECH_FACTOR: u64 = 2;

/// What the avatar is doing, as far as barge-in is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Avatar {
    Idle,
    /// A turn ended and its reply has not started playing yet.
    AboutToAnswer,
    Speaking,
}

/// Why a candidate was confirmed or rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BargeInReason {
    /// Enough voiced speech.
    Speech,
    /// Enough words that are not backchannels.
    Words,
    /// The avatar went idle before a decision: a plain turn start.
    AvatarIdle,
    /// All words heard were backchannels.
    Backchannel,
    /// Too little voiced (periodic) sound: a click, a cough, a knock, noise.
    NotSpeech,
    /// Voiced, but shorter than the minimum.
    TooShort,
    /// The input ended first.
    EndOfInput,
}

impl BargeInReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BargeInReason::Speech => "speech",
            BargeInReason::Words => "words",
            BargeInReason::AvatarIdle => "avatar_idle",
            BargeInReason::Backchannel => "backchannel",
            BargeInReason::NotSpeech => "not_speech",
            BargeInReason::TooShort => "too_short",
            BargeInReason::EndOfInput => "end_of_input",
        }
    }
}

/// What the endpointer concluded.
#[derive(Debug)]
pub enum EndpointEvent {
    /// A turn started (the avatar was idle); `speech_start_sample` is where the voiced onset began.
    Started {
        utterance: u64,
        speech_start_sample: u64,
    },
    /// Speech began while the avatar is busy: a barge-in candidate. Its audio follows like a
    /// turn's; nothing may be interrupted yet.
    Candidate {
        utterance: u64,
        speech_start_sample: u64,
    },
    /// The candidate takes the floor: it is a turn from now on.
    Confirmed {
        utterance: u64,
        speech_start_sample: u64,
        decided_at_sample: u64,
        reason: BargeInReason,
        heard: Option<String>,
    },
    /// The candidate was not an interruption: drop its audio, leave the avatar alone.
    Rejected {
        utterance: u64,
        speech_start_sample: u64,
        decided_at_sample: u64,
        reason: BargeInReason,
        heard: Option<String>,
    },
    /// Audio of the current turn or candidate (pre-roll first), with its VAD decision.
    Audio { frame: AudioFrame, speech: bool },
    /// The user paused: ask the turn model about the turn so far.
    ModelRequest { utterance: u64, speech_end_sample: u64 },
    /// The turn ended. `speech_end_sample` is the end of the last voiced frame;
    /// `decided_at_sample` is the input position at which the decision was taken; `wait_samples`
    /// is the silence the rules were waiting for.
    Ended {
        utterance: u64,
        speech_end_sample: u64,
        decided_at_sample: u64,
        reason: EndpointReason,
        wait_samples: u64,
    },
}

impl EndpointEvent {
    /// The endpoint delay of an `Ended` event, in milliseconds.
    pub fn endpoint_delay_ms(&self) -> Option<f64> {
        match self {
            EndpointEvent::Ended {
                speech_end_sample,
                decided_at_sample,
                ..
            } => Some(samples_to_ms(decided_at_sample - speech_end_sample)),
            _ => None,
        }
    }
}

/// Milliseconds of `samples` at the listening rate.
pub fn samples_to_ms(samples: u64) -> f64 {
    samples as f64 * 1000.0 / LISTEN_RATE_HZ as f64
}

fn to_samples(duration: Duration) -> u64 {
    (duration.as_micros() as u64 * LISTEN_RATE_HZ as u64) / 1_000_000
}

/// The endpointer's parameters, in samples at the listening rate.
#[derive(Clone, Debug)]
pub struct EndpointSettings {
    pub min_speech_samples: u64,
    pub preroll_samples: u64,
    pub max_turn_samples: u64,
    /// The wait when nothing else is known (and the only one of the `silence` backend).
    pub end_silence_samples: u64,
    pub complete_silence_samples: u64,
    pub incomplete_silence_samples: u64,
    pub max_wait_samples: u64,
    /// Whether words change the wait.
    pub adaptive: bool,
    /// Whether a turn model is asked when the user pauses.
    pub model: bool,
    pub model_threshold: f32,
    pub barge_in: bool,
    /// Onset to the latest speech that interrupts without words.
    pub barge_in_speech_samples: u64,
    pub barge_in_min_words: usize,
    pub backchannels: Vec<String>,
}

impl EndpointSettings {
    pub fn from_config(config: &TurnConfig) -> Self {
        let (adaptive, model, model_threshold) = match &config.backend {
            TurnBackend::Silence => (false, false, 0.5),
            TurnBackend::Adaptive => (true, false, 0.5),
            TurnBackend::SmartTurn { threshold, .. } => (true, true, *threshold),
        };
        EndpointSettings {
            min_speech_samples: to_samples(config.min_speech),
            preroll_samples: to_samples(config.preroll),
            max_turn_samples: to_samples(config.max_turn),
            end_silence_samples: to_samples(config.end_silence),
            complete_silence_samples: to_samples(config.complete_silence),
            incomplete_silence_samples: to_samples(config.incomplete_silence),
            max_wait_samples: to_samples(config.max_wait),
            adaptive,
            model,
            model_threshold,
            barge_in: config.barge_in.enabled,
            barge_in_speech_samples: to_samples(config.barge_in.min_speech),
            barge_in_min_words: config.barge_in.min_words as usize,
            backchannels: config.barge_in.backchannels.clone(),
        }
    }
}

/// The latest transcript of the current utterance.
#[derive(Debug)]
struct Heard {
    text: String,
    /// Input-clock end of the audio it was decoded from.
    audio_end_sample: u64,
    completeness: Completeness,
    words: usize,
    content_words: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ModelVerdict {
    NotAsked,
    /// Asked about the speech that ended at this sample.
    Asked {
        speech_end_sample: u64,
    },
    Answered {
        speech_end_sample: u64,
        complete: bool,
    },
}

#[derive(Debug)]
struct Turn {
    utterance: u64,
    speech_start_sample: u64,
    /// `Some` while this is an unconfirmed barge-in candidate: its voiced (periodic) samples.
    candidate_voiced_samples: Option<u64>,
    /// Where the candidate's first voiced (periodic) sound began: the span that must reach
    /// `barge_in.min_speech` counts from here, so a cough before a word adds nothing to it.
    voiced_from_sample: Option<u64>,
    last_speech_end: u64,
    silence_samples: u64,
    heard: Option<Heard>,
    model: ModelVerdict,
}

#[derive(Debug)]
enum State {
    Listening,
    Onset {
        start_sample: u64,
        voiced_samples: u64,
        periodic_samples: u64,
        gap_frames: u32,
    },
    Turn(Turn),
}

/// Where the wait in force came from.
#[derive(Clone, Copy, Debug, PartialEq)]
enum WaitSource {
    Rules,
    Model,
    /// The rules wanted longer than `max_wait`.
    Capped,
}

/// The turn-taking core (see the module docs).
pub struct Endpointer {
    settings: EndpointSettings,
    state: State,
    next_utterance: u64,
    avatar_speaking: bool,
    /// After a turn ends the avatar is busy preparing its reply, until it starts playing or
    /// until this sample.
    reply_pending_until: Option<u64>,
    voicing: Voicing,
    /// Recent frames not yet part of a turn; bounded to what a turn start can reach back to.
    history: VecDeque<(AudioFrame, bool)>,
    history_limit: usize,
    events: VecDeque<EndpointEvent>,
}

impl Endpointer {
    pub fn new(config: &TurnConfig) -> Self {
        Self::with_settings(EndpointSettings::from_config(config))
    }

    pub fn with_settings(settings: EndpointSettings) -> Self {
        let frame_samples = LISTEN_FRAME_SAMPLES as u64;
        // A turn start reaches back over the onset (voiced frames plus tolerated gaps) and the
        // pre-roll before it.
        let reach = settings.preroll_samples
            + 2 * settings.min_speech_samples
            + ONSET_GAP_FRAMES as u64 * frame_samples;
        let history_limit = reach.div_ceil(frame_samples) as usize + 2;
        Endpointer {
            settings,
            state: State::Listening,
            next_utterance: 1,
            avatar_speaking: false,
            reply_pending_until: None,
            voicing: Voicing::new(),
            history: VecDeque::with_capacity(history_limit),
            history_limit,
            // At most: a decision + Started + the history + Audio + Ended from one frame.
            events: VecDeque::with_capacity(history_limit + 6),
        }
    }

    pub fn settings(&self) -> &EndpointSettings {
        &self.settings
    }

    /// True while a turn (or a candidate) is open.
    pub fn in_turn(&self) -> bool {
        matches!(self.state, State::Turn(_))
    }

    /// True while an unconfirmed barge-in candidate is open.
    pub fn in_candidate(&self) -> bool {
        matches!(&self.state, State::Turn(t) if t.candidate_voiced_samples.is_some())
    }

    /// The utterance of the open turn or candidate.
    pub fn utterance(&self) -> Option<u64> {
        match &self.state {
            State::Turn(turn) => Some(turn.utterance),
            _ => None,
        }
    }

    /// Whether the avatar is playing speech now (from the playout's status).
    pub fn set_avatar_speaking(&mut self, speaking: bool) {
        if speaking {
            // The reply started: the wait for it is over.
            self.reply_pending_until = None;
        }
        self.avatar_speaking = speaking;
    }

    fn avatar(&self, now: u64) -> Avatar {
        if self.avatar_speaking {
            Avatar::Speaking
        } else if self.reply_pending_until.is_some_and(|until| now < until) {
            Avatar::AboutToAnswer
        } else {
            Avatar::Idle
        }
    }

    /// Feeds one labelled frame; its `end_sample` is "now".
    pub fn handle_frame(&mut self, frame: AudioFrame, speech: bool) {
        let now = frame.end_sample();
        let len = frame.len() as u64;
        let avatar = self.avatar(now);
        let busy = avatar != Avatar::Idle;
        // Voicing only matters for barge-in candidates (and the onsets that may become one).
        let periodic = if self.settings.barge_in && (busy || self.in_candidate()) {
            let periodicity = self.voicing.measure(frame.samples());
            speech && periodicity >= VOICED_PERIODICITY
        } else {
            self.voicing.reset();
            false
        };
        match self.state {
            State::Listening | State::Onset { .. } => {
                self.track_onset(&frame, speech, periodic);
                self.remember(frame, speech);
                if let State::Onset {
                    start_sample,
                    voiced_samples,
                    periodic_samples,
                    ..
                } = self.state
                    && voiced_samples >= self.settings.min_speech_samples
                {
                    let candidate = (self.settings.barge_in && busy).then_some(periodic_samples);
                    self.open_turn(start_sample, now, candidate);
                }
            }
            State::Turn(ref mut turn) => {
                if speech {
                    turn.last_speech_end = now;
                    turn.silence_samples = 0;
                } else {
                    turn.silence_samples += len;
                }
                let candidate = match &mut turn.candidate_voiced_samples {
                    Some(voiced) => {
                        if periodic {
                            *voiced += len;
                            turn.voiced_from_sample.get_or_insert(now - len);
                        }
                        true
                    }
                    None => false,
                };
                self.events.push_back(EndpointEvent::Audio { frame, speech });
                if candidate {
                    self.decide_candidate(now, avatar);
                } else {
                    self.check_end(now, speech);
                }
            }
        }
    }

    /// The latest transcript of `utterance`, decoded from audio up to `audio_end_sample`.
    pub fn handle_transcript(&mut self, utterance: u64, text: &str, audio_end_sample: u64) {
        let State::Turn(turn) = &mut self.state else {
            return;
        };
        if turn.utterance != utterance
            || turn
                .heard
                .as_ref()
                .is_some_and(|h| h.audio_end_sample > audio_end_sample)
        {
            return;
        }
        let words = Words::of(text);
        turn.heard = Some(Heard {
            text: text.to_string(),
            audio_end_sample,
            completeness: completeness(text),
            words: words.len(),
            content_words: words.content_words(&self.settings.backchannels),
        });
    }

    /// The turn model's verdict on `utterance` paused after `speech_end_sample`: the probability
    /// that the user is done.
    pub fn handle_model(&mut self, utterance: u64, speech_end_sample: u64, probability: f32) {
        let threshold = self.settings.model_threshold;
        if let State::Turn(turn) = &mut self.state
            && turn.utterance == utterance
            && turn.model == (ModelVerdict::Asked { speech_end_sample })
        {
            turn.model = ModelVerdict::Answered {
                speech_end_sample,
                complete: probability >= threshold,
            };
        }
    }

    /// Re-evaluates the open turn without new audio (after a transcript or a verdict arrived).
    pub fn poll_decision(&mut self, now: u64) {
        if self.in_candidate() {
            let avatar = self.avatar(now);
            self.decide_candidate(now, avatar);
        } else if let State::Turn(turn) = &self.state {
            let speaking = turn.silence_samples == 0;
            self.check_end(now, speaking);
        }
    }

    /// The input ended: close an open turn, drop an open candidate.
    pub fn finish(&mut self, end_sample: u64) {
        match &self.state {
            State::Turn(turn) if turn.candidate_voiced_samples.is_some() => {
                self.reject(end_sample, BargeInReason::EndOfInput);
            }
            State::Turn(turn) => {
                let speech_end = turn.last_speech_end;
                let wait = wait(&self.settings, turn).0;
                self.end_turn(speech_end, end_sample, EndpointReason::EndOfInput, wait);
            }
            _ => {}
        }
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    fn track_onset(&mut self, frame: &AudioFrame, speech: bool, periodic: bool) {
        let len = frame.len() as u64;
        let periodic_len = if periodic { len } else { 0 };
        self.state = match std::mem::replace(&mut self.state, State::Listening) {
            State::Listening if speech => State::Onset {
                start_sample: frame.start_sample,
                voiced_samples: len,
                periodic_samples: periodic_len,
                gap_frames: 0,
            },
            State::Listening => State::Listening,
            State::Onset {
                start_sample,
                voiced_samples,
                periodic_samples,
                ..
            } if speech => State::Onset {
                start_sample,
                voiced_samples: voiced_samples + len,
                periodic_samples: periodic_samples + periodic_len,
                gap_frames: 0,
            },
            State::Onset {
                start_sample,
                voiced_samples,
                periodic_samples,
                gap_frames,
            } => {
                if gap_frames + 1 >= ONSET_GAP_FRAMES {
                    State::Listening
                } else {
                    State::Onset {
                        start_sample,
                        voiced_samples,
                        periodic_samples,
                        gap_frames: gap_frames + 1,
                    }
                }
            }
            turn @ State::Turn(_) => turn,
        };
    }

    fn remember(&mut self, frame: AudioFrame, speech: bool) {
        if self.history.len() == self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back((frame, speech));
    }

    fn open_turn(&mut self, speech_start_sample: u64, now: u64, candidate: Option<u64>) {
        let utterance = self.next_utterance;
        self.next_utterance += 1;
        self.events.push_back(match candidate {
            Some(_) => EndpointEvent::Candidate {
                utterance,
                speech_start_sample,
            },
            None => EndpointEvent::Started {
                utterance,
                speech_start_sample,
            },
        });
        let from = speech_start_sample.saturating_sub(self.settings.preroll_samples);
        for (frame, speech) in self.history.drain(..) {
            if frame.end_sample() > from {
                self.events.push_back(EndpointEvent::Audio { frame, speech });
            }
        }
        self.state = State::Turn(Turn {
            utterance,
            speech_start_sample,
            candidate_voiced_samples: candidate,
            // An onset with voiced sound in it counts from its start.
            voiced_from_sample: candidate
                .filter(|&voiced| voiced > 0)
                .map(|_| speech_start_sample),
            last_speech_end: now,
            silence_samples: 0,
            heard: None,
            model: ModelVerdict::NotAsked,
        });
        // Long enough already (a short minimum)? Decide at once.
        if candidate.is_some() {
            let avatar = self.avatar(now);
            self.decide_candidate(now, avatar);
        }
    }

    /// Confirms or rejects the open candidate when the evidence allows.
    fn decide_candidate(&mut self, now: u64, avatar: Avatar) {
        let State::Turn(turn) = &self.state else {
            return;
        };
        let Some(voiced) = turn.candidate_voiced_samples else {
            return;
        };
        let s = &self.settings;
        let content_words = turn.heard.as_ref().map_or(0, |h| h.content_words);
        let backchannel_only = turn
            .heard
            .as_ref()
            .is_some_and(|h| h.words > 0 && h.content_words == 0);
        // Onset of voiced sound to the latest speech: noise before it (a cough, a knock) does
        // not count towards holding the floor.
        let span = turn
            .voiced_from_sample
            .map_or(0, |from| turn.last_speech_end.saturating_sub(from));
        let sounds_voiced = voiced >= to_samples(MIN_VOICED);
        // Over speech the user must hold the floor for a while; before the reply starts,
        // voiced speech is enough.
        let speech_needed = match avatar {
            Avatar::Speaking => s.barge_in_speech_samples,
            Avatar::AboutToAnswer | Avatar::Idle => 0,
        };
        let decision = if avatar == Avatar::Idle {
            Some((true, BargeInReason::AvatarIdle))
        } else if s.barge_in_min_words > 0 && content_words >= s.barge_in_min_words && sounds_voiced {
            Some((true, BargeInReason::Words))
        } else if sounds_voiced
            && span >= speech_needed
            && (!backchannel_only || span >= LONG_SPEECH_FACTOR * s.barge_in_speech_samples)
        {
            Some((true, BargeInReason::Speech))
        } else if turn.silence_samples >= s.end_silence_samples
            || now - turn.speech_start_sample >= to_samples(CANDIDATE_MAX)
        {
            let reason = if voiced < to_samples(NOISE_MAX_VOICED) {
                BargeInReason::NotSpeech
            } else if backchannel_only {
                BargeInReason::Backchannel
            } else {
                BargeInReason::TooShort
            };
            Some((false, reason))
        } else {
            None
        };
        match decision {
            Some((true, reason)) => self.confirm(now, reason),
            Some((false, reason)) => self.reject(now, reason),
            None => {}
        }
    }

    fn confirm(&mut self, now: u64, reason: BargeInReason) {
        let State::Turn(turn) = &mut self.state else {
            return;
        };
        turn.candidate_voiced_samples = None;
        self.events.push_back(EndpointEvent::Confirmed {
            utterance: turn.utterance,
            speech_start_sample: turn.speech_start_sample,
            decided_at_sample: now,
            reason,
            heard: turn.heard.as_ref().map(|h| h.text.clone()),
        });
        let speaking = turn.silence_samples == 0;
        self.check_end(now, speaking);
    }

    fn reject(&mut self, now: u64, reason: BargeInReason) {
        if let State::Turn(turn) = std::mem::replace(&mut self.state, State::Listening) {
            self.events.push_back(EndpointEvent::Rejected {
                utterance: turn.utterance,
                speech_start_sample: turn.speech_start_sample,
                decided_at_sample: now,
                reason,
                heard: turn.heard.map(|h| h.text),
            });
        }
    }

    fn check_end(&mut self, now: u64, speech: bool) {
        let State::Turn(turn) = &mut self.state else {
            return;
        };
        let settings = &self.settings;
        let (wait, source) = wait(settings, turn);
        let (speech_end, silence) = (turn.last_speech_end, turn.silence_samples);
        let asked_about_this_pause = match turn.model {
            ModelVerdict::NotAsked => false,
            ModelVerdict::Asked { speech_end_sample }
            | ModelVerdict::Answered {
                speech_end_sample, ..
            } => speech_end_sample == speech_end,
        };
        if silence > 0 && silence >= wait {
            let reason = match source {
                WaitSource::Rules => EndpointReason::Silence,
                WaitSource::Model => EndpointReason::Model,
                WaitSource::Capped => EndpointReason::MaxWait,
            };
            self.end_turn(speech_end, now, reason, wait);
        } else if now - turn.speech_start_sample >= settings.max_turn_samples {
            // The user is still talking: cut here; the continued speech starts a new turn.
            let speech_end = if speech { now } else { speech_end };
            self.end_turn(speech_end, now, EndpointReason::MaxDuration, wait);
        } else if settings.model && silence >= to_samples(MODEL_AFTER) && !asked_about_this_pause {
            turn.model = ModelVerdict::Asked {
                speech_end_sample: speech_end,
            };
            self.events.push_back(EndpointEvent::ModelRequest {
                utterance: turn.utterance,
                speech_end_sample: speech_end,
            });
        }
    }

    fn end_turn(
        &mut self,
        speech_end_sample: u64,
        decided_at_sample: u64,
        reason: EndpointReason,
        wait: u64,
    ) {
        let State::Turn(turn) = std::mem::replace(&mut self.state, State::Listening) else {
            return;
        };
        self.events.push_back(EndpointEvent::Ended {
            utterance: turn.utterance,
            speech_end_sample,
            decided_at_sample,
            reason,
            wait_samples: wait,
        });
        // The avatar is about to answer; a user still talking past the maximum is not
        // waiting for an answer.
        if reason != EndpointReason::MaxDuration {
            self.reply_pending_until = Some(decided_at_sample + to_samples(REPLY_WAIT));
        }
    }
}

/// The silence the rules wait for now in `turn`, and where it came from.
fn wait(s: &EndpointSettings, turn: &Turn) -> (u64, WaitSource) {
    if !s.adaptive {
        return (s.end_silence_samples, WaitSource::Rules);
    }
    // Words count only when they cover all the speech so far.
    let words = turn
        .heard
        .as_ref()
        .filter(|h| h.audio_end_sample >= turn.last_speech_end)
        .map_or(Completeness::Unknown, |h| h.completeness);
    let verdict = match turn.model {
        ModelVerdict::Answered {
            speech_end_sample,
            complete,
        } if speech_end_sample == turn.last_speech_end => Some(complete),
        _ => None,
    };
    let (wait, source) = match (words, verdict) {
        (Completeness::Incomplete(_), _) => (s.incomplete_silence_samples, WaitSource::Rules),
        (_, Some(true)) => (to_samples(MODEL_AFTER), WaitSource::Model),
        (_, Some(false)) => (s.max_wait_samples, WaitSource::Capped),
        (Completeness::Complete, None) => (s.complete_silence_samples, WaitSource::Rules),
        (Completeness::Unknown, None) => (s.end_silence_samples, WaitSource::Rules),
    };
    if wait >= s.max_wait_samples {
        // The rules would wait at least as long as the hard maximum allows.
        (s.max_wait_samples, WaitSource::Capped)
    } else {
        (wait, source)
    }
}

#[cfg(test)]
#[path = "endpointer/tests.rs"]
mod tests;
