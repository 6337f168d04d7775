//! The WebM file writer: VP8 video and Opus audio from the output clock, interleaved and muxed.
//!
//! Both inputs carry output-clock sample positions. A video frame is shown at
//! `frame.sample / sample_rate_hz`; audio sample `k` plays at `k / sample_rate_hz`. The Opus
//! encoder's lookahead is declared (as `CodecDelay` and in the `OpusHead`) rather than shifted
//! away, so decoders drop exactly those samples and the two tracks line up to the sample.
//!
//! Encoded packets wait in a small queue per track so they reach the file in timestamp order
//! whatever order the caller pushed them in, within [`MAX_INTERLEAVE_NS`]; a track that runs
//! further ahead than that is written anyway (its late partner gets a negative block offset),
//! so memory stays bounded.
//!
//! The writer does blocking file I/O and CPU-heavy encoding on the caller's thread: run it off
//! the async runtime. It does not pace or resample.

use std::collections::VecDeque;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use tracing::{debug, info, warn};

use super::mkv::{AUDIO_TRACK, Block, MkvMuxer, TrackSpec, VIDEO_TRACK};
use super::opus::{OPUS_RATE_HZ, OpusPacket, OpusPacketizer, SEEK_PRE_ROLL_NS, samples_to_ns};
use super::vp8::{Vp8Config, Vp8Encoder, Vp8Packet};
use super::{EncodeError, check_frame_size, i420_len, rgba_to_i420};
use crate::render::VideoFrame;

/// How far one track's queued packets may span before they are written without waiting for the
/// other track.
pub const MAX_INTERLEAVE_NS: u64 = 2_000_000_000;
/// The longest stretch of video without a keyframe (seeking and joining need one).
pub const KEYFRAME_INTERVAL_MS: u32 = 2_000;

/// What to write.
#[derive(Clone, Debug)]
pub struct WebmConfig {
    /// Even, at most 16383.
    pub width: u32,
    /// Even, at most 16383.
    pub height: u32,
    /// Nominal frame rate, for rate control and the track's default frame duration.
    pub fps: u32,
    /// Rate of the output clock that stamps frames and audio; must be 48 000 (Opus's rate).
    pub sample_rate_hz: u32,
    pub video_bitrate_kbps: u32,
    /// Fastest encoder settings (libvpx realtime deadline, CBR) instead of good quality (VBR).
    pub realtime: bool,
}

/// What was written, reported by [`WebmWriter::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebmStats {
    pub video_frames: u64,
    pub audio_packets: u64,
    /// Frames whose `sample` was not after the previous frame's.
    pub dropped_video_frames: u64,
    /// Presentation end of the longer track.
    pub duration_ms: u64,
    /// Size of the finished file.
    pub bytes: u64,
}

/// Writes one WebM file. Create, push audio and video in any interleaving, then [`finish`].
///
/// Dropping it without `finish` leaves a file without its last cluster, duration or index.
///
/// [`finish`]: WebmWriter::finish
pub struct WebmWriter {
    config: WebmConfig,
    video: Vp8Encoder,
    audio: OpusPacketizer,
    sink: Sink,
    /// Scratch for the current frame in I420, reused between frames.
    i420: Vec<u8>,
    /// Scratch for the encoder's output packets, reused between frames.
    vp8_packets: Vec<Vp8Packet>,
    last_video_sample: Option<u64>,
    /// Presentation end of the last video frame: its time plus one frame period.
    video_end_ns: u64,
    frame_duration_ns: u64,
    dropped_video_frames: u64,
}

impl WebmWriter {
    /// Checks `config`, starts both encoders and writes the file header. Nothing is created on
    /// disk if the configuration is invalid.
    pub fn create(path: &Path, config: WebmConfig) -> Result<Self, EncodeError> {
        // From here on the output clock and Opus share one rate, so `samples_to_ns` serves both.
        if config.sample_rate_hz != OPUS_RATE_HZ {
            return Err(EncodeError::OutOfRange {
                setting: "sample_rate_hz",
                value: config.sample_rate_hz.to_string(),
                expected: "48000: Opus in WebM runs at 48 kHz; resample the output clock first",
            });
        }
        let video = Vp8Encoder::new(Vp8Config {
            width: config.width,
            height: config.height,
            fps: config.fps,
            bitrate_kbps: config.video_bitrate_kbps,
            realtime: config.realtime,
            timebase_hz: config.sample_rate_hz,
            keyframe_interval_ms: KEYFRAME_INTERVAL_MS,
        })?;
        let audio = OpusPacketizer::new()?;
        let frame_duration_ns = 1_000_000_000 / u64::from(config.fps);
        let spec = TrackSpec {
            width: config.width,
            height: config.height,
            frame_duration_ns,
            opus_head: audio.opus_head(),
            codec_delay_ns: audio.codec_delay_ns(),
            seek_pre_roll_ns: SEEK_PRE_ROLL_NS,
            sample_rate_hz: config.sample_rate_hz,
        };

        let file = File::create(path).map_err(|source| EncodeError::CreateFile {
            path: path.to_path_buf(),
            source,
        })?;
        let muxer = MkvMuxer::new(BufWriter::new(file), &spec).map_err(|source| EncodeError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        info!(
            path = %path.display(),
            width = config.width,
            height = config.height,
            fps = config.fps,
            video_bitrate_kbps = config.video_bitrate_kbps,
            realtime = config.realtime,
            opus_pre_skip_samples = audio.pre_skip_samples(),
            "writing WebM"
        );
        Ok(WebmWriter {
            i420: vec![0; i420_len(config.width, config.height)],
            config,
            video,
            audio,
            sink: Sink {
                path: path.to_path_buf(),
                muxer,
                queue: Interleaver::default(),
                video_blocks: 0,
                audio_blocks: 0,
            },
            vp8_packets: Vec::with_capacity(2),
            last_video_sample: None,
            video_end_ns: 0,
            frame_duration_ns,
            dropped_video_frames: 0,
        })
    }

    /// Mono f32 audio at `sample_rate_hz`, any chunk size; `start_sample` is the output-clock
    /// position of `samples[0]`. Gaps (start_sample beyond what was written) are filled with
    /// silence; overlap is trimmed without error.
    pub fn push_audio(&mut self, start_sample: u64, samples: &[f32]) -> Result<(), EncodeError> {
        let sink = &mut self.sink;
        self.audio
            .push(start_sample, samples, |packet| sink.push_audio(packet))
    }

    /// Encodes a frame shown at `frame.sample / sample_rate_hz`. Frames must arrive in increasing
    /// `sample` order; a frame with a sample not greater than the previous one is dropped and
    /// counted. A frame of the wrong size is an error.
    pub fn push_video(&mut self, frame: &VideoFrame) -> Result<(), EncodeError> {
        let (width, height) = (self.config.width, self.config.height);
        check_frame_size(frame, width, height)?;
        if let Some(last) = self.last_video_sample
            && frame.sample <= last
        {
            if self.dropped_video_frames == 0 {
                warn!(
                    sample = frame.sample,
                    previous = last,
                    "video frame out of order; dropping it"
                );
            } else {
                debug!(
                    sample = frame.sample,
                    previous = last,
                    "video frame out of order; dropping it"
                );
            }
            self.dropped_video_frames += 1;
            return Ok(());
        }
        let pts = i64::try_from(frame.sample).map_err(|_| EncodeError::OutOfRange {
            setting: "VideoFrame::sample",
            value: frame.sample.to_string(),
            expected: "an output-clock sample position below 2^63",
        })?;

        rgba_to_i420(&frame.rgba, width, height, &mut self.i420)?;
        self.vp8_packets.clear();
        self.video.encode(&self.i420, pts, false, &mut self.vp8_packets)?;
        self.last_video_sample = Some(frame.sample);
        self.video_end_ns = self
            .video_end_ns
            .max(samples_to_ns(frame.sample) + self.frame_duration_ns);
        self.queue_video_packets()
    }

    /// Flushes both encoders (padding the last Opus packet and marking the padding), writes what
    /// is still queued, and completes the file's duration, size and index.
    pub fn finish(mut self) -> Result<WebmStats, EncodeError> {
        self.vp8_packets.clear();
        self.video.flush(&mut self.vp8_packets)?;
        self.queue_video_packets()?;
        let audio_end_ns = samples_to_ns(self.audio.end_sample());
        let sink = &mut self.sink;
        self.audio.finish(|packet| sink.push_audio(packet))?;
        self.sink.drain_all()?;

        let Sink {
            path,
            muxer,
            video_blocks,
            audio_blocks,
            ..
        } = self.sink;
        let late_blocks = muxer.late_blocks();
        let duration_ns = self.video_end_ns.max(audio_end_ns);
        let (_, bytes) = muxer.finalize(duration_ns).map_err(|source| EncodeError::Write {
            path: path.clone(),
            source,
        })?;
        let stats = WebmStats {
            video_frames: video_blocks,
            audio_packets: audio_blocks,
            dropped_video_frames: self.dropped_video_frames,
            duration_ms: (duration_ns + 500_000) / 1_000_000,
            bytes,
        };
        if late_blocks > 0 {
            warn!(
                late_blocks,
                "some packets arrived more than 2 s behind the other track and were written out of order"
            );
        }
        info!(path = %path.display(), ?stats, "WebM finished");
        Ok(stats)
    }

    fn queue_video_packets(&mut self) -> Result<(), EncodeError> {
        for packet in self.vp8_packets.drain(..) {
            // A packet's pts is its frame's output-clock sample, so never negative.
            let timestamp_ns = samples_to_ns(packet.pts.max(0) as u64);
            let queued = Queued {
                timestamp_ns,
                keyframe: packet.keyframe,
                data: packet.data,
                discard_padding_ns: 0,
            };
            self.sink.push(VIDEO_TRACK, queued)?;
        }
        Ok(())
    }
}

/// The muxer behind the interleaving queue, and the counts of what reached it.
struct Sink {
    path: PathBuf,
    muxer: MkvMuxer<BufWriter<File>>,
    queue: Interleaver,
    video_blocks: u64,
    audio_blocks: u64,
}

impl Sink {
    fn push_audio(&mut self, packet: OpusPacket) -> Result<(), EncodeError> {
        let queued = Queued {
            timestamp_ns: packet.decoder_time_ns(),
            keyframe: true,
            discard_padding_ns: samples_to_ns(u64::from(packet.discard_padding_samples)),
            data: packet.data,
        };
        self.push(AUDIO_TRACK, queued)
    }

    fn push(&mut self, track: u64, packet: Queued) -> Result<(), EncodeError> {
        self.queue.push(track, packet);
        while let Some((track, packet)) = self.queue.pop_ready() {
            self.write(track, &packet)?;
        }
        Ok(())
    }

    fn drain_all(&mut self) -> Result<(), EncodeError> {
        while let Some((track, packet)) = self.queue.pop_any() {
            self.write(track, &packet)?;
        }
        Ok(())
    }

    fn write(&mut self, track: u64, packet: &Queued) -> Result<(), EncodeError> {
        let block = Block {
            track,
            timestamp_ns: packet.timestamp_ns,
            keyframe: packet.keyframe,
            data: &packet.data,
            discard_padding_ns: packet.discard_padding_ns,
        };
        self.muxer
            .write_block(&block)
            .map_err(|source| EncodeError::Write {
                path: self.path.clone(),
                source,
            })?;
        if track == VIDEO_TRACK {
            self.video_blocks += 1;
        } else {
            self.audio_blocks += 1;
        }
        Ok(())
    }
}

/// An encoded packet waiting for its turn.
struct Queued {
    /// Container timestamp: presentation time for video, decoder time for Opus.
    timestamp_ns: u64,
    keyframe: bool,
    data: Vec<u8>,
    discard_padding_ns: u64,
}

/// Two FIFO queues, released in timestamp order across tracks.
#[derive(Default)]
struct Interleaver {
    video: VecDeque<Queued>,
    audio: VecDeque<Queued>,
}

impl Interleaver {
    fn push(&mut self, track: u64, packet: Queued) {
        if track == VIDEO_TRACK {
            self.video.push_back(packet);
        } else {
            self.audio.push_back(packet);
        }
    }

    /// The next packet that can be written without breaking timestamp order: the older head when
    /// both tracks have packets (video first on a tie, so clusters open on keyframes), or the head
    /// of a lone track once it spans more than [`MAX_INTERLEAVE_NS`].
    fn pop_ready(&mut self) -> Option<(u64, Queued)> {
        let span = |q: &VecDeque<Queued>| match (q.front(), q.back()) {
            (Some(first), Some(last)) => last.timestamp_ns.saturating_sub(first.timestamp_ns),
            _ => 0,
        };
        match (self.video.front(), self.audio.front()) {
            (Some(_), Some(_)) => self.pop_any(),
            (Some(_), None) if span(&self.video) > MAX_INTERLEAVE_NS => self.pop_any(),
            (None, Some(_)) if span(&self.audio) > MAX_INTERLEAVE_NS => self.pop_any(),
            _ => None,
        }
    }

    /// The older head of the two queues, whatever is still to come.
    fn pop_any(&mut self) -> Option<(u64, Queued)> {
        let video_first = match (self.video.front(), self.audio.front()) {
            (Some(v), Some(a)) => v.timestamp_ns <= a.timestamp_ns,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if video_first {
            self.video.pop_front().map(|p| (VIDEO_TRACK, p))
        } else {
            self.audio.pop_front().map(|p| (AUDIO_TRACK, p))
        }
    }
}

#[cfg(test)]
mod tests;
