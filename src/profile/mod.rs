//! The latency report of a session: what `persona profile` prints and writes as JSON.
//!
//! Built from a finished session's [`Metrics`]: one entry per user turn (its milestones and each
//! stage's first output in that turn, against the stage's budget), per-stage latency
//! percentiles and budget violations over every item, edge counters and interruptions. All
//! times are milliseconds from the start of the input.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runtime::Metrics;
use crate::runtime::edge::EdgeReport;
use crate::runtime::metrics::{StageSummary, TurnRecord};

/// Stage order in tables (the data path).
pub const STAGE_ORDER: &[&str] = &[
    "capture", "resample", "vad", "turn", "stt", "dialogue", "tts", "motion", "playout", "render", "sink",
];

/// One cut-off reply.
#[derive(Clone, Debug, Serialize)]
pub struct Interruption {
    /// The turn whose reply was cut off.
    pub turn: u64,
    /// When the barge-in was decided (or, without a decision, when the playout cut the reply).
    pub interrupted_at_ms: f64,
    pub interrupt_to_silence_ms: Option<f64>,
    /// The user's speech onset → the barge-in decision, on the input's media clock.
    pub detection_ms: Option<f64>,
}

/// A decision about user speech while the avatar was busy.
#[derive(Clone, Debug, Serialize)]
pub struct BargeInEntry {
    /// The turn whose reply was pending or playing.
    pub over_turn: u64,
    #[serde(flatten)]
    pub decision: crate::runtime::BargeInDecision,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    pub pipeline: String,
    pub input: String,
    pub input_duration_ms: f64,
    /// Wall time from start to the last stage finishing.
    pub session_ms: f64,
    pub turns: Vec<TurnRecord>,
    pub stages: BTreeMap<&'static str, StageSummary>,
    pub interruptions: Vec<Interruption>,
    /// Every barge-in decision, interrupting or not, in order.
    pub barge_in: Vec<BargeInEntry>,
    pub edges: Vec<EdgeReport>,
    pub counters: BTreeMap<&'static str, u64>,
}

impl ProfileReport {
    pub fn from_metrics(metrics: &Metrics, pipeline: String, input: String, input_duration_ms: f64) -> Self {
        let records = metrics.turns().records();
        let interruptions = records
            .iter()
            .filter_map(|t| {
                t.interrupted_at_ms.map(|at| Interruption {
                    turn: t.turn,
                    interrupted_at_ms: at,
                    interrupt_to_silence_ms: t.interrupt_to_silence_ms,
                    detection_ms: t.interrupt_detection_ms,
                })
            })
            .collect();
        let mut barge_in: Vec<BargeInEntry> = records
            .iter()
            .flat_map(|t| {
                t.barge_in.iter().map(|d| BargeInEntry {
                    over_turn: t.turn,
                    decision: d.clone(),
                })
            })
            .collect();
        barge_in.sort_by(|a, b| a.decision.decided_at_ms.total_cmp(&b.decision.decided_at_ms));
        let turns = records
            .into_iter()
            .filter(|t| t.user_speech_start_ms.is_some())
            .collect();
        ProfileReport {
            pipeline,
            input,
            input_duration_ms,
            session_ms: metrics.clock().now_ms(),
            turns,
            stages: metrics
                .stage_summaries()
                .into_iter()
                .map(|s| (s.name, s))
                .collect(),
            interruptions,
            barge_in,
            edges: metrics.edge_reports(),
            counters: metrics.counters(),
        }
    }

    /// Stages present in this report, in data-path order.
    fn stage_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = STAGE_ORDER
            .iter()
            .copied()
            .filter(|s| self.stages.contains_key(s))
            .collect();
        names.extend(self.stages.keys().copied().filter(|s| !STAGE_ORDER.contains(s)));
        names
    }

    /// Human-readable tables.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "pipeline {}  input {} ({:.1} s)",
            self.pipeline,
            self.input,
            self.input_duration_ms / 1000.0
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Turns (ms from the start of the input; response = first audio out - end of user speech)"
        );
        let _ = writeln!(
            out,
            "{:>4} {:>9} {:>9} {:>8} {:>6} {:>8} {:>9} {:>11} {:>11} {:>9} {:>9}  reason",
            "turn",
            "speech",
            "end",
            "endpt+",
            "wait",
            "partials",
            "stt final",
            "first audio",
            "first video",
            "response",
            "interrupt"
        );
        for t in &self.turns {
            let _ = writeln!(
                out,
                "{:>4} {:>9} {:>9} {:>8} {:>6} {:>8} {:>9} {:>11} {:>11} {:>9} {:>9}  {}",
                t.turn,
                ms(t.user_speech_start_ms),
                ms(t.user_speech_end_ms),
                ms(t.endpoint_delay_ms),
                ms(t.endpoint_wait_ms),
                t.partial_transcripts,
                ms(t.stt_final_ms),
                ms(t.first_audio_ms),
                ms(t.first_video_ms),
                ms(t.response_ms),
                ms(t.interrupt_to_silence_ms),
                t.endpoint_reason.map_or("-".to_string(), |r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                }),
            );
        }
        if !self.barge_in.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "Barge-in: user speech while the avatar was busy (onset and detection on the input clock)"
            );
            let _ = writeln!(
                out,
                "{:>9} {:>9} {:>9} {:>10} {:>11}  {:<12} heard",
                "over turn", "onset", "decided", "detection", "interrupted", "reason"
            );
            for BargeInEntry {
                over_turn: turn,
                decision: d,
            } in &self.barge_in
            {
                let _ = writeln!(
                    out,
                    "{:>9} {:>9.0} {:>9.0} {:>10.0} {:>11}  {:<12} {}",
                    turn,
                    d.speech_onset_media_ms,
                    d.decided_at_ms,
                    d.detection_ms,
                    if d.interrupted { "yes" } else { "no" },
                    d.reason,
                    d.heard.as_deref().map_or("-".to_string(), |h| shorten(h, 48))
                );
            }
        }
        if self.turns.iter().any(|t| t.reply_started_ms.is_some()) {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "Replies (ms from the final transcript reaching the dialogue)"
            );
            let _ = writeln!(
                out,
                "{:>4} {:>17} {:>15} {:>18}",
                "turn", "llm_first_token", "first_clause", "tts_first_audio"
            );
            for t in self.turns.iter().filter(|t| t.reply_started_ms.is_some()) {
                let fine = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
                let _ = writeln!(
                    out,
                    "{:>4} {:>17} {:>15} {:>18}",
                    t.turn,
                    fine(t.llm_first_token_ms),
                    fine(t.first_clause_ms),
                    fine(t.tts_first_audio_ms)
                );
            }
        }
        let names = self.stage_names();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Stage latency to its first output in each turn (ms; * = over budget)"
        );
        let _ = write!(out, "{:>4}", "turn");
        for name in &names {
            let _ = write!(out, " {name:>9}");
        }
        let _ = writeln!(out);
        for t in &self.turns {
            let _ = write!(out, "{:>4}", t.turn);
            for name in &names {
                let cell = t.stages.get(name).map_or("-".to_string(), |s| {
                    format!("{:.1}{}", s.latency_ms, if s.over_budget { "*" } else { "" })
                });
                let _ = write!(out, " {cell:>9}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Stages over every item (ms)");
        let _ = writeln!(
            out,
            "{:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>8} {:>10}",
            "stage", "items", "p50", "p95", "p99", "max", "budget", "violations"
        );
        for name in &names {
            let s = &self.stages[name];
            let _ = writeln!(
                out,
                "{:>9} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8} {:>10}",
                name,
                s.items,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.max_ms,
                s.budget_ms.map_or("-".into(), |b| format!("{b}")),
                s.violations
            );
        }
        let lossy: Vec<&EdgeReport> = self
            .edges
            .iter()
            .filter(|e| e.dropped > 0 || e.flushed > 0)
            .collect();
        if !lossy.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "Edges that dropped or flushed items");
            for e in lossy {
                let _ = writeln!(
                    out,
                    "  {:<20} dropped {:>6} ({:?}), flushed on interrupt {:>6}, peak {}/{}",
                    e.name, e.dropped, e.policy, e.flushed, e.high_water, e.capacity
                );
            }
        }
        let counters: Vec<String> = self
            .counters
            .iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        if !counters.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "Counters: {}", counters.join(", "));
        }
        out
    }
}

/// `text` cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Epoch, SessionClock, TurnMark};
    use std::time::Duration;

    #[test]
    fn the_report_keeps_user_turns_and_names_every_stage() {
        let metrics = Metrics::new(SessionClock::starting_now());
        let meter = metrics.stage("stt", Some(Duration::from_micros(1)));
        let now = tokio::time::Instant::now();
        meter.record(Some(Epoch(1)), now, now + Duration::from_millis(5));
        metrics
            .turns()
            .mark(Epoch(0), 1.0, TurnMark::FirstAudioOut { media_ms: 0.0 }); // a greeting, not a user turn
        metrics
            .turns()
            .mark(Epoch(1), 0.0, TurnMark::UserSpeechStart { media_ms: 500.0 });
        metrics
            .turns()
            .mark(Epoch(1), 0.0, TurnMark::UserSpeechEnd { media_ms: 1500.0 });
        metrics
            .turns()
            .mark(Epoch(1), 1900.0, TurnMark::FirstAudioOut { media_ms: 1880.0 });
        metrics.turns().mark(Epoch(1), 1700.0, TurnMark::ReplyStarted);
        metrics.turns().mark(Epoch(1), 1750.0, TurnMark::LlmFirstToken);
        metrics.turns().mark(Epoch(1), 1790.0, TurnMark::FirstClause);
        metrics.turns().mark(Epoch(1), 1792.5, TurnMark::TtsFirstAudio);
        let report = ProfileReport::from_metrics(&metrics, "p".into(), "in.wav".into(), 3000.0);
        assert_eq!(report.turns.len(), 1);
        assert_eq!(report.turns[0].response_ms, Some(400.0));
        assert_eq!(report.stages["stt"].violations, 1);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["turns"][0]["stages"]["stt"]["over_budget"], true);
        assert!(json["stages"]["stt"]["p99_ms"].as_f64().unwrap() > 4.0);
        assert_eq!(json["turns"][0]["llm_first_token_ms"], 50.0);
        assert_eq!(json["turns"][0]["first_clause_ms"], 90.0);
        assert_eq!(json["turns"][0]["tts_first_audio_ms"], 92.5);
        let text = report.render_text();
        assert!(text.contains("stt") && text.contains('*'), "{text}");
        assert!(
            text.contains("llm_first_token") && text.contains("92.5"),
            "{text}"
        );
    }

    #[test]
    fn listening_figures_and_barge_in_decisions_are_reported() {
        let metrics = Metrics::new(SessionClock::starting_now());
        let log = metrics.turns();
        let turn = Epoch(1);
        log.mark(turn, 0.0, TurnMark::UserSpeechStart { media_ms: 500.0 });
        log.mark(turn, 0.0, TurnMark::UserSpeechEnd { media_ms: 1500.0 });
        log.mark(
            turn,
            2000.0,
            TurnMark::Endpoint {
                reason: crate::runtime::EndpointReason::MaxWait,
                delay_ms: 500.0,
            },
        );
        log.mark(turn, 2000.0, TurnMark::EndpointWait { wait_ms: 500.0 });
        log.mark(turn, 1000.0, TurnMark::PartialTranscript);
        log.mark(turn, 1200.0, TurnMark::PartialTranscript);
        log.mark(turn, 2300.0, TurnMark::SttFinal { ms: 312.0 });
        let decision = |interrupted, reason, decided_at_ms| crate::runtime::BargeInDecision {
            interrupted,
            reason,
            speech_onset_media_ms: 3000.0,
            detection_ms: 800.0,
            decided_at_ms,
            heard: Some("mhm".into()),
        };
        log.mark(
            turn,
            3900.0,
            TurnMark::BargeIn(decision(false, "too_short", 3900.0)),
        );
        log.mark(turn, 5800.0, TurnMark::BargeIn(decision(true, "speech", 5800.0)));
        log.mark(turn, 5820.0, TurnMark::Silenced);
        let report = ProfileReport::from_metrics(&metrics, "p".into(), "in.wav".into(), 6000.0);
        let t = &report.turns[0];
        assert_eq!((t.partial_transcripts, t.stt_final_ms), (2, Some(312.0)));
        assert_eq!(report.barge_in.len(), 2);
        assert_eq!(report.interruptions[0].interrupt_to_silence_ms, Some(20.0));
        assert_eq!(report.interruptions[0].detection_ms, Some(800.0));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["turns"][0]["endpoint_reason"], "max_wait");
        assert_eq!(json["barge_in"][0]["reason"], "too_short");
        assert_eq!(json["barge_in"][1]["over_turn"], 1);
        let text = report.render_text();
        for needle in ["max_wait", "312", "too_short", "Barge-in", "mhm"] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }
}
