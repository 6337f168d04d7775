//! The sans-IO playout core: the output media clock, and where lip sync is made exact.
//!
//! The output is one continuous stream of audio samples at the output rate — the media clock —
//! emitted in 20 ms chunks. Each utterance arrives on its own clock (sample 0 = its first
//! sample); when it starts playing, the core fixes its offset on the output clock, and from then
//! on every audio sample *and* every pose is placed by that one offset. A video frame at output
//! sample `F` shows the pose interpolated at utterance sample `F - offset`, so audio and mouth
//! cannot drift apart: sync is by construction, not by tuning.
//!
//! Two modes. [`PlayoutMode::RealTime`]: the caller steps the core as wall time passes; chunks
//! leave when due whether or not speech is ready (silence and idle motion fill the gaps, late
//! motion holds the last pose, an audio underrun delays the rest of the utterance). An utterance
//! starts when its first audio and first pose are there, or after `start_wait` with audio alone.
//! [`PlayoutMode::Offline`]: for files — a chunk leaves only when everything it needs has
//! arrived, and there is no idle time between utterances.
//!
//! Poses: every frame is the idle motion (blinks, head drift, gaze) overlaid on the speech pose
//! while an utterance plays; when speech stops — its end, or an interrupt — what it added eases
//! out ([`IdleMotion::release`]) rather than snapping away, so neither the mouth nor the head
//! jumps.
//!
//! The core never reads a clock: time is the output sample position the caller says has come.

use std::collections::VecDeque;

use crate::audio::{AudioFrame, MAX_FRAME_SAMPLES};
use crate::motion::stage::{SpeechItem, SpeechPayload};
use crate::motion::{FrameClock, IdleMotion, MotionFrame, MotionVector};
use crate::runtime::Epoch;

/// Audio frames buffered across utterances before the core stops taking input (2 s at 20 ms).
pub const AUDIO_BUFFER_FRAMES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayoutMode {
    RealTime,
    Offline,
}

#[derive(Clone, Copy, Debug)]
pub struct PlayoutSettings {
    pub sample_rate_hz: u32,
    pub fps: u32,
    pub mode: PlayoutMode,
    /// Longest wait for the first pose once an utterance's audio is there (real time only).
    pub start_wait_samples: u64,
    /// Seed of the idle motion (blinks, head drift, gaze).
    pub idle_seed: u64,
}

/// A picture to render: the pose for the video frame at output sample `sample`.
#[derive(Clone, Copy, Debug)]
pub struct FrameRequest {
    /// Output-clock sample of the frame (its presentation time).
    pub sample: u64,
    /// Global video frame number.
    pub frame_index: u64,
    pub pose: MotionVector,
    /// The utterance whose speech the frame shows, if any.
    pub epoch: Option<Epoch>,
}

/// Milestones the output reports as they pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputMark {
    UtteranceStarted(Epoch),
    UtteranceFinished(Epoch),
    /// The first silent chunk after the utterance of `interrupted` was cut off.
    Silenced {
        interrupted: Epoch,
    },
}

#[derive(Debug)]
pub enum PlayoutOutput {
    /// A chunk on the output clock; `epoch` is set when it carries speech.
    Audio(AudioFrame),
    Video(FrameRequest),
    Mark(OutputMark),
}

/// Counters worth reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlayoutStats {
    /// Chunks played as silence in the middle of an utterance because its audio was late.
    pub underrun_chunks: u64,
    /// Video frames shown with a held pose because their motion was late.
    pub late_poses: u64,
    pub utterances: u64,
    pub interrupted: u64,
}

struct Utterance {
    epoch: Epoch,
    /// Contiguous audio on the utterance clock, oldest first.
    audio: VecDeque<AudioFrame>,
    /// Utterance samples received so far.
    audio_end: u64,
    /// Poses received, ascending frame index; frames before the one in use are dropped.
    motion: VecDeque<MotionFrame>,
    /// Known once the utterance's `End` arrived (all audio and poses are then in).
    total_samples: Option<u64>,
    /// Output sample of utterance sample 0, once playing.
    offset: Option<u64>,
    /// Utterance samples already played.
    played: u64,
    /// Output sample at which the audio was ready but the first pose was not.
    waiting_since: Option<u64>,
}

impl Utterance {
    fn new(epoch: Epoch) -> Self {
        Utterance {
            epoch,
            audio: VecDeque::new(),
            audio_end: 0,
            motion: VecDeque::new(),
            total_samples: None,
            offset: None,
            played: 0,
            waiting_since: None,
        }
    }

    fn is_complete(&self) -> bool {
        self.total_samples.is_some()
    }

    fn is_done(&self) -> bool {
        self.total_samples.is_some_and(|total| self.played >= total)
    }

    /// Has the pose for utterance-local `sample` and the next one (for interpolation)?
    fn has_pose_for(&self, clock: &FrameClock, sample: u64) -> bool {
        if self.is_complete() {
            return true;
        }
        let needed = clock.frame_at_sample(sample) + 1;
        self.motion.back().is_some_and(|m| m.frame_index >= needed)
    }

    /// The pose at utterance-local `sample`, interpolated between the frames around it.
    fn pose_at(&mut self, clock: &FrameClock, sample: u64) -> Option<MotionVector> {
        let k = clock.frame_at_sample(sample);
        while self.motion.len() > 1 && self.motion[1].frame_index <= k {
            self.motion.pop_front();
        }
        let first = self.motion.front()?;
        if first.frame_index > k {
            return None;
        }
        let start = clock.frame_start_sample(k);
        let end = clock.frame_start_sample(k + 1);
        let t = (sample - start) as f32 / (end - start).max(1) as f32;
        Some(match self.motion.get(1) {
            Some(next) if next.frame_index == k + 1 => first.vector.lerp(&next.vector, t),
            _ => first.vector,
        })
    }
}

/// The output clock and A/V scheduler.
pub struct Playout {
    settings: PlayoutSettings,
    clock: FrameClock,
    chunk_samples: usize,
    idle: IdleMotion,
    next_chunk_sample: u64,
    next_video_frame: u64,
    current: Option<Utterance>,
    next: Option<Utterance>,
    silence_mark: Option<Epoch>,
    /// Items of epochs older than this were interrupted and are ignored.
    epoch_floor: Epoch,
    input_closed: bool,
    last_speech_pose: MotionVector,
    /// The first frame without speech after speech was shown: from it the speech part of the
    /// pose eases out ([`IdleMotion::release`]) instead of snapping to the idle pose.
    speech_ended_at_frame: Option<u64>,
    showing_speech: bool,
    outputs: VecDeque<PlayoutOutput>,
    stats: PlayoutStats,
}

impl Playout {
    pub fn new(settings: PlayoutSettings) -> Self {
        let clock = FrameClock::new(settings.sample_rate_hz, settings.fps);
        Playout {
            chunk_samples: (settings.sample_rate_hz as usize / 50).min(MAX_FRAME_SAMPLES),
            idle: IdleMotion::new(clock, settings.idle_seed),
            clock,
            settings,
            next_chunk_sample: 0,
            next_video_frame: 0,
            current: None,
            next: None,
            silence_mark: None,
            epoch_floor: Epoch(0),
            input_closed: false,
            last_speech_pose: MotionVector::NEUTRAL,
            speech_ended_at_frame: None,
            showing_speech: false,
            outputs: VecDeque::new(),
            stats: PlayoutStats::default(),
        }
    }

    pub fn stats(&self) -> PlayoutStats {
        self.stats
    }

    /// Output sample at which the next chunk starts (it is due at that time in real time).
    pub fn next_chunk_sample(&self) -> u64 {
        self.next_chunk_sample
    }

    /// Whether the core has room for more input (else the caller leaves it in the edge).
    pub fn wants_input(&self) -> bool {
        let buffered = self.current.as_ref().map_or(0, |u| u.audio.len())
            + self.next.as_ref().map_or(0, |u| u.audio.len());
        buffered < AUDIO_BUFFER_FRAMES
    }

    /// What is playing now (see [`super::status`]).
    pub fn status(&self) -> super::status::PlayoutStatus {
        let playing = self.current.as_ref().filter(|u| u.offset.is_some());
        super::status::PlayoutStatus {
            speaking: playing.map(|u| u.epoch),
            played_samples: playing.map_or(0, |u| u.played),
            output_sample: self.next_chunk_sample,
        }
    }

    /// Whether an utterance is currently being played.
    pub fn is_speaking(&self) -> bool {
        self.current.as_ref().is_some_and(|u| u.offset.is_some())
    }

    pub fn push(&mut self, item: SpeechItem) {
        let epoch = item.epoch;
        if epoch < self.epoch_floor {
            return;
        }
        let slot = match (&self.current, &self.next) {
            (None, _) => &mut self.current,
            (Some(current), _) if current.epoch == epoch => &mut self.current,
            (Some(current), _) if current.epoch > epoch => return,
            (Some(_), Some(next)) if next.epoch > epoch => return,
            (Some(_), _) => &mut self.next,
        };
        if slot.as_ref().is_none_or(|u| u.epoch != epoch) {
            *slot = Some(Utterance::new(epoch));
        }
        let utterance = slot.as_mut().expect("set above");
        match item.payload {
            SpeechPayload::Audio(frame) => {
                utterance.audio_end = frame.end_sample();
                utterance.audio.push_back(frame);
            }
            SpeechPayload::Motion(frame) => utterance.motion.push_back(frame),
            SpeechPayload::End { total_samples } => utterance.total_samples = Some(total_samples),
        }
    }

    /// A new epoch began: drops older utterances. Returns the epoch whose playing speech was
    /// cut off, if any.
    pub fn interrupt(&mut self, epoch: Epoch) -> Option<Epoch> {
        self.epoch_floor = self.epoch_floor.max(epoch);
        if self.next.as_ref().is_some_and(|u| u.epoch < epoch) {
            self.next = None;
        }
        let current = self.current.take_if(|u| u.epoch < epoch)?;
        self.current = self.next.take();
        if current.offset.is_some() && !current.is_done() {
            self.stats.interrupted += 1;
            self.silence_mark = Some(current.epoch);
            return Some(current.epoch);
        }
        None
    }

    /// No more input will come.
    pub fn close_input(&mut self) {
        self.input_closed = true;
    }

    /// True when the input is closed and everything has been played.
    pub fn is_finished(&self) -> bool {
        self.input_closed && self.current.is_none() && self.next.is_none() && self.silence_mark.is_none()
    }

    pub fn poll_output(&mut self) -> Option<PlayoutOutput> {
        self.outputs.pop_front()
    }

    /// Emits every chunk that may leave by output sample `now_sample` (real time), or every
    /// chunk whose content is complete (offline; pass `u64::MAX`).
    pub fn step(&mut self, now_sample: u64) {
        while self.next_chunk_sample <= now_sample {
            if !self.emit_chunk() {
                return;
            }
        }
    }

    /// Emits one chunk at `next_chunk_sample`; false if (offline) it is not ready yet.
    fn emit_chunk(&mut self) -> bool {
        let at = self.next_chunk_sample;
        let offline = self.settings.mode == PlayoutMode::Offline;
        if offline {
            if self.current.is_none() && !self.input_closed {
                return false;
            }
            if self.current.is_none() {
                // Offline output ends with the last utterance; no idle tail.
                return false;
            }
        }
        self.maybe_start(at);
        if offline && !self.chunk_ready(at) {
            return false;
        }

        let mut chunk = AudioFrame::silence(self.settings.sample_rate_hz, at, self.chunk_samples);
        let mut chunk_len = self.chunk_samples;
        let mut speech_epoch = None;
        let mut finished = None;
        if let Some(utterance) = self.current.as_mut()
            && let Some(offset) = utterance.offset
        {
            let local = at - offset;
            let wanted_end = local + self.chunk_samples as u64;
            let available_end = utterance
                .total_samples
                .map_or(utterance.audio_end, |t| t.min(utterance.audio_end));
            if available_end >= wanted_end || utterance.is_complete() {
                let end = wanted_end.min(available_end);
                copy_audio(&mut utterance.audio, local, end, chunk.samples_mut());
                utterance.played = end;
                speech_epoch = Some(utterance.epoch);
                if utterance.is_done() {
                    finished = Some(utterance.epoch);
                    if offline {
                        chunk_len = (end - local) as usize;
                    }
                }
            } else {
                // Real-time underrun: play silence and push the rest of the utterance later.
                self.stats.underrun_chunks += 1;
                utterance.offset = Some(offset + self.chunk_samples as u64);
            }
        }
        if chunk_len < self.chunk_samples {
            let mut shorter = AudioFrame::silence(self.settings.sample_rate_hz, at, chunk_len);
            shorter
                .samples_mut()
                .copy_from_slice(&chunk.samples()[..chunk_len]);
            chunk = shorter;
        }

        // Video frames whose presentation time falls inside this chunk.
        let chunk_end = at + chunk_len as u64;
        loop {
            let frame_sample = self.clock.frame_start_sample(self.next_video_frame);
            if frame_sample >= chunk_end {
                break;
            }
            let request = self.frame_request(self.next_video_frame, frame_sample);
            self.outputs.push_back(PlayoutOutput::Video(request));
            self.next_video_frame += 1;
        }

        if speech_epoch.is_none()
            && let Some(interrupted) = self.silence_mark.take()
        {
            self.outputs
                .push_back(PlayoutOutput::Mark(OutputMark::Silenced { interrupted }));
        }
        if let Some(epoch) = speech_epoch {
            chunk = chunk.with_epoch(epoch);
        }
        self.outputs.push_back(PlayoutOutput::Audio(chunk));
        if let Some(epoch) = finished {
            self.outputs
                .push_back(PlayoutOutput::Mark(OutputMark::UtteranceFinished(epoch)));
            self.current = self.next.take();
        }
        self.next_chunk_sample = chunk_end;
        true
    }

    /// Starts the current utterance at output sample `at` if it is ready to.
    fn maybe_start(&mut self, at: u64) {
        let start_wait = self.settings.start_wait_samples;
        let offline = self.settings.mode == PlayoutMode::Offline;
        let Some(utterance) = self.current.as_mut() else {
            return;
        };
        if utterance.offset.is_some() {
            return;
        }
        if utterance.is_complete() && utterance.total_samples == Some(0) {
            // Nothing to say (empty reply or synthesis failure): skip it.
            self.outputs
                .push_back(PlayoutOutput::Mark(OutputMark::UtteranceFinished(
                    utterance.epoch,
                )));
            self.current = self.next.take();
            return;
        }
        let has_audio = !utterance.audio.is_empty();
        let has_pose = !utterance.motion.is_empty() || utterance.is_complete();
        let start = if offline {
            has_audio
        } else if has_audio && has_pose {
            true
        } else if has_audio {
            let since = *utterance.waiting_since.get_or_insert(at);
            at - since >= start_wait
        } else {
            false
        };
        if start {
            utterance.offset = Some(at);
            self.stats.utterances += 1;
            self.outputs
                .push_back(PlayoutOutput::Mark(OutputMark::UtteranceStarted(utterance.epoch)));
        }
    }

    /// Offline: is everything the chunk at `at` needs here?
    fn chunk_ready(&self, at: u64) -> bool {
        let Some(utterance) = self.current.as_ref() else {
            return false;
        };
        let Some(offset) = utterance.offset else {
            return false;
        };
        let local = at - offset;
        let wanted_end = local + self.chunk_samples as u64;
        if utterance.audio_end < wanted_end && !utterance.is_complete() {
            return false;
        }
        let chunk_end = at + self.chunk_samples as u64;
        let mut frame = self.next_video_frame;
        loop {
            let frame_sample = self.clock.frame_start_sample(frame);
            if frame_sample >= chunk_end {
                return true;
            }
            if frame_sample >= offset && !utterance.has_pose_for(&self.clock, frame_sample - offset) {
                return false;
            }
            frame += 1;
        }
    }

    fn frame_request(&mut self, frame_index: u64, frame_sample: u64) -> FrameRequest {
        let clock = self.clock;
        let mut epoch = None;
        let mut speech_pose = None;
        if let Some(utterance) = self.current.as_mut()
            && let Some(offset) = utterance.offset
            && frame_sample >= offset
            && utterance
                .total_samples
                .is_none_or(|total| frame_sample - offset < total)
        {
            epoch = Some(utterance.epoch);
            match utterance.pose_at(&clock, frame_sample - offset) {
                Some(pose) => speech_pose = Some(pose),
                None => {
                    self.stats.late_poses += 1;
                    speech_pose = Some(self.last_speech_pose);
                }
            }
        }
        let pose = match speech_pose {
            Some(pose) => {
                self.last_speech_pose = pose;
                self.showing_speech = true;
                self.speech_ended_at_frame = None;
                self.idle.overlay(frame_index, &pose)
            }
            None => {
                if std::mem::take(&mut self.showing_speech) {
                    self.speech_ended_at_frame = Some(frame_index);
                }
                let released = self.speech_ended_at_frame.and_then(|end| {
                    self.idle.release(
                        frame_index,
                        &self.last_speech_pose,
                        frame_index.saturating_sub(end),
                    )
                });
                match released {
                    Some(pose) => pose,
                    None => {
                        self.speech_ended_at_frame = None;
                        self.idle.pose_at_frame(frame_index)
                    }
                }
            }
        };
        FrameRequest {
            sample: frame_sample,
            frame_index,
            pose,
            epoch,
        }
    }
}

/// Copies utterance samples `[from, to)` into `out`, dropping frames that are fully played.
fn copy_audio(audio: &mut VecDeque<AudioFrame>, from: u64, to: u64, out: &mut [f32]) {
    let mut cursor = from;
    while cursor < to {
        let Some(frame) = audio.front() else {
            return;
        };
        if frame.end_sample() <= cursor {
            audio.pop_front();
            continue;
        }
        let start_in_frame = (cursor - frame.start_sample) as usize;
        let take = ((to - cursor) as usize).min(frame.len() - start_in_frame);
        let out_start = (cursor - from) as usize;
        out[out_start..out_start + take]
            .copy_from_slice(&frame.samples()[start_in_frame..start_in_frame + take]);
        cursor += take as u64;
        if frame.end_sample() <= cursor {
            audio.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
