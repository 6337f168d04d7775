//! Encoding what the avatar says and shows into a file a browser can play.
//!
//! [`WebmWriter`] takes rendered [`VideoFrame`](crate::render::VideoFrame)s and mono output audio,
//! both stamped on the output audio clock, and writes a WebM file with VP8 video and Opus audio
//! that plays in ffmpeg and Chromium, with audio and video lined up to the sample clock.
//!
//! The parts are usable on their own: [`rgba_to_i420`] (colour conversion), [`Vp8Encoder`] and
//! [`OpusPacketizer`] (codecs, which the WebRTC transport can share) and a small Matroska muxer
//! (private: it writes only what this writer needs).
//!
//! [`Mp4Writer`] does the same as an MP4 with H.264 video (OpenH264) and Opus audio, for players
//! and tools that want MP4. [`MediaFile`] picks one by the file's extension.
//!
//! This module does not pace, resample or mix: it writes what it is given as fast as it can, on the
//! caller's thread. Audio must already be 48 kHz mono; frames must already be the configured size.

pub mod h264;
mod i420;
mod mkv;
pub mod mp4;
pub mod opus;
pub mod vp8;
pub mod webm;

use std::path::Path;

use std::path::PathBuf;

use thiserror::Error;

pub use i420::{i420_len, rgba_to_i420};
pub use mp4::{Mp4Config, Mp4Stats, Mp4Writer};
pub use opus::OpusPacketizer;
pub use vp8::{Vp8Config, Vp8Encoder};
pub use webm::{WebmConfig, WebmStats, WebmWriter};

/// The container formats persona writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// VP8 + Opus in WebM (the default: what browsers and WebRTC speak).
    Webm,
    /// H.264 + Opus in MP4.
    Mp4,
}

impl Container {
    /// The container a file name asks for, by its extension (`.webm`, `.mp4`), if any.
    pub fn from_path(path: &Path) -> Option<Container> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "webm" => Some(Container::Webm),
            "mp4" => Some(Container::Mp4),
            _ => None,
        }
    }
}

/// Settings shared by both containers.
#[derive(Clone, Debug)]
pub struct FileConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Must be 48 000.
    pub sample_rate_hz: u32,
    pub video_bitrate_kbps: u32,
}

/// A video file being written, in either container.
pub enum MediaFile {
    Webm(WebmWriter),
    Mp4(Mp4Writer),
}

/// What a finished file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStats {
    pub video_frames: u64,
    pub duration_ms: u64,
    pub bytes: u64,
}

impl MediaFile {
    pub fn create(path: &Path, container: Container, config: FileConfig) -> Result<MediaFile, EncodeError> {
        Ok(match container {
            Container::Webm => MediaFile::Webm(WebmWriter::create(
                path,
                WebmConfig {
                    width: config.width,
                    height: config.height,
                    fps: config.fps,
                    sample_rate_hz: config.sample_rate_hz,
                    video_bitrate_kbps: config.video_bitrate_kbps,
                    realtime: true,
                },
            )?),
            Container::Mp4 => MediaFile::Mp4(Mp4Writer::create(
                path,
                Mp4Config {
                    width: config.width,
                    height: config.height,
                    fps: config.fps,
                    sample_rate_hz: config.sample_rate_hz,
                    video_bitrate_kbps: config.video_bitrate_kbps,
                },
            )?),
        })
    }

    pub fn push_audio(&mut self, start_sample: u64, samples: &[f32]) -> Result<(), EncodeError> {
        match self {
            MediaFile::Webm(w) => w.push_audio(start_sample, samples),
            MediaFile::Mp4(w) => w.push_audio(start_sample, samples),
        }
    }

    pub fn push_video(&mut self, frame: &crate::render::VideoFrame) -> Result<(), EncodeError> {
        match self {
            MediaFile::Webm(w) => w.push_video(frame),
            MediaFile::Mp4(w) => w.push_video(frame),
        }
    }

    pub fn finish(self) -> Result<FileStats, EncodeError> {
        Ok(match self {
            MediaFile::Webm(w) => {
                let s = w.finish()?;
                FileStats {
                    video_frames: s.video_frames,
                    duration_ms: s.duration_ms,
                    bytes: s.bytes,
                }
            }
            MediaFile::Mp4(w) => {
                let s = w.finish()?;
                FileStats {
                    video_frames: s.video_frames,
                    duration_ms: s.duration_ms,
                    bytes: s.bytes,
                }
            }
        })
    }
}

/// Errors of the encoders and the WebM writer.
#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("cannot create the video file {path}: {source}. Check that the directory exists and is writable")]
    CreateFile { path: PathBuf, source: std::io::Error },
    #[error("writing the video file {path} failed: {source}. Check free disk space; the file is incomplete")]
    Write { path: PathBuf, source: std::io::Error },
    #[error(
        "video size {width}x{height} is odd: VP8 encodes 4:2:0 video, which needs an even width and height. \
         Render at an even size, e.g. {even_width}x{even_height}",
        even_width = width & !1,
        even_height = height & !1
    )]
    OddDimensions { width: u32, height: u32 },
    #[error(
        "video frame at sample {sample} is {got_width}x{got_height} with {got_bytes} bytes of RGBA, but the \
         encoder was set up for {width}x{height} ({expected_bytes} bytes). Render at the configured size or \
         create the writer with the renderer's size"
    )]
    FrameSize {
        sample: u64,
        width: u32,
        height: u32,
        expected_bytes: usize,
        got_width: u32,
        got_height: u32,
        got_bytes: usize,
    },
    #[error("{setting} = {value} is out of range: expected {expected}")]
    OutOfRange {
        setting: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error(
        "the {buffer} buffer for a {width}x{height} picture holds {got_bytes} bytes but must hold \
         {expected_bytes}; allocate it with the picture's size"
    )]
    BufferLength {
        buffer: &'static str,
        width: u32,
        height: u32,
        expected_bytes: usize,
        got_bytes: usize,
    },
    #[error(
        "audio pushed at output sample {start_sample} leaves a gap of {gap_samples} samples after the \
         last sample written ({end_sample}); gaps over {max_gap_s} s are refused as a clock error \
         rather than filled with silence. Check the start_sample passed to push_audio"
    )]
    AudioGap {
        start_sample: u64,
        end_sample: u64,
        gap_samples: u64,
        max_gap_s: u64,
    },
    #[error(
        "could not initialise the {codec} encoder with {params}: {reason}. Check that the system library \
         (libvpx / libopus) is installed and the parameters are in range"
    )]
    EncoderInit {
        codec: &'static str,
        params: String,
        reason: String,
    },
    #[error("the {codec} encoder failed: {reason}")]
    Encode { codec: &'static str, reason: String },
}

/// A frame an encoder of `width`×`height` can take: that size, RGBA, nothing more or less.
fn check_frame_size(frame: &crate::render::VideoFrame, width: u32, height: u32) -> Result<(), EncodeError> {
    let expected_bytes = width as usize * height as usize * 4;
    if frame.width != width || frame.height != height || frame.rgba.len() != expected_bytes {
        return Err(EncodeError::FrameSize {
            sample: frame.sample,
            width,
            height,
            expected_bytes,
            got_width: frame.width,
            got_height: frame.height,
            got_bytes: frame.rgba.len(),
        });
    }
    Ok(())
}
