//! Rendering: turning a pose into a picture of the avatar.
//!
//! An [`Avatar`] (loaded from `assets/avatars/NAME/`, see [`avatar`]) is a rig of layered images,
//! meshes and displacement targets. [`rig`] places it in a frame and deforms it for a pose; the
//! [`CpuRenderer`] and the [`GpuRenderer`] (wgpu) draw the same deformed meshes and agree to within
//! rounding. [`VideoFrame`] is what every renderer produces; [`stage`] is the pipeline stage, with
//! its frame pacing in [`pacing`].

pub mod avatar;
pub mod cpu;
pub mod frame;
pub mod gpu;
pub mod pacing;
pub mod rig;
pub mod stage;

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;

pub use avatar::{Avatar, AvatarError};
pub use cpu::CpuRenderer;
pub use frame::VideoFrame;
pub use gpu::GpuRenderer;

use crate::motion::MotionVector;

/// Largest frame side a renderer accepts: beyond it a frame is hundreds of megabytes.
pub const MAX_FRAME_SIDE_PX: u32 = 8192;

/// Errors of renderers.
#[derive(Debug, Error)]
pub enum RenderError {
    #[error(
        "cannot render {width}x{height} frames: width and height must each be between 1 and {max} pixels. Check the video size in the pipeline file"
    )]
    FrameSize { width: u32, height: u32, max: u32 },
    #[error(transparent)]
    Avatar(#[from] AvatarError),
    #[error("could not start the CPU renderer's threads: {0}")]
    Threads(String),
    /// No GPU adapter, or the GPU failed.
    #[error("GPU renderer: {0}")]
    Gpu(String),
}

/// Something that draws poses into frames of a fixed size.
pub trait Renderer: Send {
    fn width(&self) -> u32;
    fn height(&self) -> u32;
    /// `"cpu"` or `"gpu"`, for logs and reports.
    fn backend(&self) -> &'static str;
    /// Draws `pose` into `out` (opaque RGBA8), resizing it if needed; leaves `out.sample` alone.
    /// Non-finite channels read as neutral, others are clamped to their ranges.
    fn render(&mut self, pose: &MotionVector, out: &mut VideoFrame) -> Result<(), RenderError>;
    /// Pixel rectangle (x, y, w, h) of the closed mouth at the rest pose, for tests and tools.
    fn mouth_region(&self) -> (u32, u32, u32, u32);
}

/// Which renderer a session uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Cpu { threads: usize },
    Gpu,
}

/// The avatar in `dir`, or the built-in one (decoded once per process and shared).
pub fn load_avatar(dir: Option<&Path>) -> Result<Arc<Avatar>, AvatarError> {
    static BUILTIN: std::sync::OnceLock<Arc<Avatar>> = std::sync::OnceLock::new();
    match dir {
        Some(dir) => Ok(Arc::new(Avatar::load(dir)?)),
        None => Ok(BUILTIN.get_or_init(|| Arc::new(Avatar::builtin())).clone()),
    }
}

/// Builds the renderer a pipeline asks for.
pub fn build(
    backend: Backend,
    avatar: Arc<Avatar>,
    width: u32,
    height: u32,
) -> Result<Box<dyn Renderer>, RenderError> {
    Ok(match backend {
        Backend::Cpu { threads } => Box::new(CpuRenderer::new(avatar, width, height, threads)?),
        Backend::Gpu => Box::new(GpuRenderer::new(avatar, width, height)?),
    })
}
