//! Turn taking on speech espeak-ng makes (several voices and speeds, with pauses): the real
//! WebRTC VAD and the turn core on the input's sample clock, as fast as the CPU allows.

mod common;

use std::time::Duration;

use common::listening::*;
use persona::config::TurnConfig;
use persona::runtime::EndpointReason;
use persona::turn::EndpointEvent;

/// Speech spans (ms) of a conversation built from pieces.
struct Script {
    audio: Vec<f32>,
    spans: Vec<(f64, f64)>,
}

impl Script {
    fn new() -> Self {
        Script {
            audio: Vec::new(),
            spans: Vec::new(),
        }
    }

    fn say(mut self, text: &str, voice: &str, rate_wpm: u32) -> Self {
        let start = self.now_ms();
        self.audio.extend(speak_at(text, voice, rate_wpm));
        self.spans.push((start, self.now_ms()));
        self
    }

    fn pause(mut self, ms: u32) -> Self {
        self.audio.extend(silence(ms));
        self
    }

    fn now_ms(&self) -> f64 {
        self.audio.len() as f64 / 16.0
    }
}

fn ended(events: &[EndpointEvent]) -> Vec<(f64, f64, EndpointReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Ended {
                speech_end_sample,
                decided_at_sample,
                reason,
                ..
            } => Some((ms(*speech_end_sample), ms(*decided_at_sample), *reason)),
            _ => None,
        })
        .collect()
}

/// Where each turn (or candidate that became one) began.
fn starts(events: &[EndpointEvent]) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Started {
                speech_start_sample, ..
            }
            | EndpointEvent::Confirmed {
                speech_start_sample, ..
            } => Some(ms(*speech_start_sample)),
            _ => None,
        })
        .collect()
}

#[test]
fn utterances_separated_by_a_second_of_silence_become_separate_turns() {
    let script = Script::new()
        .pause(500)
        .say("What time does the clinic open tomorrow?", "en-us", 170)
        .pause(1_000)
        .say("Can I bring my daughter with me?", "en-us+f3", 230)
        .pause(1_100)
        .say("Where should I park?", "en-gb-x-rp", 130)
        .pause(1_000)
        .say("Thanks, that is all.", "en-us", 300)
        .pause(1_200);
    let events = listen(&default_turn(), &script.audio, |_| false);
    let turns = ended(&events);
    assert_eq!(turns.len(), script.spans.len(), "{:?}", summary(&events));
    for ((start, end), (turn_start, (speech_end, decided, reason))) in
        script.spans.iter().zip(starts(&events).into_iter().zip(turns))
    {
        assert_eq!(reason, EndpointReason::Silence);
        // Onsets land within the VAD's 20 ms frames (espeak starts with a little silence).
        assert!(
            (turn_start - start).abs() <= 120.0,
            "turn start {turn_start} vs {start}"
        );
        // The VAD holds on a little past the last sound.
        assert!(
            speech_end <= end + 150.0 && speech_end >= end - 250.0,
            "{speech_end} vs {end}"
        );
        let delay = decided - speech_end;
        assert!((700.0..=720.0).contains(&delay), "the default wait: {delay} ms");
    }
}

#[test]
fn a_300_ms_pause_after_and_does_not_end_the_turn() {
    let script = Script::new()
        .pause(400)
        .say("I need to renew my prescription and", "en-us", 170)
        .pause(300)
        .say("my address has changed.", "en-us", 170)
        .pause(1_500);
    // The default wait alone never ends a turn on a 300 ms pause.
    let events = listen(&default_turn(), &script.audio, |_| false);
    assert_eq!(ended(&events).len(), 1, "{:?}", summary(&events));

    // Even with a short wait, a turn that stops on "and" waits longer. What STT heard at the
    // pause is handed over as the streaming recogniser would (100 ms into it).
    let eager = TurnConfig {
        complete_silence: Duration::from_millis(100),
        end_silence: Duration::from_millis(100),
        ..default_turn()
    };
    let pause_ms = script.spans[0].1 + 100.0;
    let heard = [
        (pause_ms, "I need to renew my prescription and"),
        (
            script.spans[1].1 + 100.0,
            "I need to renew my prescription and my address has changed.",
        ),
    ];
    let events = listen_with_words(&eager, &script.audio, |_| false, &heard);
    let turns = ended(&events);
    assert_eq!(turns.len(), 1, "{:?}", summary(&events));
    assert!(
        turns[0].0 >= script.spans[1].1 - 250.0,
        "the one turn holds both halves"
    );
    // Without the words the same short wait cuts the sentence in two.
    let events = listen(&eager, &script.audio, |_| false);
    assert_eq!(ended(&events).len(), 2, "{:?}", summary(&events));
}

#[test]
fn a_user_who_keeps_talking_past_the_maximum_turn_is_cut_and_continues() {
    let script = Script::new()
        .pause(300)
        .say(
            "So the thing is, I moved last month, and my new address is not in your system yet, \
             and the pharmacy keeps sending my prescriptions to the old place across town.",
            "en-us",
            200,
        )
        .pause(1_200);
    let short = TurnConfig {
        max_turn: Duration::from_millis(3_000),
        ..default_turn()
    };
    let events = listen(&short, &script.audio, |_| false);
    let turns = ended(&events);
    assert!(turns.len() >= 2, "{:?}", summary(&events));
    assert_eq!(turns[0].2, EndpointReason::MaxDuration);
    let (cut_at, _, _) = turns[0];
    assert!(
        (cut_at - (script.spans[0].0 + 3_000.0)).abs() <= 150.0,
        "cut after 3 s: {cut_at}"
    );
    // The speech goes on in the next turn, at once, and the last turn ends on silence.
    let next_start = starts(&events)[1];
    assert!(next_start - cut_at <= 300.0, "continued at {next_start}");
    assert_eq!(turns.last().unwrap().2, EndpointReason::Silence);
    // Every frame of speech belongs to some turn: the audio handed on covers the whole span.
    let covered: f64 = events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Audio { frame, speech: true } => Some(frame.len() as f64 / 16.0),
            _ => None,
        })
        .sum();
    let voiced = (script.spans[0].1 - script.spans[0].0) * 0.7;
    assert!(covered >= voiced, "{covered} ms of voiced audio handed on");
}

#[test]
fn a_user_who_resumes_after_the_hard_maximum_wait_starts_the_next_turn() {
    let script = Script::new()
        .pause(300)
        .say("I would like to book an appointment for", "en-us+f3", 180)
        .pause(2_000)
        .say("Tuesday morning, please.", "en-us+f3", 180)
        .pause(1_500);
    let patient = TurnConfig {
        incomplete_silence: Duration::from_millis(1_500),
        max_wait: Duration::from_millis(1_500),
        ..default_turn()
    };
    let heard = [(
        script.spans[0].1 + 100.0,
        "I would like to book an appointment for",
    )];
    let events = listen_with_words(&patient, &script.audio, |_| false, &heard);
    let turns = ended(&events);
    assert_eq!(turns.len(), 2, "{:?}", summary(&events));
    // The trailing "for" holds the turn open up to the maximum, then it ends for that reason.
    assert_eq!(turns[0].2, EndpointReason::MaxWait);
    assert!((turns[0].1 - turns[0].0 - 1_500.0).abs() <= 20.0);
    // The avatar is about to answer when the user resumes: voiced speech takes the floor back
    // quickly (the reply in preparation is the one that gets dropped).
    let confirmed = events.iter().find_map(|e| match e {
        EndpointEvent::Confirmed {
            speech_start_sample,
            decided_at_sample,
            ..
        } => Some(ms(decided_at_sample - speech_start_sample)),
        _ => None,
    });
    let detection = confirmed.expect("the resumed speech is a turn");
    assert!(detection <= 400.0, "confirmed {detection} ms after its onset");
    assert_eq!(turns[1].2, EndpointReason::Silence);
}
