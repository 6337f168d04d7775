//! Transports: where audio comes from and where the avatar's audio and video go.
//!
//! Sources produce captured audio frames on the input's own sample clock; sinks consume the
//! rendered output stamped on the output clock. Only this module (and the CLI and the web
//! server) touch files, devices and networks.

pub mod live;
pub mod sink;
pub mod wav_source;

pub use wav_source::{Pacing, WavSource};
