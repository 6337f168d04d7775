//! The actor runtime every stage runs on: bounded edges, epochs and interrupts, latency
//! budgets, the media clock and shutdown.

pub mod epoch;
