//! Audio values and conversions shared by every stage: the frame type, WAV files, resampling.

pub mod frame;

pub use frame::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ, MAX_FRAME_SAMPLES};
