//! Barge-in: user speech over the avatar interrupts it only when it is real speech. A click, a
//! cough-like burst and "mhm" leave it talking without a glitch; speech stops it, and the
//! report says how long that took.

mod common;

use common::listening::*;
use common::*;
use persona::config::PipelineConfig;
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::profile::ProfileReport;
use persona::transport::{Pacing, WavSource};
use persona::turn::{BargeInReason, EndpointEvent};

/// (decided at, onset, confirmed?, reason) of every barge-in decision.
fn decisions(events: &[EndpointEvent]) -> Vec<(f64, f64, bool, BargeInReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            EndpointEvent::Confirmed {
                decided_at_sample,
                speech_start_sample,
                reason,
                ..
            } => Some((ms(*decided_at_sample), ms(*speech_start_sample), true, *reason)),
            EndpointEvent::Rejected {
                decided_at_sample,
                speech_start_sample,
                reason,
                ..
            } => Some((ms(*decided_at_sample), ms(*speech_start_sample), false, *reason)),
            _ => None,
        })
        .collect()
}

fn over_the_avatar(sound: Vec<f32>) -> Vec<EndpointEvent> {
    let mut audio = silence(500);
    audio.extend(sound);
    audio.extend(silence(1_500));
    listen(&default_turn(), &audio, |_| true)
}

#[test]
fn speech_over_the_avatar_interrupts_within_the_configured_minimum() {
    let budget_ms = default_turn().barge_in.min_speech.as_millis() as f64;
    for (text, voice, rate) in [
        ("Sorry, wait, I have a question about my bill.", "en-us", 170),
        ("Hold on, that is not what I asked.", "en-us+f3", 210),
        ("Excuse me, could you repeat the last part?", "en-gb-x-rp", 150),
    ] {
        let events = over_the_avatar(speak_at(text, voice, rate));
        let found = decisions(&events);
        assert_eq!(found.len(), 1, "{text}: {:?}", summary(&events));
        let (decided, onset, confirmed, reason) = found[0];
        assert!(confirmed, "{text}: {:?}", summary(&events));
        assert_eq!(reason, BargeInReason::Speech);
        // On the input clock: onset → decision is the configured minimum, or a little more
        // when the speaker is between words at that moment ("Excuse me, | could you ...").
        let detection = decided - onset;
        assert!(
            detection >= budget_ms - 1.0 && detection <= budget_ms + 200.0,
            "{text}: decided {detection} ms after the onset"
        );
    }
}

#[test]
fn a_click_a_cough_and_mhm_do_not_interrupt() {
    let mut cases: Vec<(String, Vec<f32>)> = vec![
        ("a 150 ms click".into(), click(150)),
        ("a 400 ms cough".into(), cough(400)),
        ("a 900 ms cough".into(), cough(900)),
    ];
    for voice in ["en-us", "en-us+f3", "en-gb-x-rp"] {
        cases.push((format!("mhm ({voice})"), speak_at("mhm", voice, 170)));
    }
    for (name, sound) in cases {
        let events = over_the_avatar(sound);
        let found = decisions(&events);
        assert!(
            found.iter().all(|(_, _, confirmed, _)| !confirmed),
            "{name} interrupted: {:?}",
            summary(&events)
        );
        assert!(
            !events.iter().any(|e| matches!(e, EndpointEvent::Started { .. })),
            "{name} started a turn: {:?}",
            summary(&events)
        );
    }
    // Nor does a cough with an "mhm" 0.6 s after it: one candidate, but the noise before the
    // voiced sound does not count towards holding the floor.
    let mut cough_then_mhm = cough(400);
    cough_then_mhm.extend(silence(600));
    cough_then_mhm.extend(speak_at("mhm", "en-us", 170));
    let events = over_the_avatar(cough_then_mhm);
    assert!(
        decisions(&events).iter().all(|(_, _, confirmed, _)| !confirmed),
        "a cough then mhm interrupted: {:?}",
        summary(&events)
    );
    // The cough is told apart as noise, "mhm" as too short to take the floor.
    let cough_events = over_the_avatar(cough(900));
    assert!(
        decisions(&cough_events)
            .iter()
            .all(|d| d.3 == BargeInReason::NotSpeech)
    );
    let mhm_events = over_the_avatar(speak_at("mhm", "en-us", 170));
    assert_eq!(decisions(&mhm_events)[0].3, BargeInReason::TooShort);
}

#[test]
fn a_short_command_interrupts_once_its_words_are_heard() {
    // Half a second of speech: too short to interrupt on its own...
    let command = || speak_at("Stop it.", "en-us", 170);
    let events = over_the_avatar(command());
    let found = decisions(&events);
    assert!(found.len() == 1 && !found[0].2, "{:?}", summary(&events));
    // ...but two words that are not a backchannel do, as soon as STT hears them (here 100 ms
    // into the pause after them, as the streaming decoder would).
    let heard_at = 500.0 + command().len() as f64 / 16.0 + 100.0;
    let mut audio = silence(500);
    audio.extend(command());
    audio.extend(silence(1_500));
    let events = listen_with_words(&default_turn(), &audio, |_| true, &[(heard_at, "Stop it.")]);
    let found = decisions(&events);
    assert_eq!(found.len(), 1, "{:?}", summary(&events));
    assert!(
        found[0].2 && found[0].3 == BargeInReason::Words,
        "{:?}",
        summary(&events)
    );
    assert!(
        (found[0].0 - heard_at).abs() <= 20.0,
        "decided when the words arrived"
    );
}

const LONG_REPLY_FLOW: &str = r#"
name = "long-reply"
closing = "Goodbye."

[[step]]
id = "intro"
prompt = "Hello and welcome to the clinic. Before we begin, let me explain how this works: I will ask you a few short questions about your visit today, and you can answer in your own words. If you need me to repeat anything, just ask, and if you want to stop at any time, that is fine too."

[[step]]
id = "reason"
prompt = "Of course. What is your question?"
"#;

/// A real-time session: the avatar gives a long answer, the user makes noises over it, then
/// really interrupts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_long_reply_noises_are_ignored_and_speech_interrupts_it() {
    quiet_ggml();
    let flow = scratch().join("long-reply.toml");
    std::fs::write(&flow, LONG_REPLY_FLOW).unwrap();
    let pipeline = scratch().join("barge-in.toml");
    std::fs::write(
        &pipeline,
        format!(
            r#"
name = "barge-in"
[output]
width = 128
height = 128
[stages.turn]
end_silence_ms = 600
[stages.stt]
model = "{model}"
max_tokens = 8
[stages.dialogue]
flow = "{flow}"
"#,
            model = tiny_whisper().display(),
            flow = flow.display(),
        ),
    )
    .unwrap();

    // The reply starts about 1.5 s after "Hello." ends and lasts ~15 s.
    let mut audio = silence(500);
    audio.extend(speak_at("Hello.", "en-us", 170));
    let at = |audio: &mut Vec<f32>, ms: u32| {
        let now = audio.len() as u32 / 16;
        audio.extend(silence(ms.saturating_sub(now)));
    };
    at(&mut audio, 4_500);
    audio.extend(click(150));
    at(&mut audio, 5_500);
    audio.extend(cough(500));
    at(&mut audio, 7_000);
    audio.extend(speak_at("mhm", "en-us", 170));
    at(&mut audio, 8_500);
    let interruption_at_ms = audio.len() as f64 / 16.0;
    audio.extend(speak_at(
        "Sorry, wait, I have a question about my bill.",
        "en-us+f3",
        170,
    ));
    audio.extend(silence(2_000));
    let source = WavSource::from_samples(audio, 16_000);
    let input_ms = source.duration_ms();

    let config = PipelineConfig::load(&pipeline).expect("valid pipeline");
    let session = Session::start(
        &config,
        SessionInput::Conversation {
            source,
            pacing: Pacing::RealTime,
        },
        SessionOutput::Discard,
    )
    .expect("the session starts");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let report = ProfileReport::from_metrics(&metrics, "barge-in".into(), "synthetic".into(), input_ms);
    println!("{}", report.render_text());

    // Two user turns: "Hello." and the interruption. The noises made none.
    assert_eq!(report.turns.len(), 2, "{:#?}", report.turns);
    let first = &report.turns[0];
    let interrupting: Vec<_> = first.barge_in.iter().filter(|d| d.interrupted).collect();
    let ignored: Vec<_> = first.barge_in.iter().filter(|d| !d.interrupted).collect();
    assert_eq!(interrupting.len(), 1, "{:#?}", first.barge_in);
    assert!(
        ignored.iter().any(|d| d.reason == "not_speech") && ignored.iter().any(|d| d.reason == "too_short"),
        "the cough and the mhm were heard and let go: {:#?}",
        first.barge_in
    );
    // The one interruption: the speech, not a noise before it.
    let decision = interrupting[0];
    assert!(
        (decision.speech_onset_media_ms - interruption_at_ms).abs() < 150.0,
        "{decision:?}"
    );
    assert_eq!(first.interrupted_at_ms, Some(decision.decided_at_ms));
    let to_silence = first.interrupt_to_silence_ms.expect("the output went silent");
    assert!(to_silence >= 0.0);
    assert_eq!(report.interruptions.len(), 1);
    assert_eq!(report.interruptions[0].detection_ms, Some(decision.detection_ms));
    // Only the interruption cut the reply: the noises flushed nothing and left it playing.
    assert_eq!(report.counters.get("playout_interrupted"), Some(&1));
    println!(
        "barge-in: detection {:.0} ms (media clock), interrupt to silence {:.1} ms",
        decision.detection_ms, to_silence
    );
}
