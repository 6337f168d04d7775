//! The sans-IO endpointing core: when did the user start and stop talking?
//!
//! Fed VAD-labelled 20 ms frames, it tracks three states — listening, onset (speech heard but
//! not yet long enough to be a turn) and speaking — and emits [`EndpointEvent`]s. Time is the
//! input's own sample clock (each frame's end sample at 16 kHz), never a wall clock, so a test
//! or the profiler replays a conversation exactly and faster than real time.
//!
//! What it deliberately does not do: decide about barge-in or epochs (the turn stage does), or
//! look at words (a later transcript-aware endpointer will shorten or extend the wait).

use std::collections::VecDeque;
use std::time::Duration;

use crate::audio::{AudioFrame, LISTEN_RATE_HZ};
use crate::config::TurnConfig;
use crate::runtime::EndpointReason;

/// Unvoiced frames tolerated inside an onset before it is abandoned (60 ms at 20 ms frames):
/// plosives and short gaps inside a first syllable must not reset the count.
const ONSET_GAP_FRAMES: u32 = 3;

/// What the endpointer concluded.
#[derive(Debug)]
pub enum EndpointEvent {
    /// A turn started; `speech_start_sample` is where the voiced onset began.
    Started { speech_start_sample: u64 },
    /// Audio belonging to the current turn (pre-roll first, then everything until the end).
    Audio(AudioFrame),
    /// The turn ended. `speech_end_sample` is the end of the last voiced frame;
    /// `decided_at_sample` is the input position at which the decision was taken.
    Ended {
        speech_end_sample: u64,
        decided_at_sample: u64,
        reason: EndpointReason,
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

fn ms_to_samples(duration: Duration) -> u64 {
    (duration.as_micros() as u64 * LISTEN_RATE_HZ as u64) / 1_000_000
}

#[derive(Debug)]
enum State {
    Listening,
    Onset {
        start_sample: u64,
        voiced_samples: u64,
        gap_frames: u32,
    },
    Speaking {
        turn_start_sample: u64,
        last_speech_end: u64,
        silence_samples: u64,
    },
}

/// Silence endpointing over VAD decisions.
pub struct Endpointer {
    min_speech_samples: u64,
    end_silence_samples: u64,
    max_turn_samples: u64,
    preroll_samples: u64,
    state: State,
    /// Recent frames not yet part of a turn; bounded to what a turn start can reach back to.
    history: VecDeque<AudioFrame>,
    history_limit: usize,
    events: VecDeque<EndpointEvent>,
}

impl Endpointer {
    pub fn new(config: &TurnConfig) -> Self {
        let frame_samples = crate::audio::LISTEN_FRAME_SAMPLES as u64;
        let min_speech_samples = ms_to_samples(config.min_speech);
        let preroll_samples = ms_to_samples(config.preroll);
        // A turn start reaches back over the onset (voiced frames plus tolerated gaps) and the
        // pre-roll before it.
        let reach = preroll_samples + 2 * min_speech_samples + ONSET_GAP_FRAMES as u64 * frame_samples;
        let history_limit = reach.div_ceil(frame_samples) as usize + 2;
        Endpointer {
            min_speech_samples,
            end_silence_samples: ms_to_samples(config.end_silence),
            max_turn_samples: ms_to_samples(config.max_turn),
            preroll_samples,
            state: State::Listening,
            history: VecDeque::with_capacity(history_limit),
            history_limit,
            // At most: Started + the history + Audio + Ended from one frame.
            events: VecDeque::with_capacity(history_limit + 4),
        }
    }

    /// True while a turn is open.
    pub fn in_turn(&self) -> bool {
        matches!(self.state, State::Speaking { .. })
    }

    /// Feeds one labelled frame; its `end_sample` is "now".
    pub fn handle_frame(&mut self, frame: AudioFrame, speech: bool) {
        let now = frame.end_sample();
        let len = frame.len() as u64;
        match &mut self.state {
            State::Listening | State::Onset { .. } => {
                self.track_onset(&frame, speech);
                self.remember(frame);
                if let State::Onset {
                    start_sample,
                    voiced_samples,
                    ..
                } = self.state
                    && voiced_samples >= self.min_speech_samples
                {
                    self.start_turn(start_sample, now);
                }
            }
            State::Speaking {
                turn_start_sample,
                last_speech_end,
                silence_samples,
            } => {
                if speech {
                    *last_speech_end = now;
                    *silence_samples = 0;
                } else {
                    *silence_samples += len;
                }
                let (turn_start, speech_end, silence) =
                    (*turn_start_sample, *last_speech_end, *silence_samples);
                self.events.push_back(EndpointEvent::Audio(frame));
                if silence >= self.end_silence_samples {
                    self.end_turn(speech_end, now, EndpointReason::Silence);
                } else if now - turn_start >= self.max_turn_samples {
                    // The user is still talking: cut here; the continued speech starts a new turn.
                    let speech_end = if speech { now } else { speech_end };
                    self.end_turn(speech_end, now, EndpointReason::MaxDuration);
                }
            }
        }
    }

    /// The input ended: close an open turn.
    pub fn finish(&mut self, end_sample: u64) {
        if let State::Speaking { last_speech_end, .. } = self.state {
            self.end_turn(last_speech_end, end_sample, EndpointReason::EndOfInput);
        }
    }

    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    fn track_onset(&mut self, frame: &AudioFrame, speech: bool) {
        let len = frame.len() as u64;
        self.state = match std::mem::replace(&mut self.state, State::Listening) {
            State::Listening if speech => State::Onset {
                start_sample: frame.start_sample,
                voiced_samples: len,
                gap_frames: 0,
            },
            State::Listening => State::Listening,
            State::Onset {
                start_sample,
                voiced_samples,
                ..
            } if speech => State::Onset {
                start_sample,
                voiced_samples: voiced_samples + len,
                gap_frames: 0,
            },
            State::Onset {
                start_sample,
                voiced_samples,
                gap_frames,
            } => {
                if gap_frames + 1 >= ONSET_GAP_FRAMES {
                    State::Listening
                } else {
                    State::Onset {
                        start_sample,
                        voiced_samples,
                        gap_frames: gap_frames + 1,
                    }
                }
            }
            speaking @ State::Speaking { .. } => speaking,
        };
    }

    fn remember(&mut self, frame: AudioFrame) {
        if self.history.len() == self.history_limit {
            self.history.pop_front();
        }
        self.history.push_back(frame);
    }

    fn start_turn(&mut self, speech_start_sample: u64, now: u64) {
        self.events
            .push_back(EndpointEvent::Started { speech_start_sample });
        let from = speech_start_sample.saturating_sub(self.preroll_samples);
        for frame in self.history.drain(..) {
            if frame.end_sample() > from {
                self.events.push_back(EndpointEvent::Audio(frame));
            }
        }
        self.state = State::Speaking {
            turn_start_sample: speech_start_sample,
            last_speech_end: now,
            silence_samples: 0,
        };
    }

    fn end_turn(&mut self, speech_end_sample: u64, decided_at_sample: u64, reason: EndpointReason) {
        self.events.push_back(EndpointEvent::Ended {
            speech_end_sample,
            decided_at_sample,
            reason,
        });
        self.state = State::Listening;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::LISTEN_FRAME_SAMPLES;

    fn config() -> TurnConfig {
        TurnConfig {
            min_speech: Duration::from_millis(200),
            end_silence: Duration::from_millis(700),
            max_turn: Duration::from_millis(5_000),
            preroll: Duration::from_millis(300),
            budget: None,
        }
    }

    /// A script of (milliseconds, speech?) spans, fed as 20 ms frames on a virtual clock.
    fn run(endpointer: &mut Endpointer, script: &[(u64, bool)]) -> Vec<EndpointEvent> {
        let mut sample = 0u64;
        let mut events = Vec::new();
        for &(ms, speech) in script {
            for _ in 0..ms / 20 {
                let frame = AudioFrame::silence(LISTEN_RATE_HZ, sample, LISTEN_FRAME_SAMPLES);
                sample += LISTEN_FRAME_SAMPLES as u64;
                endpointer.handle_frame(frame, speech);
                events.extend(std::iter::from_fn(|| endpointer.poll_event()));
            }
        }
        endpointer.finish(sample);
        events.extend(std::iter::from_fn(|| endpointer.poll_event()));
        events
    }

    fn summary(events: &[EndpointEvent]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                EndpointEvent::Started { speech_start_sample } => {
                    Some(format!("start@{}", samples_to_ms(*speech_start_sample)))
                }
                EndpointEvent::Ended {
                    speech_end_sample,
                    decided_at_sample,
                    reason,
                } => Some(format!(
                    "end@{}/{}:{reason:?}",
                    samples_to_ms(*speech_end_sample),
                    samples_to_ms(*decided_at_sample)
                )),
                EndpointEvent::Audio(_) => None,
            })
            .collect()
    }

    #[test]
    fn utterances_separated_by_long_silence_are_separate_turns() {
        let mut e = Endpointer::new(&config());
        let events = run(
            &mut e,
            &[
                (500, false),
                (1200, true),
                (1500, false),
                (800, true),
                (1000, false),
            ],
        );
        assert_eq!(
            summary(&events),
            [
                "start@500",
                "end@1700/2400:Silence",
                "start@3200",
                "end@4000/4700:Silence"
            ]
        );
        assert_eq!(events.iter().find_map(|e| e.endpoint_delay_ms()), Some(700.0));
    }

    #[test]
    fn a_short_pause_inside_a_sentence_does_not_end_the_turn() {
        let mut e = Endpointer::new(&config());
        let events = run(
            &mut e,
            &[(200, false), (600, true), (300, false), (600, true), (900, false)],
        );
        assert_eq!(summary(&events), ["start@200", "end@1700/2400:Silence"]);
    }

    #[test]
    fn clicks_shorter_than_the_minimum_speech_do_not_start_a_turn() {
        let mut e = Endpointer::new(&config());
        let events = run(
            &mut e,
            &[
                (500, false),
                (100, true),
                (500, false),
                (120, true),
                (1000, false),
            ],
        );
        assert!(summary(&events).is_empty());
    }

    #[test]
    fn the_turn_gets_the_preroll_and_everything_after_the_onset() {
        let mut e = Endpointer::new(&config());
        let events = run(&mut e, &[(1000, false), (400, true), (800, false)]);
        let audio: Vec<&AudioFrame> = events
            .iter()
            .filter_map(|e| match e {
                EndpointEvent::Audio(f) => Some(f),
                _ => None,
            })
            .collect();
        // 300 ms pre-roll before the onset at 1000 ms, then speech and the silence that ended it.
        assert_eq!(samples_to_ms(audio[0].start_sample), 700.0);
        assert!(
            audio.windows(2).all(|w| w[0].end_sample() == w[1].start_sample),
            "no gaps, no repeats"
        );
        assert_eq!(samples_to_ms(audio.last().unwrap().end_sample()), 2100.0);
    }

    #[test]
    fn a_user_who_keeps_talking_past_the_maximum_is_cut_and_continues_in_a_new_turn() {
        let mut e = Endpointer::new(&config());
        let events = run(&mut e, &[(100, false), (7000, true), (1000, false)]);
        assert_eq!(
            summary(&events),
            [
                "start@100",
                "end@5100/5100:MaxDuration",
                "start@5100",
                "end@7100/7800:Silence"
            ]
        );
    }

    #[test]
    fn input_ending_mid_speech_closes_the_turn() {
        let mut e = Endpointer::new(&config());
        let events = run(&mut e, &[(100, false), (600, true)]);
        assert_eq!(summary(&events), ["start@100", "end@700/700:EndOfInput"]);
    }
}
