//! Rendering: turning a pose into a picture of the face.
//!
//! [`FaceRenderer`] is the CPU renderer (a parametric 2-D face); [`VideoFrame`] is what every
//! renderer produces.

pub mod face;
pub mod frame;
pub mod stage;

pub use face::FaceRenderer;
pub use frame::VideoFrame;

use thiserror::Error;

/// Largest frame side a renderer accepts: beyond it a frame is hundreds of megabytes and
/// tiny-skia's coordinate precision runs out.
pub const MAX_FRAME_SIDE_PX: u32 = 8192;

/// Errors of renderers.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RenderError {
    #[error(
        "cannot render {width}x{height} frames: width and height must each be between 1 and {max} pixels. Check the video size in the pipeline file"
    )]
    FrameSize { width: u32, height: u32, max: u32 },
}
