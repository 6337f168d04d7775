//! The speaking half on a bench: the dialogue stage (and optionally the TTS stage, with
//! espeak-ng) wired with real edges, epochs and metrics, driven by the test as the turn
//! detector and the playout would drive them.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use persona::dialogue::stage::{Hearing, StageSettings};
use persona::dialogue::tools::ToolRunner;
use persona::dialogue::{Dialogue, ReplyText};
use persona::pipeline::events::EventBus;
use persona::playout::{PlayoutStatus, StatusPublisher, status_channel};
use persona::runtime::{
    EdgeSpec, Epoch, FullPolicy, Interrupter, Metrics, Placement, Receiver, Sender, SessionClock, Shutdown,
    StageCtx, StageHandle, edge, epoch_channel, spawn_stage,
};
use persona::stt::Transcript;
use persona::tts::espeak::{EspeakSynth, VoiceSettings};
use persona::tts::stage::{TtsItem, TtsPayload};
use persona::tts::{SpeechSynth, SpokenWatch, spoken_channel};

/// Output rate of the bench's TTS.
pub const RATE_HZ: u32 = 48_000;
/// The longest a test waits for anything; reaching it is a failure, not a synchronisation.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct Rig {
    pub interrupter: Interrupter,
    pub transcripts: Sender<Transcript>,
    /// The dialogue's output, when there is no TTS stage.
    pub replies: Option<Receiver<ReplyText>>,
    /// The TTS stage's output, when there is one.
    pub speech: Option<Receiver<TtsItem>>,
    pub status: StatusPublisher,
    pub spoken: SpokenWatch,
    pub metrics: Arc<Metrics>,
    /// What the dialogue and TTS publish for a user interface (state, replies, captions).
    pub events: EventBus,
    pub shutdown: Shutdown,
    handles: Vec<StageHandle>,
}

impl Rig {
    /// The dialogue stage alone; its replies come out on `replies`.
    pub fn dialogue(dialogue: Box<dyn Dialogue>, tools: ToolRunner, settings: StageSettings) -> Rig {
        Self::build(dialogue, tools, settings, None)
    }

    /// The dialogue stage feeding a TTS stage (espeak-ng, default voice); speech on `speech`.
    pub fn speaking(dialogue: Box<dyn Dialogue>, tools: ToolRunner, settings: StageSettings) -> Rig {
        let synth = EspeakSynth::new(VoiceSettings::default()).expect("espeak-ng is installed (./setup.sh)");
        Self::build(dialogue, tools, settings, Some(Box::new(synth)))
    }

    /// The dialogue stage feeding a TTS stage with `synth`.
    pub fn speaking_with(
        dialogue: Box<dyn Dialogue>,
        tools: ToolRunner,
        settings: StageSettings,
        synth: Box<dyn SpeechSynth>,
    ) -> Rig {
        Self::build(dialogue, tools, settings, Some(synth))
    }

    fn build(
        dialogue: Box<dyn Dialogue>,
        tools: ToolRunner,
        settings: StageSettings,
        synth: Option<Box<dyn SpeechSynth>>,
    ) -> Rig {
        let (interrupter, epochs) = epoch_channel();
        let shutdown = Shutdown::new();
        let metrics = Metrics::new(SessionClock::starting_now());
        let (status, playout) = status_channel();
        let (spoken_publisher, spoken) = spoken_channel();
        let events = EventBus::default();
        let (transcripts, transcript_rx) = edge(EdgeSpec::new("stt_to_dialogue", 8, FullPolicy::Wait));
        let (reply_tx, reply_rx) = edge(EdgeSpec::new("dialogue_to_tts", 8, FullPolicy::Wait));
        let ctx = StageCtx::new(
            "dialogue",
            metrics.clone(),
            None,
            epochs.clone(),
            shutdown.watch(),
        );
        let mut handles = vec![spawn_stage(
            "dialogue",
            Placement::Thread,
            persona::dialogue::run_stage(
                ctx,
                dialogue,
                tools,
                settings,
                Hearing {
                    playout,
                    spoken: spoken.clone(),
                    events: events.clone(),
                },
                transcript_rx,
                reply_tx,
            ),
        )];
        let (replies, speech) = match synth {
            None => (Some(reply_rx), None),
            Some(synth) => {
                let (speech_tx, speech_rx) = edge(EdgeSpec::new("tts_to_motion", 4096, FullPolicy::Wait));
                let ctx = StageCtx::new("tts", metrics.clone(), None, epochs, shutdown.watch());
                handles.push(spawn_stage(
                    "tts",
                    Placement::Thread,
                    persona::tts::stage::run_stage(
                        ctx,
                        synth,
                        RATE_HZ,
                        spoken_publisher,
                        reply_rx,
                        speech_tx,
                        events.clone(),
                    ),
                ));
                (None, Some(speech_rx))
            }
        };
        Rig {
            interrupter,
            transcripts,
            replies,
            speech,
            status,
            spoken,
            metrics,
            events,
            shutdown,
            handles,
        }
    }

    /// A user turn: a new epoch (as the turn detector starts it), then its final transcript.
    pub async fn say(&mut self, text: &str) -> Epoch {
        let epoch = self.interrupter.bump();
        self.transcripts
            .send(Transcript {
                epoch,
                text: text.to_string(),
                is_final: true,
                committed_len: text.len(),
            })
            .await
            .expect("the dialogue stage is running");
        epoch
    }

    /// The next reply piece (dialogue-only rigs).
    pub async fn next_piece(&mut self) -> ReplyText {
        let replies = self.replies.as_mut().expect("a dialogue-only rig");
        tokio::time::timeout(PATIENCE, replies.recv())
            .await
            .expect("a reply piece in time")
            .expect("the dialogue stage is running")
    }

    /// A whole reply (dialogue-only rigs): its pieces up to the last, concatenated.
    pub async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let piece = self.next_piece().await;
            text.push_str(&piece.text);
            if piece.is_last {
                return text;
            }
        }
    }

    /// The next TTS item (speaking rigs).
    pub async fn next_speech(&mut self) -> TtsItem {
        let speech = self.speech.as_mut().expect("a speaking rig");
        tokio::time::timeout(PATIENCE, speech.recv())
            .await
            .expect("speech in time")
            .expect("the TTS stage is running")
    }

    /// Speech items until the utterance of `epoch` ends; returns its audio sample count.
    pub async fn speech_until_end(&mut self, epoch: Epoch) -> u64 {
        loop {
            let item = self.next_speech().await;
            if item.epoch == epoch
                && let TtsPayload::End { total_samples } = item.payload
            {
                return total_samples;
            }
        }
    }

    /// Tells the dialogue what the output is playing, as the playout does every chunk.
    pub fn playing(&self, epoch: Option<Epoch>, played_samples: u64) {
        self.status.publish(PlayoutStatus {
            speaking: epoch,
            played_samples,
            output_sample: played_samples,
        });
    }

    /// Stops the stages and waits for them.
    pub async fn stop(self) {
        self.shutdown.trigger();
        drop(self.transcripts);
        for handle in self.handles {
            handle.join().await.expect("the stage ends cleanly");
        }
    }
}
