//! What a session tells the person in front of it, as it happens: what it heard, what it is
//! doing, the words it is saying and how long the answer took.
//!
//! A web session forwards these to the browser (the data channel of `persona serve`), where the
//! widget shows captions, the agent's state and the user's own words. Stages publish on an
//! [`EventBus`]: a `tokio` broadcast channel of fixed capacity, so a slow reader loses the
//! oldest events (it is told how many) and can never hold a stage up or grow memory. With no
//! reader (`persona profile`, `say`) publishing is a counter check: no event is even built.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::runtime::{Epoch, TurnRecord};

/// Events kept for a reader that has fallen behind.
pub const EVENT_BACKLOG: usize = 256;

/// What the agent is doing, as the user should see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Waiting for the user (nothing of the agent is playing).
    Listening,
    /// The user's turn ended; the answer is being prepared.
    Thinking,
    /// The answer's audio is playing.
    Speaking,
}

/// One thing worth telling the user interface. Serialised as JSON with a `type` tag, the wire
/// format of the web agent's data channel.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SessionEvent {
    State {
        state: AgentState,
        turn: u64,
    },
    /// The user's words: partial while they speak (may still change), final once the turn ended
    /// (typed text is final at once).
    Transcript {
        turn: u64,
        text: String,
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// A word of the agent's answer, `start_ms` after the start of that turn's answer audio.
    Caption {
        turn: u64,
        word: String,
        start_ms: f64,
    },
    /// The agent's whole answer text, once the dialogue finished it.
    Reply {
        turn: u64,
        text: String,
    },
    /// How long the answer took, in ms from the end of the user's turn (the end of their speech,
    /// or the moment typed text was taken): to its first audio and to its first video frame
    /// leaving the output; with the parts where the time went, where known.
    Latency {
        turn: u64,
        response_ms: Option<f64>,
        video_response_ms: Option<f64>,
        /// End of speech → the turn detector's decision.
        endpoint_delay_ms: Option<f64>,
        /// End of turn → final transcript.
        stt_final_ms: Option<f64>,
        /// Reply started → its first audio out of TTS.
        tts_first_audio_ms: Option<f64>,
    },
}

impl SessionEvent {
    /// The latency event of a finished turn record.
    pub fn latency(record: &TurnRecord) -> SessionEvent {
        SessionEvent::Latency {
            turn: record.turn,
            response_ms: record.response_ms,
            video_response_ms: record
                .first_video_ms
                .zip(record.user_speech_end_ms)
                .map(|(video, end)| video - end),
            endpoint_delay_ms: record.endpoint_delay_ms,
            stt_final_ms: record.stt_final_ms,
            tts_first_audio_ms: record.tts_first_audio_ms,
        }
    }

    /// JSON text for the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("session events always serialise")
    }
}

/// Where stages publish [`SessionEvent`]s; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventBus(broadcast::Sender<SessionEvent>);

impl Default for EventBus {
    fn default() -> Self {
        EventBus(broadcast::channel(EVENT_BACKLOG).0)
    }
}

impl EventBus {
    /// A new reader: it sees every event published from now on (up to [`EVENT_BACKLOG`] behind).
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.0.subscribe()
    }

    /// Publishes the event `make` builds, only if anybody reads (never blocks).
    pub fn publish(&self, make: impl FnOnce() -> SessionEvent) {
        if self.0.receiver_count() > 0 {
            let _ = self.0.send(make());
        }
    }

    /// The agent's state changed.
    pub fn state(&self, epoch: Epoch, state: AgentState) {
        self.publish(|| SessionEvent::State { state, turn: epoch.0 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_to_the_documented_wire_format() {
        let caption = SessionEvent::Caption {
            turn: 3,
            word: "Hello".into(),
            start_ms: 120.0,
        };
        assert_eq!(
            caption.to_json(),
            r#"{"type":"caption","turn":3,"word":"Hello","start_ms":120.0}"#
        );
        let transcript = SessionEvent::Transcript {
            turn: 2,
            text: "hi".into(),
            is_final: true,
        };
        assert_eq!(
            transcript.to_json(),
            r#"{"type":"transcript","turn":2,"text":"hi","final":true}"#
        );
        let state = SessionEvent::State {
            state: AgentState::Speaking,
            turn: 2,
        };
        assert_eq!(state.to_json(), r#"{"type":"state","state":"speaking","turn":2}"#);
    }

    #[test]
    fn a_slow_reader_loses_the_oldest_events_and_publishing_never_blocks() {
        let bus = EventBus::default();
        let mut built = 0;
        bus.publish(|| {
            built += 1;
            SessionEvent::Reply {
                turn: 1,
                text: "unread".into(),
            }
        });
        assert_eq!(built, 0, "no reader: nothing is built");

        let mut reader = bus.subscribe();
        for turn in 0..(EVENT_BACKLOG as u64 + 10) {
            bus.state(Epoch(turn), AgentState::Thinking);
        }
        match reader.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(lost)) => assert_eq!(lost, 10),
            other => panic!("expected the reader to have lagged, got {other:?}"),
        }
        let next = reader.try_recv().expect("the kept events are readable");
        assert_eq!(
            next,
            SessionEvent::State {
                state: AgentState::Thinking,
                turn: 10
            }
        );
    }
}
