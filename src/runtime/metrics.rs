//! Latency budgets and the per-turn timeline: what `persona profile` reports.
//!
//! Each stage owns a [`StageMeter`]. For every input that leads to an output, the stage's shell
//! records the time from the input's arrival to that output: a latency histogram (p50/p95/p99),
//! a violation counter against the stage's budget from the pipeline file, and — once per turn —
//! the stage's first output of that turn in the [`TurnLog`]. Stages also write turn milestones
//! (speech start/end, transcript, first audio and video out) into the log.
//!
//! All times in reports are milliseconds since the session started ([`SessionClock`]). Nothing
//! here is unbounded: the turn log keeps the most recent [`MAX_TURNS_KEPT`] turns.
//!
//! Instants are tokio's: the same as std's in a build, and a virtual clock under a paused test runtime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

use super::edge::{EdgeReport, EdgeStats};
use super::epoch::Epoch;

/// Turns kept in the log; older ones are forgotten so a long session stays flat in memory.
pub const MAX_TURNS_KEPT: usize = 1000;

/// Longest latency the histograms resolve (longer values are clamped).
const HISTOGRAM_MAX_US: u64 = 120_000_000;

/// Wall-clock origin of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionClock {
    start: Instant,
}

impl SessionClock {
    pub fn starting_now() -> Self {
        SessionClock {
            start: Instant::now(),
        }
    }

    pub fn starting_at(start: Instant) -> Self {
        SessionClock { start }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Milliseconds from the session start to `at` (0 for earlier instants).
    pub fn ms_at(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0
    }

    pub fn now_ms(&self) -> f64 {
        self.ms_at(Instant::now())
    }
}

/// Why a user turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointReason {
    /// Enough silence after speech.
    Silence,
    /// The turn reached its maximum length.
    MaxDuration,
    /// The input ended while the user was speaking.
    EndOfInput,
    /// The turn model (Smart Turn) judged the turn complete once the user paused.
    Model,
    /// The pause reached the hard maximum wait while the rules still expected more.
    MaxWait,
}

/// One decision about user speech that began while the avatar was busy (speaking, or about to
/// answer): did it take the floor?
#[derive(Clone, Debug, Serialize)]
pub struct BargeInDecision {
    /// Whether it interrupted the avatar (bumped the epoch).
    pub interrupted: bool,
    /// Why (snake_case), e.g. `speech`, `words`, `backchannel`, `not_speech`.
    pub reason: &'static str,
    /// Onset of the user's speech on the input's media clock (ms).
    pub speech_onset_media_ms: f64,
    /// Onset to decision, on the media clock: how long the user spoke before it was decided.
    pub detection_ms: f64,
    /// When it was decided (ms since session start).
    pub decided_at_ms: f64,
    /// What the streaming STT had heard by then, if anything.
    pub heard: Option<String>,
}

/// Barge-in decisions kept per turn; more are counted, not stored.
pub const MAX_BARGE_IN_DECISIONS: usize = 32;

/// One stage's first output in one turn.
#[derive(Clone, Debug, Serialize)]
pub struct StageTurn {
    /// When the stage first produced output in this turn (ms since session start).
    pub first_output_ms: f64,
    /// Time from the input that caused that output to the output.
    pub latency_ms: f64,
    pub budget_ms: Option<f64>,
    pub over_budget: bool,
}

/// Everything measured about one user turn.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TurnRecord {
    pub turn: u64,
    pub user_speech_start_ms: Option<f64>,
    pub user_speech_end_ms: Option<f64>,
    /// When the turn detector decided the user had finished.
    pub endpoint_ms: Option<f64>,
    pub endpoint_reason: Option<EndpointReason>,
    /// `endpoint_ms - user_speech_end_ms`, on the media clock.
    pub endpoint_delay_ms: Option<f64>,
    pub transcript: Option<String>,
    pub reply: Option<String>,
    pub first_audio_ms: Option<f64>,
    pub first_video_ms: Option<f64>,
    /// Where the first answer audio sits on the output media clock (ms of output audio).
    pub first_audio_media_ms: Option<f64>,
    /// Where the first answer video frame sits on the output media clock: within one frame of
    /// `first_audio_media_ms` when lip sync holds, however late the frame was drawn.
    pub first_video_media_ms: Option<f64>,
    /// `first_audio_ms - user_speech_end_ms`: what the user waits for.
    pub response_ms: Option<f64>,
    /// Set when the avatar's answer to this turn was cut off by an interrupt.
    pub interrupted_at_ms: Option<f64>,
    /// When the output went silent after that interrupt.
    pub silenced_at_ms: Option<f64>,
    pub interrupt_to_silence_ms: Option<f64>,
    /// When the dialogue received the final transcript and began its reply.
    pub reply_started_ms: Option<f64>,
    /// From `reply_started_ms` to the language model's first token (model backends only).
    pub llm_first_token_ms: Option<f64>,
    /// From `reply_started_ms` to the first clause sent to TTS.
    pub first_clause_ms: Option<f64>,
    /// From `reply_started_ms` to the reply's first audio leaving TTS.
    pub tts_first_audio_ms: Option<f64>,
    pub stages: BTreeMap<&'static str, StageTurn>,
    /// The silence the endpointer was waiting for when the turn ended (ms).
    pub endpoint_wait_ms: Option<f64>,
    /// Partial transcripts the streaming STT emitted during this turn.
    pub partial_transcripts: u32,
    /// End of turn (its end marker reaching STT) → final transcript.
    pub stt_final_ms: Option<f64>,
    /// Decisions about user speech while this turn's reply was pending or playing.
    pub barge_in: Vec<BargeInDecision>,
    /// Decisions beyond [`MAX_BARGE_IN_DECISIONS`], counted only.
    pub barge_in_uncounted: u32,
    /// Onset → decision of the barge-in that cut this turn's reply off (media clock, ms).
    pub interrupt_detection_ms: Option<f64>,
}

/// A milestone in a turn, written by the stage that observes it.
#[derive(Clone, Debug)]
pub enum TurnMark {
    UserSpeechStart {
        media_ms: f64,
    },
    UserSpeechEnd {
        media_ms: f64,
    },
    Endpoint {
        reason: EndpointReason,
        delay_ms: f64,
    },
    Transcript(String),
    Reply(String),
    /// The first answer audio left, starting at `media_ms` on the output clock.
    FirstAudioOut {
        media_ms: f64,
    },
    /// The first answer video frame left, showing `media_ms` of the output clock.
    FirstVideoOut {
        media_ms: f64,
    },
    Interrupted,
    Silenced,
    /// The wait in force when the endpoint was decided.
    EndpointWait {
        wait_ms: f64,
    },
    /// A partial transcript was emitted.
    PartialTranscript,
    SttFinal {
        ms: f64,
    },
    /// A decision about speech over this turn's reply. An interrupting one also marks the
    /// interruption (at the decision time), so `interrupt_to_silence_ms` counts from it.
    BargeIn(BargeInDecision),
    /// The dialogue began answering the final transcript.
    ReplyStarted,
    /// The language model's first token arrived.
    LlmFirstToken,
    /// The dialogue sent the first clause of its reply to TTS.
    FirstClause,
    /// TTS sent the reply's first audio.
    TtsFirstAudio,
}

/// Per-turn records, bounded.
#[derive(Debug, Default)]
pub struct TurnLog {
    turns: Mutex<BTreeMap<Epoch, TurnRecord>>,
}

impl TurnLog {
    fn with_turn(&self, epoch: Epoch, update: impl FnOnce(&mut TurnRecord)) {
        let mut turns = self.turns.lock();
        let record = turns.entry(epoch).or_insert_with(|| TurnRecord {
            turn: epoch.0,
            ..TurnRecord::default()
        });
        update(record);
        while turns.len() > MAX_TURNS_KEPT {
            turns.pop_first();
        }
    }

    /// Records `mark` for `epoch` at `at_ms`. First-time milestones keep their first value.
    pub fn mark(&self, epoch: Epoch, at_ms: f64, mark: TurnMark) {
        self.with_turn(epoch, |t| match mark {
            TurnMark::UserSpeechStart { media_ms } => {
                t.user_speech_start_ms.get_or_insert(media_ms);
            }
            TurnMark::UserSpeechEnd { media_ms } => t.user_speech_end_ms = Some(media_ms),
            TurnMark::Endpoint { reason, delay_ms } => {
                t.endpoint_ms = Some(at_ms);
                t.endpoint_reason = Some(reason);
                t.endpoint_delay_ms = Some(delay_ms);
            }
            TurnMark::Transcript(text) => t.transcript = Some(text),
            TurnMark::Reply(text) => match &mut t.reply {
                Some(reply) => {
                    reply.push(' ');
                    reply.push_str(&text);
                }
                None => t.reply = Some(text),
            },
            TurnMark::FirstAudioOut { media_ms } => {
                if t.first_audio_ms.is_none() {
                    t.first_audio_ms = Some(at_ms);
                    t.first_audio_media_ms = Some(media_ms);
                    t.response_ms = t.user_speech_end_ms.map(|end| at_ms - end);
                }
            }
            TurnMark::FirstVideoOut { media_ms } => {
                if t.first_video_ms.is_none() {
                    t.first_video_ms = Some(at_ms);
                    t.first_video_media_ms = Some(media_ms);
                }
            }
            TurnMark::Interrupted => {
                t.interrupted_at_ms.get_or_insert(at_ms);
            }
            TurnMark::Silenced => {
                if t.silenced_at_ms.is_none() {
                    t.silenced_at_ms = Some(at_ms);
                    t.interrupt_to_silence_ms = t.interrupted_at_ms.map(|i| at_ms - i);
                }
            }
            TurnMark::EndpointWait { wait_ms } => t.endpoint_wait_ms = Some(wait_ms),
            TurnMark::PartialTranscript => t.partial_transcripts += 1,
            TurnMark::SttFinal { ms } => {
                t.stt_final_ms.get_or_insert(ms);
            }
            TurnMark::BargeIn(decision) => {
                if decision.interrupted {
                    t.interrupted_at_ms.get_or_insert(decision.decided_at_ms);
                    t.interrupt_detection_ms.get_or_insert(decision.detection_ms);
                }
                if t.barge_in.len() < MAX_BARGE_IN_DECISIONS {
                    t.barge_in.push(decision);
                } else {
                    t.barge_in_uncounted += 1;
                }
            }
            TurnMark::ReplyStarted => {
                t.reply_started_ms.get_or_insert(at_ms);
            }
            TurnMark::LlmFirstToken => {
                if t.llm_first_token_ms.is_none() {
                    t.llm_first_token_ms = t.reply_started_ms.map(|start| at_ms - start);
                }
            }
            TurnMark::FirstClause => {
                if t.first_clause_ms.is_none() {
                    t.first_clause_ms = t.reply_started_ms.map(|start| at_ms - start);
                }
            }
            TurnMark::TtsFirstAudio => {
                if t.tts_first_audio_ms.is_none() {
                    t.tts_first_audio_ms = t.reply_started_ms.map(|start| at_ms - start);
                }
            }
        });
    }

    fn first_output(&self, epoch: Epoch, stage: &'static str, entry: StageTurn) {
        self.with_turn(epoch, |t| {
            t.stages.entry(stage).or_insert(entry);
        });
    }

    pub fn records(&self) -> Vec<TurnRecord> {
        self.turns.lock().values().cloned().collect()
    }

    /// The newest turn recorded (the log drops the oldest, so a count would stop growing).
    pub fn latest(&self) -> Option<Epoch> {
        self.turns.lock().last_key_value().map(|(epoch, _)| *epoch)
    }

    /// One turn's record so far.
    pub fn record(&self, epoch: Epoch) -> Option<TurnRecord> {
        self.turns.lock().get(&epoch).cloned()
    }
}

/// One stage's latency accounting.
#[derive(Debug)]
pub struct StageMeter {
    name: &'static str,
    budget: Option<Duration>,
    clock: SessionClock,
    histogram_us: Mutex<Histogram<u64>>,
    violations: AtomicU64,
    /// Epoch of the last first-output written to the turn log, so the log's lock is taken once
    /// per turn instead of once per item. `u64::MAX` before the first output.
    last_logged_epoch: AtomicU64,
    turns: Arc<TurnLog>,
}

/// A snapshot of a stage's latencies.
#[derive(Clone, Debug, Serialize)]
pub struct StageSummary {
    pub name: &'static str,
    pub items: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub budget_ms: Option<f64>,
    pub violations: u64,
}

impl StageMeter {
    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn budget(&self) -> Option<Duration> {
        self.budget
    }

    /// Records one output caused by an input that arrived at `input_at`; `turn` is the turn it
    /// belongs to (`None`: it counts in the histogram only).
    pub fn record(&self, turn: Option<Epoch>, input_at: Instant, output_at: Instant) {
        let latency = output_at.saturating_duration_since(input_at);
        let latency_us = (latency.as_micros() as u64).clamp(1, HISTOGRAM_MAX_US);
        self.histogram_us.lock().saturating_record(latency_us);
        let over_budget = self.budget.is_some_and(|budget| latency > budget);
        if over_budget {
            self.violations.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                stage = self.name,
                latency_ms = latency.as_secs_f64() * 1e3,
                "over budget"
            );
        }
        let Some(epoch) = turn else {
            return;
        };
        if self.last_logged_epoch.swap(epoch.0, Ordering::Relaxed) != epoch.0 {
            let latency_ms = latency.as_secs_f64() * 1000.0;
            tracing::info!(
                stage = self.name,
                turn = epoch.0,
                latency_ms,
                "first output of turn"
            );
            self.turns.first_output(
                epoch,
                self.name,
                StageTurn {
                    first_output_ms: self.clock.ms_at(output_at),
                    latency_ms,
                    budget_ms: self.budget.map(|b| b.as_secs_f64() * 1000.0),
                    over_budget,
                },
            );
        }
    }

    /// A copy of the latency histogram (microseconds), for merging across sessions.
    pub fn histogram_us(&self) -> Histogram<u64> {
        self.histogram_us.lock().clone()
    }

    pub fn violations(&self) -> u64 {
        self.violations.load(Ordering::Relaxed)
    }

    pub fn summary(&self) -> StageSummary {
        let histogram = self.histogram_us.lock();
        let at = |q: f64| {
            if histogram.is_empty() {
                0.0
            } else {
                histogram.value_at_quantile(q) as f64 / 1000.0
            }
        };
        StageSummary {
            name: self.name,
            items: histogram.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: histogram.max() as f64 / 1000.0,
            budget_ms: self.budget.map(|b| b.as_secs_f64() * 1000.0),
            violations: self.violations.load(Ordering::Relaxed),
        }
    }
}

/// Everything a session measures: stage meters, edge counters and the turn log.
#[derive(Debug)]
pub struct Metrics {
    clock: SessionClock,
    turns: Arc<TurnLog>,
    stages: Mutex<Vec<Arc<StageMeter>>>,
    edges: Mutex<Vec<Arc<EdgeStats>>>,
    /// Named counters that are not per-stage latencies (dropped video frames, underruns …).
    counters: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn new(clock: SessionClock) -> Arc<Self> {
        Arc::new(Metrics {
            clock,
            turns: Arc::new(TurnLog::default()),
            stages: Mutex::new(Vec::new()),
            edges: Mutex::new(Vec::new()),
            counters: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn clock(&self) -> SessionClock {
        self.clock
    }

    pub fn turns(&self) -> &TurnLog {
        &self.turns
    }

    /// Marks a turn milestone at the current time.
    pub fn mark(&self, epoch: Epoch, mark: TurnMark) {
        self.turns.mark(epoch, self.clock.now_ms(), mark);
    }

    /// Creates (and registers) the meter of a stage.
    pub fn stage(&self, name: &'static str, budget: Option<Duration>) -> Arc<StageMeter> {
        let meter = Arc::new(StageMeter {
            name,
            budget,
            clock: self.clock,
            histogram_us: Mutex::new(
                Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3)
                    .expect("static histogram bounds are valid"),
            ),
            violations: AtomicU64::new(0),
            last_logged_epoch: AtomicU64::new(u64::MAX),
            turns: self.turns.clone(),
        });
        self.stages.lock().push(meter.clone());
        meter
    }

    pub fn register_edge(&self, stats: Arc<EdgeStats>) {
        self.edges.lock().push(stats);
    }

    pub fn count(&self, counter: &'static str, by: u64) {
        *self.counters.lock().entry(counter).or_insert(0) += by;
    }

    /// The stage meters, for exporting their histograms.
    pub fn stage_meters(&self) -> Vec<Arc<StageMeter>> {
        self.stages.lock().clone()
    }

    pub fn stage_summaries(&self) -> Vec<StageSummary> {
        self.stages.lock().iter().map(|m| m.summary()).collect()
    }

    pub fn edge_reports(&self) -> Vec<EdgeReport> {
        self.edges.lock().iter().map(|e| e.report()).collect()
    }

    pub fn counters(&self) -> BTreeMap<&'static str, u64> {
        self.counters.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_violations_are_counted_and_first_outputs_logged_once_per_turn() {
        let start = Instant::now();
        let metrics = Metrics::new(SessionClock::starting_at(start));
        let meter = metrics.stage("stt", Some(Duration::from_millis(10)));
        let ms = |n: u64| start + Duration::from_millis(n);

        meter.record(Some(Epoch(1)), ms(100), ms(105)); // 5 ms: within budget
        meter.record(Some(Epoch(1)), ms(200), ms(230)); // 30 ms: over, but not the turn's first
        meter.record(None, ms(250), ms(251)); // idle output: histogram only
        meter.record(Some(Epoch(2)), ms(300), ms(325)); // 25 ms: over, first of turn 2

        let summary = meter.summary();
        assert_eq!(summary.items, 4);
        assert_eq!(summary.violations, 2);
        assert_eq!(summary.budget_ms, Some(10.0));
        assert!((summary.p50_ms - 5.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 30.0).abs() < 0.1, "{summary:?}");

        let turns = metrics.turns().records();
        assert_eq!(turns.len(), 2);
        let first = &turns[0].stages["stt"];
        assert!((first.first_output_ms - 105.0).abs() < 1e-6);
        assert!(!first.over_budget);
        let second = &turns[1].stages["stt"];
        assert!((second.latency_ms - 25.0).abs() < 1e-6);
        assert!(second.over_budget);
    }

    #[test]
    fn turn_milestones_derive_response_and_interrupt_times() {
        let log = TurnLog::default();
        let turn = Epoch(3);
        log.mark(turn, 0.0, TurnMark::UserSpeechEnd { media_ms: 1000.0 });
        log.mark(turn, 1450.0, TurnMark::FirstAudioOut { media_ms: 1440.0 });
        log.mark(turn, 1500.0, TurnMark::FirstAudioOut { media_ms: 1500.0 });
        log.mark(turn, 2000.0, TurnMark::Interrupted);
        log.mark(turn, 2030.0, TurnMark::Silenced);
        let record = &log.records()[0];
        assert_eq!(record.first_audio_ms, Some(1450.0));
        assert_eq!(record.response_ms, Some(450.0));
        assert_eq!(record.first_audio_media_ms, Some(1440.0));
        assert_eq!(record.interrupt_to_silence_ms, Some(30.0));
    }

    #[test]
    fn a_barge_in_decision_starts_the_interrupt_clock_and_decisions_are_bounded() {
        let log = TurnLog::default();
        let turn = Epoch(2);
        let decision = |interrupted: bool| BargeInDecision {
            interrupted,
            reason: if interrupted { "speech" } else { "backchannel" },
            speech_onset_media_ms: 900.0,
            detection_ms: 620.0,
            decided_at_ms: 1520.0,
            heard: None,
        };
        log.mark(turn, 1000.0, TurnMark::BargeIn(decision(false)));
        log.mark(turn, 1521.0, TurnMark::BargeIn(decision(true)));
        // The playout's own mark comes later and does not move the start.
        log.mark(turn, 1524.0, TurnMark::Interrupted);
        log.mark(turn, 1540.0, TurnMark::Silenced);
        let record = &log.records()[0];
        assert_eq!(record.interrupted_at_ms, Some(1520.0));
        assert_eq!(record.interrupt_to_silence_ms, Some(20.0));
        assert_eq!(record.interrupt_detection_ms, Some(620.0));
        assert_eq!(record.barge_in.len(), 2);
        for _ in 0..MAX_BARGE_IN_DECISIONS {
            log.mark(turn, 2000.0, TurnMark::BargeIn(decision(false)));
        }
        let record = &log.records()[0];
        assert_eq!(record.barge_in.len(), MAX_BARGE_IN_DECISIONS);
        assert_eq!(record.barge_in_uncounted, 2);
    }

    #[test]
    fn reply_milestones_count_from_the_start_of_the_reply() {
        let log = TurnLog::default();
        let turn = Epoch(2);
        log.mark(turn, 1_000.0, TurnMark::ReplyStarted);
        log.mark(turn, 1_180.0, TurnMark::LlmFirstToken);
        log.mark(turn, 1_250.0, TurnMark::FirstClause);
        log.mark(turn, 1_253.5, TurnMark::TtsFirstAudio);
        log.mark(turn, 1_900.0, TurnMark::TtsFirstAudio); // a later piece: ignored
        let record = &log.records()[0];
        assert_eq!(record.llm_first_token_ms, Some(180.0));
        assert_eq!(record.first_clause_ms, Some(250.0));
        assert_eq!(record.tts_first_audio_ms, Some(253.5));
    }

    #[test]
    fn the_turn_log_is_bounded() {
        let log = TurnLog::default();
        for n in 0..(MAX_TURNS_KEPT as u64 + 10) {
            log.mark(Epoch(n), 0.0, TurnMark::FirstAudioOut { media_ms: 0.0 });
        }
        let records = log.records();
        assert_eq!(records.len(), MAX_TURNS_KEPT);
        assert_eq!(records[0].turn, 10);
    }
}
