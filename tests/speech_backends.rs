//! TTS backends in the TTS stage: an OpenAI-compatible speech service streamed as it arrives,
//! a Piper voice (the repo's tiny fixture) in a whole session, a backend failing in the
//! middle of a reply without taking the turn down, and the captions the stage publishes.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::openai_server::{FakeOpenAi, Reply, Step, gate, pcm_tone};
use common::repo;
use common::speaking::Rig;
use persona::config::PipelineConfig;
use persona::dialogue::stage::StageSettings;
use persona::dialogue::tools::ToolRunner;
use persona::dialogue::{Flow, ScriptedDialogue};
use persona::pipeline::{Session, SessionInput, SessionOutput};
use persona::tts::espeak::{EspeakSynth, VoiceSettings};
use persona::tts::openai::{OpenAiSpeech, OpenAiSpeechSettings};
use persona::tts::stage::TtsPayload;
use persona::tts::{Flow as Next, SpeechSynth, SynthChunk, SynthSummary, TtsError};

fn speech_settings(server: &FakeOpenAi, timeout_ms: u64) -> OpenAiSpeechSettings {
    OpenAiSpeechSettings {
        base_url: server.base_url.clone(),
        model: "tts-test".into(),
        voice: "alloy".into(),
        api_key: None,
        speed: Some(1.1),
        instructions: None,
        timeout: Duration::from_millis(timeout_ms),
        timing_language: "en-us".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speech_service_is_played_as_it_streams_with_estimated_word_timing() {
    let (release, held) = gate();
    let mut server = FakeOpenAi::start(vec![Reply::Audio(vec![
        Step::Bytes(pcm_tone(4_800)),
        held,
        // An odd split: a sample straddles two body chunks.
        Step::Bytes(pcm_tone(2_401)[..4_801].to_vec()),
        Step::Bytes(pcm_tone(2_400)[1..].to_vec()),
    ])])
    .await;
    let mut synth = OpenAiSpeech::new(speech_settings(&server, 5_000)).unwrap();
    assert_eq!(synth.sample_rate_hz(), 24_000);
    let (first_tx, first_rx) = mpsc::channel();
    let text = "Good morning, how can I help?";
    let speaking = tokio::task::spawn_blocking(move || {
        let (mut samples, mut words, mut chunks) = (0usize, Vec::new(), 0);
        let summary = synth
            .synthesize(text, &mut |chunk: SynthChunk<'_>| {
                chunks += 1;
                if chunks == 1 {
                    first_tx.send(chunk.samples.len()).unwrap();
                }
                samples += chunk.samples.len();
                words.extend_from_slice(chunk.words);
                Next::Continue
            })
            .unwrap();
        (summary, samples, words)
    });
    // The first audio reaches the consumer while the service is still holding the rest.
    let first = tokio::task::spawn_blocking(move || first_rx.recv_timeout(Duration::from_secs(20)))
        .await
        .unwrap()
        .expect("audio before the response is complete");
    // Whatever the transport split the first body chunk into, it arrived before the rest existed.
    assert!(first > 0 && first <= 4_800, "{first}");
    release.send(()).unwrap();
    let (summary, samples, words) = speaking.await.unwrap();
    assert_eq!(samples, 4_800 + 4_800);
    assert_eq!(summary.samples, samples as u64);
    let said: Vec<&str> = words
        .iter()
        .map(|w| &text[w.text_start as usize..(w.text_start + w.text_len) as usize])
        .collect();
    assert_eq!(said, ["Good", "morning", "how", "can", "I", "help"]);
    assert!(words.windows(2).all(|w| w[0].start_sample < w[1].start_sample));
    assert!(words.iter().all(|w| w.start_sample < samples as u64));

    let request = server.next_request().await;
    assert_eq!(request.path, "/v1/audio/speech");
    assert_eq!(request.body["input"], text);
    assert_eq!(request.body["model"], "tts-test");
    assert_eq!(request.body["voice"], "alloy");
    assert_eq!(request.body["response_format"], "pcm");
    assert!((request.body["speed"].as_f64().unwrap() - 1.1).abs() < 1e-6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_service_failures_are_named() {
    let server = FakeOpenAi::start(vec![Reply::Error(401, "Incorrect API key provided"), Reply::Hang]).await;
    let mut synth = OpenAiSpeech::new(speech_settings(&server, 300)).unwrap();
    let outcome = tokio::task::spawn_blocking(move || {
        let refused = synth.synthesize("Hello.", &mut |_| Next::Continue);
        let hung = synth.synthesize("Hello again.", &mut |_| Next::Continue);
        (refused, hung)
    })
    .await
    .unwrap();
    let refused = outcome.0.unwrap_err().to_string();
    assert!(
        refused.contains("401")
            && refused.contains("Incorrect API key")
            && refused.contains("stages.tts.base_url"),
        "{refused}"
    );
    let hung = outcome.1.unwrap_err().to_string();
    assert!(hung.contains("no audio for 300 ms"), "{hung}");
}

/// espeak-ng that fails part-way through the `fail_on`-th piece it is given (1-based).
struct Flaky {
    inner: EspeakSynth,
    pieces: usize,
    fail_on: usize,
}

impl SpeechSynth for Flaky {
    fn sample_rate_hz(&self) -> u32 {
        self.inner.sample_rate_hz()
    }

    fn synthesize(
        &mut self,
        text: &str,
        on_chunk: &mut dyn FnMut(SynthChunk<'_>) -> Next,
    ) -> Result<SynthSummary, TtsError> {
        self.pieces += 1;
        if self.pieces != self.fail_on {
            return self.inner.synthesize(text, on_chunk);
        }
        // Deliver one chunk, then fail as a network voice would.
        let mut delivered = false;
        self.inner.synthesize(text, &mut |chunk| {
            if delivered {
                return Next::Stop;
            }
            delivered = true;
            on_chunk(chunk)
        })?;
        Err(TtsError::Service {
            url: "http://voice.invalid/v1/audio/speech".into(),
            message: "connection reset".into(),
        })
    }
}

/// A scripted flow that says `prompt` (and a closing line) whatever the visitor says.
fn one_step_flow(name: &str, prompt: &str) -> Flow {
    let text =
        format!("name = \"{name}\"\nclosing = \"Goodbye.\"\n[[step]]\nid = \"q\"\nprompt = \"{prompt}\"\n");
    Flow::parse(Path::new(&format!("{name}.toml")), &text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synthesis_failure_mid_reply_is_survived() {
    let flow = one_step_flow(
        "three",
        "This is the first sentence of the reply. This second sentence will break. And this third one plays.",
    );
    let synth = Flaky {
        inner: EspeakSynth::new(VoiceSettings::default()).unwrap(),
        pieces: 0,
        fail_on: 2,
    };
    let mut rig = Rig::speaking_with(
        Box::new(ScriptedDialogue::new(flow)),
        ToolRunner::new(None),
        StageSettings::default(),
        Box::new(synth),
    );
    let first = rig.say("hi").await;
    let mut audio = 0u64;
    let total = loop {
        let item = rig.next_speech().await;
        match item.payload {
            TtsPayload::Audio(frame) => audio += frame.len() as u64,
            TtsPayload::End { total_samples } => break total_samples,
            TtsPayload::Phonemes(_) => {}
        }
    };
    assert_eq!(
        total, audio,
        "the utterance ends with all the audio that was made"
    );
    assert!(
        total > 48_000 * 2,
        "the first and third sentences were spoken: {total}"
    );
    // The next turn speaks normally.
    let second = rig.say("something").await;
    assert!(second > first);
    assert!(rig.speech_until_end(second).await > 0);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piper_voice_speaks_in_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("tests/fixtures/onnx");
    let pipeline = dir.path().join("piper.toml");
    std::fs::write(
        &pipeline,
        format!(
            "[output]\nwidth = 128\nheight = 128\n[stages.tts]\nbackend = \"piper\"\nmodel = \"{}\"\nlength_scale = 1.5\n",
            fixtures.join("tiny-piper.onnx").display()
        ),
    )
    .unwrap();
    let config = PipelineConfig::load(&pipeline).unwrap();
    let session = Session::start(
        &config,
        SessionInput::Speech {
            text: "Hello there. This is a tiny Piper voice.".into(),
        },
        SessionOutput::Discard,
    )
    .expect("the Piper voice loads");
    let metrics = session.wait().await.expect("the session ends cleanly");
    let tts = metrics
        .stage_summaries()
        .into_iter()
        .find(|s| s.name == "tts")
        .unwrap();
    assert!(tts.items > 0, "TTS produced audio");
    assert!(metrics.counters().get("playout_utterances") == Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captions_cover_every_word_of_the_reply_in_order() {
    let flow = one_step_flow(
        "caption",
        "Hello, I am your intake assistant. May I have your name, please?",
    );
    let mut rig = Rig::speaking(
        Box::new(ScriptedDialogue::new(flow)),
        ToolRunner::new(None),
        StageSettings::default(),
    );
    let mut events = rig.events.subscribe();
    let turn = rig.say("hi").await;
    assert!(rig.speech_until_end(turn).await > 0);
    let mut words = Vec::new();
    let mut starts = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let persona::pipeline::events::SessionEvent::Caption { word, start_ms, .. } = event {
            words.push(word);
            starts.push(start_ms);
        }
    }
    // espeak-ng voices "I am" as one word and marks only "I": the caption still shows both.
    assert_eq!(
        words.join(" "),
        "Hello I am your intake assistant May I have your name please"
    );
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    rig.stop().await;
}
