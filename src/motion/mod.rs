//! Motion: turning speech into a pose per video frame.
//!
//! [`spec`] defines the pose; [`visemes`] maps espeak-ng phonemes to mouth shapes; [`rules`]
//! turns phoneme timings into coarticulated frames (the rule-based backend, and the teacher of
//! the learned one); [`energy`] moves the mouth from audio alone when no timings exist; [`idle`]
//! adds blinks, head drift and gaze on top of either. [`features`] computes the log-mel frames the
//! learned audio-to-motion model hears, and [`dataset`] makes its training data; [`model`] is that
//! model, streamed (the default backend).

mod coarticulation;
pub mod dataset;
pub mod energy;
pub mod eval;
pub mod features;
pub mod idle;
pub mod model;
pub mod rules;
pub mod spec;
pub mod stage;
pub mod visemes;

pub use energy::EnergyMotion;
pub use idle::IdleMotion;
pub use rules::RulesMotion;
pub use spec::{CHANNEL_COUNT, Channel, FrameClock, MotionFrame, MotionVector};
pub use visemes::{Phone, Viseme, phone_for, viseme_for};
