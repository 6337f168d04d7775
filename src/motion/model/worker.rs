//! [`MotionWorker`]: one inference thread per model, shared by every session, batching the chunks
//! that are waiting when it wakes.
//!
//! Motion stages send [`ChunkRequest`]s and await the poses; the worker thread takes the first
//! request, drains whatever else is already queued (up to [`MAX_BATCH`]), runs chunks of equal
//! length as one batch and answers each request. It never waits for a batch to fill, so a lone
//! session pays no latency for batching, and N sessions whose chunks come due together cost one
//! call instead of N. Each stream has at most one chunk in flight, so the queue holds at most one
//! request per session; it is bounded at [`QUEUE_CAPACITY`] all the same.
//!
//! [`MotionWorker::shared`] hands out one worker per (model file, device, threads) in the process;
//! the thread ends when the last session holding it is gone (its request queue closes).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{mpsc, oneshot};

use super::net::{ChunkRequest, MotionNet};
use super::{ModelError, ModelMeta};
use crate::onnx::{Device, OnnxError, SessionOptions};

/// Most chunks run in one call.
pub const MAX_BATCH: usize = 64;
/// Requests that may wait for the worker (one per active stream at most).
pub const QUEUE_CAPACITY: usize = 256;

struct Job {
    request: ChunkRequest,
    /// Held by the stream awaiting the poses; dropped when its session ended (the answer is
    /// then discarded).
    reply: oneshot::Sender<Result<Vec<f32>, ModelError>>,
}

/// Counters of the worker's calls.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    chunks: AtomicU64,
    largest_batch: AtomicU64,
}

/// What the worker has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Model calls (batches).
    pub calls: u64,
    /// Chunks answered.
    pub chunks: u64,
    pub largest_batch: u64,
}

/// The shared inference thread of one model.
pub struct MotionWorker {
    meta: Arc<ModelMeta>,
    path: PathBuf,
    options: SessionOptions,
    /// The request queue; the worker thread holds the receiving end and stops when every sender
    /// (every handle on this worker) is gone.
    jobs: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

#[derive(Clone, PartialEq)]
struct Key {
    path: PathBuf,
    device: Device,
    threads: usize,
}

static SHARED: Mutex<Vec<(Key, Weak<MotionWorker>)>> = Mutex::new(Vec::new());

impl MotionWorker {
    /// Loads the model (errors surface here, before any session runs) and starts its thread.
    pub fn start(path: &Path, options: SessionOptions) -> Result<Arc<MotionWorker>, ModelError> {
        let net = MotionNet::load(path, options)?;
        let meta = net.meta().clone();
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        std::thread::Builder::new()
            .name("motion-model".into())
            .spawn(move || serve(net, queue, &thread_counters))
            .map_err(|source| ModelError::ModelRead {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Arc::new(MotionWorker {
            meta,
            path: path.to_path_buf(),
            options,
            jobs,
            counters,
        }))
    }

    /// The process's worker for this model and device, started on first use.
    pub fn shared(path: &Path, options: SessionOptions) -> Result<Arc<MotionWorker>, ModelError> {
        let key = Key {
            path: path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
            device: options.device,
            threads: options.intra_threads,
        };
        let mut shared = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        shared.retain(|(_, worker)| worker.strong_count() > 0);
        if let Some(worker) = shared
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, worker)| worker.upgrade())
        {
            return Ok(worker);
        }
        let worker = Self::start(path, options)?;
        shared.push((key, Arc::downgrade(&worker)));
        Ok(worker)
    }

    pub fn meta(&self) -> &Arc<ModelMeta> {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn options(&self) -> SessionOptions {
        self.options
    }

    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            calls: self.counters.calls.load(Ordering::Relaxed),
            chunks: self.counters.chunks.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Runs one chunk, batched with whatever other sessions have waiting; for async callers.
    pub async fn infer(&self, request: ChunkRequest) -> Result<Vec<f32>, ModelError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| ModelError::WorkerStopped)?;
        answer.await.map_err(|_| ModelError::WorkerStopped)?
    }

    /// [`Self::infer`] for threads outside an async runtime (tools, tests, benchmarks).
    ///
    /// # Panics
    /// When called on an async task (it blocks).
    pub fn infer_blocking(&self, request: ChunkRequest) -> Result<Vec<f32>, ModelError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .blocking_send(Job { request, reply })
            .map_err(|_| ModelError::WorkerStopped)?;
        answer.blocking_recv().map_err(|_| ModelError::WorkerStopped)?
    }
}

/// The worker thread: batch what is queued, run, answer; until every handle is gone.
fn serve(mut net: MotionNet, mut queue: mpsc::Receiver<Job>, counters: &Counters) {
    let mut pending: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        pending.push(first);
        while pending.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => pending.push(job),
                Err(_) => break,
            }
        }
        // Chunks of one length share a call; the stable sort keeps arrival order within each.
        pending.sort_by_key(|job| job.request.frames);
        while !pending.is_empty() {
            let frames = pending[0].request.frames;
            let n = pending.iter().take_while(|j| j.request.frames == frames).count();
            let group: Vec<Job> = pending.drain(..n).collect();
            let requests: Vec<&ChunkRequest> = group.iter().map(|job| &job.request).collect();
            let result = net.run(&requests);
            counters.calls.fetch_add(1, Ordering::Relaxed);
            counters.chunks.fetch_add(n as u64, Ordering::Relaxed);
            counters.largest_batch.fetch_max(n as u64, Ordering::Relaxed);
            match result {
                Ok(poses) => {
                    for (job, pose) in group.into_iter().zip(poses) {
                        let _ = job.reply.send(Ok(pose));
                    }
                }
                Err(error) => {
                    tracing::error!(model = %net.path().display(), %error, "motion model call failed");
                    for job in group {
                        let _ = job.reply.send(Err(ModelError::Onnx(OnnxError::Run {
                            path: net.path().to_path_buf(),
                            detail: error.to_string(),
                        })));
                    }
                }
            }
        }
    }
}
