//! persona: a real-time conversational avatar.
//!
//! A person speaks; a face listens, answers aloud and moves its lips, eyes and head in sync.
//! The data path is a chain of stage actors joined by bounded edges:
//!
//! ```text
//! capture → resample → vad → turn → stt → dialogue → tts → motion → playout → render → sink
//! ```
//!
//! [`runtime`] holds what every stage shares (edges, epochs, budgets, the media clock,
//! shutdown); each stage has its own module with a sans-IO core and its backends.
//! See ARCHITECTURE.md for the map.

// Audio frames travel by value inside the item enums on edges, so audio edges never allocate;
// the lint's fix (boxing the large variant) would allocate once per item.
#![allow(clippy::large_enum_variant)]

pub mod audio;
pub mod config;
pub mod dialogue;
pub mod doctor;
pub mod encode;
pub mod models;
pub mod motion;
pub mod onnx;
pub mod pipeline;
pub mod playout;
pub mod profile;
pub mod redact;
pub mod render;
pub mod runtime;
pub mod serve;
pub mod stt;
pub mod transport;
pub mod tts;
pub mod turn;
pub mod vad;
