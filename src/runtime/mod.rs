//! The actor runtime every stage runs on: bounded edges, epochs and interrupts, latency
//! budgets, the media clock and shutdown. It knows nothing about audio, text or faces.

pub mod edge;
pub mod epoch;
pub mod metrics;
pub mod priority;
pub mod shutdown;
pub mod stage;

pub use edge::{EdgeSpec, FullPolicy, Receiver, Sender, TrySendError, edge};
pub use epoch::{CancelProbe, Epoch, EpochWatch, Interrupter, epoch_channel};
pub use metrics::{BargeInDecision, EndpointReason, Metrics, SessionClock, StageMeter, TurnMark, TurnRecord};
pub use shutdown::{Shutdown, ShutdownWatch};
pub use stage::{
    Event, Placement, SideEvent, StageCtx, StageError, StageHandle, Stamped, Unstamped, spawn_stage,
};
