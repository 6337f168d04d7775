//! The turn core on a virtual clock: scripted VAD decisions over synthetic voiced audio and
//! noise, with the avatar's state, transcripts and model verdicts injected where a test says.

use super::*;
use crate::config::BargeInConfig;
use crate::turn::words::DEFAULT_BACKCHANNELS;

fn config() -> TurnConfig {
    TurnConfig {
        min_speech: Duration::from_millis(200),
        end_silence: Duration::from_millis(700),
        max_turn: Duration::from_millis(5_000),
        preroll: Duration::from_millis(300),
        budget: None,
        backend: TurnBackend::Adaptive,
        complete_silence: Duration::from_millis(400),
        incomplete_silence: Duration::from_millis(1_500),
        max_wait: Duration::from_millis(3_000),
        barge_in: BargeInConfig {
            enabled: true,
            min_speech: Duration::from_millis(800),
            min_words: 2,
            backchannels: DEFAULT_BACKCHANNELS.iter().map(|s| s.to_string()).collect(),
        },
    }
}

fn silence_backend() -> TurnConfig {
    TurnConfig {
        backend: TurnBackend::Silence,
        ..config()
    }
}

#[derive(Clone, Copy)]
enum Sound {
    Silence,
    /// Voiced speech, labelled speech by the VAD.
    Voiced,
    /// A noise burst (a cough, a click) the VAD labels speech.
    Noise,
}
use Sound::*;

/// Drives an endpointer on the sample clock and keeps what it said.
struct Sim {
    e: Endpointer,
    sample: u64,
    noise_state: u32,
    events: Vec<EndpointEvent>,
}

impl Sim {
    fn new(config: TurnConfig) -> Self {
        Sim {
            e: Endpointer::new(&config),
            sample: 0,
            noise_state: 0x9e37_79b9,
            events: Vec::new(),
        }
    }

    fn frame(&mut self, sound: Sound) -> AudioFrame {
        let mut frame = AudioFrame::silence(LISTEN_RATE_HZ, self.sample, LISTEN_FRAME_SAMPLES);
        let voiced = match sound {
            // The same 20 ms of a 125 Hz vowel each time (whole periods, so it joins up).
            Voiced => crate::turn::voicing::tests::vowel(LISTEN_FRAME_SAMPLES, 125.0),
            _ => Vec::new(),
        };
        for (i, out) in frame.samples_mut().iter_mut().enumerate() {
            *out = match sound {
                Silence => 0.0,
                Voiced => voiced[i],
                Noise => {
                    self.noise_state ^= self.noise_state << 13;
                    self.noise_state ^= self.noise_state >> 17;
                    self.noise_state ^= self.noise_state << 5;
                    (self.noise_state as f32 / u32::MAX as f32 - 0.5) * 0.6
                }
            };
        }
        frame
    }

    fn play(&mut self, ms: u64, sound: Sound) -> &mut Self {
        for _ in 0..ms / 20 {
            let frame = self.frame(sound);
            self.sample += LISTEN_FRAME_SAMPLES as u64;
            self.e.handle_frame(frame, !matches!(sound, Silence));
            self.drain();
        }
        self
    }

    fn avatar(&mut self, speaking: bool) -> &mut Self {
        self.e.set_avatar_speaking(speaking);
        self
    }

    /// A transcript of the open utterance covering the audio so far.
    fn heard(&mut self, text: &str) -> &mut Self {
        let utterance = self.e.utterance().expect("an open turn");
        self.e.handle_transcript(utterance, text, self.sample);
        self.e.poll_decision(self.sample);
        self.drain();
        self
    }

    /// Answers the last model request.
    fn verdict(&mut self, probability: f32) -> &mut Self {
        let (utterance, speech_end_sample) = self
            .events
            .iter()
            .rev()
            .find_map(|e| match e {
                EndpointEvent::ModelRequest {
                    utterance,
                    speech_end_sample,
                } => Some((*utterance, *speech_end_sample)),
                _ => None,
            })
            .expect("the model was asked");
        self.e.handle_model(utterance, speech_end_sample, probability);
        self.e.poll_decision(self.sample);
        self.drain();
        self
    }

    fn finish(&mut self) -> &mut Self {
        self.e.finish(self.sample);
        self.drain();
        self
    }

    fn drain(&mut self) {
        while let Some(event) = self.e.poll_event() {
            self.events.push(event);
        }
    }

    fn now_ms(&self) -> f64 {
        samples_to_ms(self.sample)
    }

    /// Everything but audio, as short strings with times in ms.
    fn summary(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EndpointEvent::Started {
                    speech_start_sample, ..
                } => Some(format!("start@{}", samples_to_ms(*speech_start_sample))),
                EndpointEvent::Candidate {
                    speech_start_sample, ..
                } => Some(format!("candidate@{}", samples_to_ms(*speech_start_sample))),
                EndpointEvent::Confirmed {
                    decided_at_sample,
                    reason,
                    ..
                } => Some(format!(
                    "confirm@{}:{}",
                    samples_to_ms(*decided_at_sample),
                    reason.as_str()
                )),
                EndpointEvent::Rejected {
                    decided_at_sample,
                    reason,
                    ..
                } => Some(format!(
                    "reject@{}:{}",
                    samples_to_ms(*decided_at_sample),
                    reason.as_str()
                )),
                EndpointEvent::ModelRequest {
                    speech_end_sample, ..
                } => Some(format!("ask@{}", samples_to_ms(*speech_end_sample))),
                EndpointEvent::Ended {
                    speech_end_sample,
                    decided_at_sample,
                    reason,
                    ..
                } => Some(format!(
                    "end@{}/{}:{reason:?}",
                    samples_to_ms(*speech_end_sample),
                    samples_to_ms(*decided_at_sample)
                )),
                EndpointEvent::Audio { .. } => None,
            })
            .collect()
    }
}

#[test]
fn utterances_separated_by_long_silence_are_separate_turns() {
    let mut sim = Sim::new(silence_backend());
    sim.play(500, Silence).play(1200, Voiced).play(1000, Silence);
    // The avatar answers in between (until then it counts as busy).
    sim.avatar(true)
        .play(200, Silence)
        .avatar(false)
        .play(300, Silence);
    sim.play(800, Voiced).play(1000, Silence).finish();
    assert_eq!(
        sim.summary(),
        [
            "start@500",
            "end@1700/2400:Silence",
            "start@3200",
            "end@4000/4700:Silence"
        ]
    );
    assert_eq!(sim.events.iter().find_map(|e| e.endpoint_delay_ms()), Some(700.0));
}

#[test]
fn a_short_pause_inside_a_sentence_does_not_end_the_turn() {
    let mut sim = Sim::new(config());
    sim.play(200, Silence)
        .play(600, Voiced)
        .play(300, Silence)
        .play(600, Voiced)
        .play(900, Silence)
        .finish();
    assert_eq!(sim.summary(), ["start@200", "end@1700/2400:Silence"]);
}

#[test]
fn clicks_shorter_than_the_minimum_speech_do_not_start_a_turn() {
    let mut sim = Sim::new(config());
    sim.play(500, Silence)
        .play(100, Noise)
        .play(500, Silence)
        .play(120, Voiced)
        .play(1000, Silence)
        .finish();
    assert!(sim.summary().is_empty(), "{:?}", sim.summary());
}

#[test]
fn the_turn_gets_the_preroll_and_everything_after_the_onset() {
    let mut sim = Sim::new(config());
    sim.play(1000, Silence)
        .play(400, Voiced)
        .play(800, Silence)
        .finish();
    let audio: Vec<(&AudioFrame, bool)> = sim
        .events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Audio { frame, speech } => Some((frame, *speech)),
            _ => None,
        })
        .collect();
    // 300 ms pre-roll before the onset at 1000 ms, then speech and the silence that ended it.
    assert_eq!(samples_to_ms(audio[0].0.start_sample), 700.0);
    assert!(!audio[0].1 && audio[15].1, "frames keep their VAD decision");
    assert!(
        audio
            .windows(2)
            .all(|w| w[0].0.end_sample() == w[1].0.start_sample),
        "no gaps, no repeats"
    );
    assert_eq!(samples_to_ms(audio.last().unwrap().0.end_sample()), 2100.0);
}

#[test]
fn a_user_who_keeps_talking_past_the_maximum_is_cut_and_continues_in_a_new_turn() {
    let mut sim = Sim::new(config());
    sim.play(100, Silence)
        .play(7000, Voiced)
        .play(1000, Silence)
        .finish();
    assert_eq!(
        sim.summary(),
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
    let mut sim = Sim::new(config());
    sim.play(100, Silence).play(600, Voiced).finish();
    assert_eq!(sim.summary(), ["start@100", "end@700/700:EndOfInput"]);
}

/// (transcript at the pause, the endpoint delay it leads to)
#[test]
fn the_wait_adapts_to_how_the_words_end() {
    let cases: &[(Option<&str>, f64)] = &[
        (None, 700.0),
        (Some("What time does the clinic open tomorrow?"), 400.0),
        (Some("I need to renew my prescription and"), 1500.0),
        (Some("So, um"), 1500.0),
        (Some("My number is 555 12"), 1500.0),
        (Some("My email is j o h n"), 1500.0),
        (Some("It is john dot smith at"), 1500.0),
        (Some("I am ready"), 700.0),
    ];
    for (words, delay_ms) in cases {
        let mut sim = Sim::new(config());
        sim.play(200, Silence).play(1000, Voiced).play(100, Silence);
        if let Some(words) = words {
            sim.heard(words);
        }
        sim.play(3000, Silence).finish();
        let delay = sim.events.iter().find_map(|e| e.endpoint_delay_ms());
        assert_eq!(delay, Some(*delay_ms), "{words:?}: {:?}", sim.summary());
        let reason = sim.events.iter().find_map(|e| match e {
            EndpointEvent::Ended { reason, .. } => Some(*reason),
            _ => None,
        });
        assert_eq!(reason, Some(EndpointReason::Silence));
    }
}

#[test]
fn a_pause_after_and_does_not_end_the_turn_even_with_a_short_wait() {
    let short = TurnConfig {
        complete_silence: Duration::from_millis(200),
        end_silence: Duration::from_millis(250),
        ..config()
    };
    // Without words, a 300 ms pause ends a turn that waits 250 ms...
    let mut sim = Sim::new(short.clone());
    sim.play(200, Silence)
        .play(900, Voiced)
        .play(300, Silence)
        .play(600, Voiced)
        .play(1000, Silence)
        .finish();
    assert_eq!(sim.summary()[..2], ["start@200", "end@1100/1360:Silence"]);
    // ...but not when the words so far end with "and".
    let mut sim = Sim::new(short);
    sim.play(200, Silence).play(900, Voiced).play(100, Silence);
    sim.heard("I need a new prescription and");
    sim.play(200, Silence).play(600, Voiced).play(100, Silence);
    sim.heard("I need a new prescription and my address changed.");
    sim.play(1000, Silence).finish();
    assert_eq!(sim.summary(), ["start@200", "end@2000/2200:Silence"]);
}

#[test]
fn words_that_do_not_cover_the_latest_speech_do_not_shorten_the_wait() {
    let mut sim = Sim::new(config());
    sim.play(200, Silence).play(500, Voiced);
    sim.heard("Where should I park?"); // decoded mid-speech
    sim.play(500, Voiced).play(1000, Silence).finish();
    assert_eq!(sim.summary(), ["start@200", "end@1200/1900:Silence"]);
}

#[test]
fn the_silence_backend_ignores_words() {
    let mut sim = Sim::new(silence_backend());
    sim.play(200, Silence).play(800, Voiced).play(100, Silence);
    sim.heard("I need to renew my prescription and");
    sim.play(1000, Silence).finish();
    assert_eq!(sim.summary(), ["start@200", "end@1000/1700:Silence"]);
}

fn smart_turn() -> TurnConfig {
    TurnConfig {
        backend: TurnBackend::SmartTurn {
            model: "smart-turn.onnx".into(),
            threshold: 0.5,
        },
        ..config()
    }
}

#[test]
fn a_complete_verdict_ends_the_turn_when_the_model_answers() {
    let mut sim = Sim::new(smart_turn());
    sim.play(200, Silence).play(1000, Voiced).play(200, Silence);
    assert_eq!(sim.summary(), ["start@200", "ask@1200"]);
    sim.verdict(0.9);
    assert_eq!(sim.summary()[2], "end@1200/1400:Model");
}

#[test]
fn an_incomplete_verdict_waits_up_to_the_hard_maximum() {
    let mut sim = Sim::new(smart_turn());
    sim.play(200, Silence)
        .play(1000, Voiced)
        .play(200, Silence)
        .verdict(0.1);
    sim.play(4000, Silence).finish();
    assert_eq!(sim.summary(), ["start@200", "ask@1200", "end@1200/4200:MaxWait"]);
}

#[test]
fn the_model_is_asked_again_after_the_user_resumes_and_stale_verdicts_are_ignored() {
    let mut sim = Sim::new(smart_turn());
    sim.play(200, Silence).play(600, Voiced).play(200, Silence);
    let stale = sim.events.len();
    sim.play(400, Voiced).play(200, Silence);
    // The answer about the first pause arrives late: it must not end the turn.
    let old_request = &sim.events[stale - 1];
    let EndpointEvent::ModelRequest {
        utterance,
        speech_end_sample,
    } = *old_request
    else {
        panic!("expected the first request, got {old_request:?}");
    };
    sim.e.handle_model(utterance, speech_end_sample, 0.99);
    sim.e.poll_decision(sim.sample);
    sim.drain();
    assert_eq!(sim.summary(), ["start@200", "ask@800", "ask@1400"]);
    sim.verdict(0.8);
    assert_eq!(sim.summary()[3], "end@1400/1600:Model");
}

#[test]
fn incomplete_words_outweigh_a_complete_verdict() {
    let mut sim = Sim::new(smart_turn());
    sim.play(200, Silence).play(1000, Voiced).play(100, Silence);
    sim.heard("My number is 555 12");
    sim.play(100, Silence).verdict(0.9).play(2000, Silence).finish();
    assert_eq!(sim.summary(), ["start@200", "ask@1200", "end@1200/2700:Silence"]);
}

// --- barge-in ---

#[test]
fn speech_over_the_avatar_interrupts_once_it_is_long_enough() {
    let mut sim = Sim::new(config());
    sim.avatar(true)
        .play(500, Silence)
        .play(1500, Voiced)
        .avatar(false)
        .play(1000, Silence)
        .finish();
    // The candidate opens after 200 ms of speech and is confirmed after 800 ms.
    assert_eq!(
        sim.summary(),
        ["candidate@500", "confirm@1300:speech", "end@2000/2700:Silence"]
    );
    let confirm = sim
        .events
        .iter()
        .find_map(|e| match e {
            EndpointEvent::Confirmed {
                speech_start_sample,
                decided_at_sample,
                ..
            } => Some(samples_to_ms(decided_at_sample - speech_start_sample)),
            _ => None,
        })
        .unwrap();
    assert_eq!(confirm, 800.0, "detection delay = the configured minimum");
}

#[test]
fn a_noise_burst_a_click_or_a_backchannel_leaves_the_avatar_alone() {
    // (name, the sounds, what STT heard, the rejection reason; "" = not even a candidate)
    type Case<'a> = (&'a str, &'a [(u64, Sound)], Option<&'a str>, &'a str);
    let cases: &[Case] = &[
        ("cough", &[(500, Noise)], None, "not_speech"),
        ("long cough", &[(1200, Noise)], None, "not_speech"),
        ("click", &[(160, Noise)], None, ""),
        ("mhm", &[(400, Voiced)], Some("Mhm."), "backchannel"),
        ("short word", &[(400, Voiced)], None, "too_short"),
        (
            "okay okay",
            &[(250, Voiced), (100, Silence), (300, Voiced)],
            Some("Okay, okay."),
            "backchannel",
        ),
    ];
    for (name, sounds, heard, reason) in cases {
        let mut sim = Sim::new(config());
        sim.avatar(true).play(500, Silence);
        for (ms, sound) in *sounds {
            sim.play(*ms, *sound);
        }
        if let Some(words) = heard {
            sim.heard(words);
        }
        sim.play(1500, Silence).finish();
        let summary = sim.summary();
        assert!(
            !summary
                .iter()
                .any(|s| s.starts_with("confirm") || s.starts_with("start")),
            "{name}: {summary:?}"
        );
        if reason.is_empty() {
            assert!(
                summary.is_empty(),
                "{name}: too short for a candidate: {summary:?}"
            );
        } else {
            assert!(summary[0].starts_with("candidate"), "{name}: {summary:?}");
            assert!(summary[1].ends_with(reason), "{name}: {summary:?}");
        }
    }
}

#[test]
fn words_interrupt_before_the_speech_minimum() {
    let mut sim = Sim::new(config());
    sim.avatar(true)
        .play(500, Silence)
        .play(400, Voiced)
        .play(100, Silence);
    sim.heard("Wait, stop.");
    assert_eq!(sim.summary(), ["candidate@500", "confirm@1000:words"]);
    // It is a turn now and ends like one (a complete sentence: the short wait).
    sim.play(1000, Silence).finish();
    assert_eq!(sim.summary()[2], "end@900/1300:Silence");
}

#[test]
fn words_alone_never_interrupt_without_voiced_speech() {
    // whisper hears "Thank you." in a cough.
    let mut sim = Sim::new(config());
    sim.avatar(true).play(500, Silence).play(600, Noise);
    sim.heard("Thank you.");
    sim.play(1000, Silence).finish();
    assert_eq!(sim.summary(), ["candidate@500", "reject@1800:not_speech"]);
}

#[test]
fn backchannel_words_hold_the_interruption_until_the_speech_is_long() {
    let mut sim = Sim::new(config());
    sim.avatar(true).play(500, Silence).play(300, Voiced);
    sim.heard("Okay.");
    sim.play(700, Voiced);
    assert_eq!(
        sim.summary(),
        ["candidate@500"],
        "a second of speech after an 'okay' is not enough"
    );
    sim.play(600, Voiced);
    assert_eq!(sim.summary(), ["candidate@500", "confirm@2100:speech"]);
}

#[test]
fn a_candidate_becomes_a_plain_turn_when_the_avatar_finishes_first() {
    let mut sim = Sim::new(config());
    sim.avatar(true)
        .play(500, Silence)
        .play(300, Voiced)
        .avatar(false)
        .play(300, Voiced);
    assert_eq!(sim.summary(), ["candidate@500", "confirm@820:avatar_idle"]);
}

#[test]
fn the_avatar_counts_as_busy_while_its_reply_is_pending() {
    let mut sim = Sim::new(config());
    sim.play(200, Silence).play(800, Voiced).play(800, Silence);
    assert_eq!(sim.summary(), ["start@200", "end@1000/1700:Silence"]);
    // Before the reply starts, a cough does not cancel it.
    sim.play(300, Silence).play(400, Noise).play(1000, Silence);
    assert_eq!(sim.summary()[2..], ["candidate@2100", "reject@3200:not_speech"]);
    // The reply played and finished: new speech is a plain turn again.
    sim.avatar(true)
        .play(200, Silence)
        .avatar(false)
        .play(200, Silence)
        .play(400, Voiced);
    assert_eq!(sim.summary()[4], format!("start@{}", sim.now_ms() - 400.0));
}

#[test]
fn before_the_reply_starts_voiced_speech_goes_on_with_the_turn_at_once() {
    let mut sim = Sim::new(config());
    sim.play(200, Silence).play(800, Voiced).play(800, Silence);
    // "...for Tuesday": a short continuation while the reply is being prepared.
    sim.play(300, Silence)
        .play(500, Voiced)
        .play(800, Silence)
        .finish();
    assert_eq!(
        sim.summary()[2..],
        ["candidate@2100", "confirm@2300:speech", "end@2600/3300:Silence"]
    );
}

#[test]
fn a_reply_that_never_comes_stops_counting_as_busy() {
    let mut sim = Sim::new(config());
    sim.play(200, Silence).play(800, Voiced).play(800, Silence);
    sim.play(5000, Silence).play(400, Voiced);
    assert_eq!(sim.summary()[2], "start@6800");
}

#[test]
fn with_barge_in_off_every_turn_start_interrupts() {
    let mut off = config();
    off.barge_in.enabled = false;
    let mut sim = Sim::new(off);
    sim.avatar(true)
        .play(500, Silence)
        .play(300, Noise)
        .play(1000, Silence)
        .finish();
    assert_eq!(sim.summary(), ["start@500", "end@800/1500:Silence"]);
}

#[test]
fn an_open_candidate_is_dropped_when_the_input_ends() {
    let mut sim = Sim::new(config());
    sim.avatar(true).play(500, Silence).play(300, Voiced).finish();
    assert_eq!(sim.summary(), ["candidate@500", "reject@800:end_of_input"]);
}
