//! Motion: turning speech into a pose per video frame.

pub mod spec;

pub use spec::{CHANNEL_COUNT, Channel, FrameClock, MotionFrame, MotionVector};
