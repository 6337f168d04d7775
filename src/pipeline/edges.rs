//! Every edge of the pipeline, declared in one place: name, default capacity, full policy.
//!
//! Names match the `[edges]` keys a pipeline file may use to change a capacity
//! ([`crate::config::EDGE_NAMES`]); policies are fixed here so a review sees them.

use crate::config::PipelineConfig;
use crate::runtime::{EdgeSpec, FullPolicy};

/// Captured audio from a live source: it cannot wait, so the oldest audio goes (counted).
pub const CAPTURE_TO_RESAMPLE_LIVE: EdgeSpec =
    EdgeSpec::new("capture_to_resample", 50, FullPolicy::DropOldest);
/// Captured audio from a file played as fast as possible: the file can wait, nothing is lost.
pub const CAPTURE_TO_RESAMPLE_FILE: EdgeSpec = EdgeSpec::new("capture_to_resample", 50, FullPolicy::Wait);
pub const RESAMPLE_TO_VAD: EdgeSpec = EdgeSpec::new("resample_to_vad", 50, FullPolicy::Wait);
pub const VAD_TO_TURN: EdgeSpec = EdgeSpec::new("vad_to_turn", 50, FullPolicy::Wait);
/// Holds 2 s of turn audio; the STT stage only appends, so it is rarely more than one deep.
pub const TURN_TO_STT: EdgeSpec = EdgeSpec::new("turn_to_stt", 100, FullPolicy::Wait);
pub const STT_TO_DIALOGUE: EdgeSpec = EdgeSpec::new("stt_to_dialogue", 8, FullPolicy::Wait);
pub const DIALOGUE_TO_TTS: EdgeSpec = EdgeSpec::new("dialogue_to_tts", 8, FullPolicy::Wait);
/// Speech runs ahead of real time up to this bound, then TTS waits (its backlog is bounded by
/// one reply piece).
pub const TTS_TO_MOTION: EdgeSpec = EdgeSpec::new("tts_to_motion", 64, FullPolicy::Wait);
pub const MOTION_TO_PLAYOUT: EdgeSpec = EdgeSpec::new("motion_to_playout", 64, FullPolicy::Wait);
/// Audio chunks and frame requests in presentation order. Video lateness is handled by the
/// renderer, which skips frames it would draw too late, so audio is never dropped here.
pub const PLAYOUT_TO_RENDER: EdgeSpec = EdgeSpec::new("playout_to_render", 32, FullPolicy::Wait);
pub const RENDER_TO_SINK: EdgeSpec = EdgeSpec::new("render_to_sink", 16, FullPolicy::Wait);
/// What STT heard so far, back to the turn detector. Only the latest matters, and STT must
/// never wait on it (that would be a cycle): the oldest goes.
pub const STT_TO_TURN: EdgeSpec = EdgeSpec::new("stt_to_turn", 4, FullPolicy::DropOldest);

/// `spec` with the capacity the pipeline file sets for it, if any.
pub fn sized(spec: EdgeSpec, config: &PipelineConfig) -> EdgeSpec {
    match config.edge_capacities.get(spec.name) {
        Some(&capacity) => spec.with_capacity(capacity),
        None => spec,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_edge_can_be_sized_from_a_pipeline_file() {
        let declared = [
            CAPTURE_TO_RESAMPLE_LIVE,
            RESAMPLE_TO_VAD,
            VAD_TO_TURN,
            TURN_TO_STT,
            STT_TO_DIALOGUE,
            DIALOGUE_TO_TTS,
            TTS_TO_MOTION,
            MOTION_TO_PLAYOUT,
            PLAYOUT_TO_RENDER,
            RENDER_TO_SINK,
            STT_TO_TURN,
        ];
        let names: Vec<&str> = declared.iter().map(|e| e.name).collect();
        assert_eq!(names, crate::config::EDGE_NAMES);
        assert_eq!(CAPTURE_TO_RESAMPLE_FILE.name, CAPTURE_TO_RESAMPLE_LIVE.name);
    }
}
