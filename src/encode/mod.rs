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
//! This module does not pace, resample or mix: it writes what it is given as fast as it can, on the
//! caller's thread. Audio must already be 48 kHz mono; frames must already be the configured size.

mod i420;
mod mkv;
pub mod opus;
pub mod vp8;
pub mod webm;

use std::path::PathBuf;

use thiserror::Error;

pub use i420::{i420_len, rgba_to_i420};
pub use opus::OpusPacketizer;
pub use vp8::{Vp8Config, Vp8Encoder};
pub use webm::{WebmConfig, WebmStats, WebmWriter};

/// Errors of the encoders and the WebM writer.
#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("cannot create the WebM file {path}: {source}. Check that the directory exists and is writable")]
    CreateFile { path: PathBuf, source: std::io::Error },
    #[error("writing the WebM file {path} failed: {source}. Check free disk space; the file is incomplete")]
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
