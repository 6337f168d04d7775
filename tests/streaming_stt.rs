//! Streaming speech recognition: partial transcripts while the user speaks, the final one after
//! the turn ends, and a decoder that falls behind never holds up the audio.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::listening::speak_at;
use common::*;
use persona::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ};
use persona::runtime::{
    EdgeSpec, Epoch, FullPolicy, Interrupter, Metrics, Placement, Receiver, Sender, SessionClock, Shutdown,
    StageCtx, StageHandle, edge, epoch_channel, spawn_stage,
};
use persona::stt::stage::{SttSettings, Transcript, run_stage};
use persona::stt::{AbortSignal, SttError, Transcriber, WhisperSettings, WhisperTranscriber};
use persona::turn::{Heard, TurnItem};
use std::sync::Arc;

/// An STT stage with its edges, as the pipeline wires it.
struct Harness {
    interrupter: Interrupter,
    metrics: Arc<Metrics>,
    _shutdown: Shutdown,
    turns: Sender<TurnItem>,
    transcripts: Receiver<Transcript>,
    heard: Receiver<Heard>,
    stage: StageHandle,
}

fn start(transcriber: Box<dyn Transcriber>, partial_interval_ms: u64, turn_edge_capacity: usize) -> Harness {
    let (interrupter, epochs) = epoch_channel();
    let shutdown = Shutdown::new();
    let metrics = Metrics::new(SessionClock::starting_now());
    let ctx = StageCtx::new("stt", metrics.clone(), None, epochs, shutdown.watch());
    let (turns, turn_rx) = edge(EdgeSpec::new("turn_to_stt", turn_edge_capacity, FullPolicy::Wait));
    let (transcript_tx, transcripts) = edge(EdgeSpec::new("stt_to_dialogue", 64, FullPolicy::Wait));
    let (heard_tx, heard) = edge(EdgeSpec::new("stt_to_turn", 64, FullPolicy::DropOldest));
    let settings = SttSettings::new(
        Duration::from_millis(partial_interval_ms),
        Duration::from_secs(30),
    );
    let stage = spawn_stage(
        "stt",
        Placement::Task,
        run_stage(
            ctx,
            Some(transcriber),
            settings,
            turn_rx,
            transcript_tx,
            Some(heard_tx),
            persona::pipeline::events::EventBus::default(),
        ),
    );
    Harness {
        interrupter,
        metrics,
        _shutdown: shutdown,
        turns,
        transcripts,
        heard,
        stage,
    }
}

fn frames(audio: &[f32], start_sample: u64) -> Vec<AudioFrame> {
    audio
        .chunks(LISTEN_FRAME_SAMPLES)
        .enumerate()
        .map(|(k, chunk)| {
            let mut frame = AudioFrame::silence(
                LISTEN_RATE_HZ,
                start_sample + (k * LISTEN_FRAME_SAMPLES) as u64,
                LISTEN_FRAME_SAMPLES,
            );
            frame.samples_mut()[..chunk.len()].copy_from_slice(chunk);
            frame
        })
        .collect()
}

fn audio_item(epoch: Epoch, utterance: u64, frame: AudioFrame, speech: bool) -> TurnItem {
    TurnItem::Audio {
        epoch,
        utterance,
        frame,
        speech,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partials_appear_while_the_user_speaks_and_the_final_after_the_turn_ends() {
    quiet_ggml();
    let whisper = WhisperTranscriber::load(
        &tiny_whisper(),
        WhisperSettings {
            max_tokens: 8,
            ..WhisperSettings::default()
        },
    )
    .expect("the synthetic model loads");
    let mut h = start(Box::new(whisper), 400, 100);
    let epoch = h.interrupter.bump();

    // A turn played in like a microphone: one 20 ms frame every 20 ms.
    let speech = speak_at(
        "I would like to book an appointment for next Tuesday morning, if that is possible.",
        "en-us",
        160,
    );
    let mut audio = speech.clone();
    audio.extend(vec![0.0; 16 * 600]);
    let voiced_frames = speech.len() / LISTEN_FRAME_SAMPLES;
    h.turns
        .send(TurnItem::Start { epoch, utterance: 1 })
        .await
        .unwrap();
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    let mut partials_during_speech = Vec::new();
    for (k, frame) in frames(&audio, 0).into_iter().enumerate() {
        ticks.tick().await;
        h.turns
            .send(audio_item(epoch, 1, frame, k < voiced_frames))
            .await
            .unwrap();
        while let Some(t) = h.transcripts.try_recv() {
            partials_during_speech.push(t);
        }
    }
    h.turns.send(TurnItem::End { epoch, utterance: 1 }).await.unwrap();
    drop(h.turns);

    assert!(
        !partials_during_speech.is_empty(),
        "a 5 s turn gives partial transcripts before it ends"
    );
    assert!(
        partials_during_speech
            .iter()
            .all(|t| !t.is_final && t.epoch == epoch)
    );
    // What is committed is never taken back.
    for pair in partials_during_speech.windows(2) {
        let earlier = &pair[0].text[..pair[0].committed_len];
        assert!(
            pair[1].text.starts_with(earlier),
            "{:?} then {:?}",
            pair[0],
            pair[1]
        );
    }

    let mut last = None;
    while let Some(t) = h.transcripts.recv().await {
        last = Some(t);
    }
    let last = last.expect("a final transcript");
    assert!(last.is_final, "the turn ends with its final transcript: {last:?}");
    assert_eq!(last.committed_len, last.text.len());
    h.stage.join().await.expect("the stage ends cleanly");

    // The turn detector heard the same partials, with the input position they cover.
    let heard: Vec<Heard> = std::iter::from_fn(|| h.heard.try_recv()).collect();
    assert!(!heard.is_empty());
    assert!(heard.iter().all(|w| w.utterance == 1 && w.audio_end_sample > 0));
    let record = &h.metrics.turns().records()[0];
    assert!(record.partial_transcripts as usize >= partials_during_speech.len());
    assert!(record.stt_final_ms.is_some(), "stt_final_ms is measured");
    println!(
        "{} partials during the turn, stt_final_ms {:.0}",
        partials_during_speech.len(),
        record.stt_final_ms.unwrap()
    );
}

/// A deliberately slow recogniser: each call waits until the test lets it finish (or the
/// test drops its end of the gate), and ignores the abort signal.
struct SlowTranscriber {
    gate: mpsc::Receiver<()>,
    calls: mpsc::Sender<usize>,
}

impl Transcriber for SlowTranscriber {
    fn transcribe(&mut self, audio_16k: &[f32], _abort: &AbortSignal) -> Result<String, SttError> {
        let _ = self.calls.send(audio_16k.len());
        let _ = self.gate.recv();
        Ok(format!("heard {} ms", audio_16k.len() / 16))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_decoder_never_blocks_the_audio_and_the_final_is_never_skipped() {
    let (release, gate) = mpsc::channel();
    let (calls_tx, calls) = mpsc::channel();
    // A tiny input edge: if the stage ever waited on the decoder, the sender would stall.
    let mut h = start(
        Box::new(SlowTranscriber {
            gate,
            calls: calls_tx,
        }),
        200,
        4,
    );
    let epoch = h.interrupter.bump();
    let ten_seconds = vec![0.1_f32; 10 * LISTEN_RATE_HZ as usize];
    let feed = async {
        h.turns
            .send(TurnItem::Start { epoch, utterance: 1 })
            .await
            .unwrap();
        for frame in frames(&ten_seconds, 0) {
            h.turns.send(audio_item(epoch, 1, frame, true)).await.unwrap();
        }
        h.turns.send(TurnItem::End { epoch, utterance: 1 }).await.unwrap();
        // A barge-in candidate that comes and goes while the decoder is still stuck.
        let candidate = epoch.next();
        h.turns
            .send(TurnItem::Start {
                epoch: candidate,
                utterance: 2,
            })
            .await
            .unwrap();
        for frame in frames(&ten_seconds[..16_000], 160_000) {
            h.turns.send(audio_item(candidate, 2, frame, true)).await.unwrap();
        }
        h.turns
            .send(TurnItem::Cancel {
                epoch: candidate,
                utterance: 2,
            })
            .await
            .unwrap();
    };
    // The whole input goes through while the first decode is still stuck; the timeout only
    // turns a regression (a stage waiting on its decoder) into a failure instead of a hang.
    tokio::time::timeout(Duration::from_secs(60), feed)
        .await
        .expect("11 s of audio went through a 4-item edge while the decoder was stuck");
    assert!(
        calls.try_iter().count() <= 1,
        "at most one decode started; the rest waited or were skipped"
    );
    drop(h.turns);

    // Let the decoder go: the stuck partial finishes (too late to matter), then the final.
    drop(release);
    let mut received = Vec::new();
    while let Some(t) = h.transcripts.recv().await {
        received.push(t);
    }
    h.stage.join().await.expect("the stage ends cleanly");
    let finals: Vec<&Transcript> = received.iter().filter(|t| t.is_final).collect();
    assert_eq!(finals.len(), 1, "{received:?}");
    assert_eq!(
        finals[0].text, "heard 10000 ms",
        "the final covers the whole turn"
    );
    assert!(
        received.iter().all(|t| t.epoch == epoch),
        "nothing of the cancelled candidate reached the dialogue: {received:?}"
    );
    assert!(
        h.metrics
            .counters()
            .get("stt_partials_skipped")
            .copied()
            .unwrap_or(0)
            > 10
    );
}
