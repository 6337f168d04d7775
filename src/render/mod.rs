//! Rendering: turning a pose into a picture of the face.

pub mod frame;

pub use frame::VideoFrame;
