//! Scheduling priority for the threads that keep a live session's time.
//!
//! A web agent's audio path does microseconds of work per 20 ms frame (capture, resample, VAD,
//! turn-taking, playout) against budgets of 1–5 ms, while each session's renderer and encoder
//! compute for milliseconds per frame on the same cores. At equal priority the kernel may
//! preempt the audio path mid-frame and run a video thread for a whole time slice (several ms),
//! which is a budget violation that no amount of spare CPU prevents. Audio engines solve this
//! the same way: the few threads that keep time run at a real-time priority (below the kernel's
//! own interrupt threads) and everything bulky stays at the normal one.
//!
//! [`raise_current_thread`] asks for `SCHED_FIFO`, falls back to a negative nice value, and
//! otherwise leaves the thread as it was; it reports which it got, so the caller can say once
//! what the machine allowed. The raise never spreads: it is set with `SCHED_RESET_ON_FORK`, so
//! a thread started from a raised one (the STT stage starts its whisper worker from its task)
//! begins at the normal priority. Only threads that do short work and then wait may be raised: a
//! real-time thread that computes for long would starve everything else on its core (the
//! kernel keeps 5 % of each second for normal threads, no more).

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// What the calling thread may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityRequest {
    /// `SCHED_FIFO` if allowed, else a raised nice value, else unchanged.
    Realtime,
    /// A raised nice value if allowed, else unchanged.
    High,
    /// Leave the thread as it is.
    Normal,
}

/// What the thread got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Granted {
    /// `SCHED_FIFO` at this priority (1–99; the kernel's interrupt threads run at 50).
    Realtime(i32),
    /// The normal policy at this nice value (negative: more CPU share, earlier wake-ups).
    Nice(i32),
    /// Unchanged: nothing was asked, or the machine refused (why, for the log).
    Unchanged(String),
}

impl fmt::Display for Granted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granted::Realtime(priority) => write!(f, "real-time (SCHED_FIFO {priority})"),
            Granted::Nice(nice) => write!(f, "raised (nice {nice})"),
            Granted::Unchanged(why) => write!(f, "normal ({why})"),
        }
    }
}

/// The `SCHED_FIFO` priority asked for: low among real-time threads, so the kernel's own
/// (interrupts at 50) and any audio server's come first.
pub const REALTIME_PRIORITY: i32 = 10;
/// The nice value asked for when real-time is refused.
pub const RAISED_NICE: i32 = -10;

/// Raises the calling thread's scheduling priority as far as `request` and the machine allow.
pub fn raise_current_thread(request: PriorityRequest) -> Granted {
    if request == PriorityRequest::Normal {
        return Granted::Unchanged("not asked".into());
    }
    imp::raise(request)
}

/// A tokio runtime of its own whose worker threads run at a raised priority: for the stage
/// tasks of live sessions, whose work is short and whose timing matters.
///
/// Only the workers are raised (each asks when it first parks, which an idle worker does at
/// once; tokio's blocking-pool threads never park and stay normal), so a `spawn_blocking` on
/// this runtime cannot hog a core at real-time priority. Dropping it stops its tasks without
/// waiting for them.
pub struct PriorityRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    granted: Granted,
}

/// How long `start` waits for its idle workers to report their priority.
const WORKERS_REPORT_WITHIN: Duration = Duration::from_secs(5);

impl PriorityRuntime {
    /// Starts `workers` worker threads named `name-N`, raised as far as `request` allows, and
    /// returns once each has taken its priority.
    pub fn start(name: &str, workers: usize, request: PriorityRequest) -> std::io::Result<Self> {
        thread_local! {
            static RAISED: Cell<bool> = const { Cell::new(false) };
        }
        let workers = workers.max(1);
        let (report, reports) = mpsc::channel();
        let prefix = name.to_owned();
        let counter = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name_fn(move || format!("{prefix}-{}", counter.fetch_add(1, Ordering::Relaxed)))
            .on_thread_park(move || {
                if !RAISED.replace(true) {
                    let _ = report.send(raise_current_thread(request));
                }
            })
            .enable_all()
            .build()?;
        let mut granted = None;
        for _ in 0..workers {
            let got = reports.recv_timeout(WORKERS_REPORT_WITHIN).map_err(|_| {
                std::io::Error::other(format!(
                    "the {name} runtime's workers did not start within {WORKERS_REPORT_WITHIN:?}"
                ))
            })?;
            // Workers of one process are treated alike; keep the first answer.
            granted.get_or_insert(got);
        }
        Ok(PriorityRuntime {
            runtime: Some(runtime),
            granted: granted.expect("at least one worker"),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("present until dropped").handle()
    }

    /// What the workers got.
    pub fn granted(&self) -> &Granted {
        &self.granted
    }
}

impl Drop for PriorityRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{Granted, PriorityRequest, RAISED_NICE, REALTIME_PRIORITY};

    pub fn raise(request: PriorityRequest) -> Granted {
        let mut refused = Vec::new();
        // SCHED_RESET_ON_FORK: threads this one starts (a stage's worker, a blocking-pool
        // thread) begin at the normal policy and nice 0 instead of inheriting the raise — a
        // whisper decode started from a raised task must not run at real-time priority.
        if request == PriorityRequest::Realtime {
            let param = libc::sched_param {
                sched_priority: REALTIME_PRIORITY,
            };
            let policy = libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK;
            // SAFETY: `param` is a valid sched_param; pid 0 is the calling thread on Linux.
            if unsafe { libc::sched_setscheduler(0, policy, &param) } == 0 {
                return Granted::Realtime(REALTIME_PRIORITY);
            }
            refused.push(format!("SCHED_FIFO refused: {}", std::io::Error::last_os_error()));
        }
        let normal = libc::sched_param { sched_priority: 0 };
        // SAFETY: as above; any thread may set the flag on itself.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK, &normal) } != 0
        {
            refused.push(format!(
                "the reset-on-fork flag that keeps a raise from spreading was refused: {}",
                std::io::Error::last_os_error()
            ));
            return Granted::Unchanged(refused.join("; "));
        }
        // On Linux, nice is per thread: PRIO_PROCESS with a thread id changes that thread only.
        // SAFETY: gettid has no preconditions; setpriority only reads its integer arguments.
        let thread_id = unsafe { libc::gettid() };
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, thread_id as libc::id_t, RAISED_NICE) } == 0 {
            return Granted::Nice(RAISED_NICE);
        }
        refused.push(format!(
            "nice {RAISED_NICE} refused: {}",
            std::io::Error::last_os_error()
        ));
        Granted::Unchanged(format!(
            "{}; grant CAP_SYS_NICE or an rtprio limit to raise it",
            refused.join("; ")
        ))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::{Granted, PriorityRequest};

    pub fn raise(_request: PriorityRequest) -> Granted {
        Granted::Unchanged("thread priorities are only raised on Linux".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_leaves_the_thread_alone() {
        assert_eq!(
            raise_current_thread(PriorityRequest::Normal),
            Granted::Unchanged("not asked".into())
        );
    }

    #[test]
    fn the_runtime_runs_tasks_on_its_own_raised_workers() {
        let runtime = PriorityRuntime::start("persona-test-timekeeper", 2, PriorityRequest::High).unwrap();
        assert!(
            !matches!(runtime.granted(), Granted::Realtime(_)),
            "High never asks for SCHED_FIFO: {}",
            runtime.granted()
        );
        let (name, nice, blocking_nice) = runtime.handle().block_on(async {
            tokio::spawn(async {
                let name = std::thread::current()
                    .name()
                    .map(str::to_owned)
                    .unwrap_or_default();
                // A blocking-pool thread started from a raised worker stays normal.
                let blocking_nice = tokio::task::spawn_blocking(current_nice).await.unwrap();
                (name, current_nice(), blocking_nice)
            })
            .await
            .unwrap()
        });
        assert!(name.starts_with("persona-test-timekeeper-"), "{name}");
        assert!(blocking_nice >= 0, "a blocking thread at nice {blocking_nice}");
        match runtime.granted() {
            Granted::Nice(wanted) => assert_eq!(nice, *wanted),
            _ => assert!(nice >= 0),
        }
    }

    /// The calling thread's policy (without the reset-on-fork flag) and nice value.
    #[cfg(target_os = "linux")]
    fn scheduling() -> (i32, i32) {
        // SAFETY: plain queries about the calling thread.
        let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
        (policy, current_nice())
    }

    fn current_nice() -> i32 {
        #[cfg(target_os = "linux")]
        // SAFETY: a plain query about the calling thread.
        return unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        #[cfg(not(target_os = "linux"))]
        0
    }

    /// Whatever the machine allows, the answer matches what the thread now has.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_answer_is_what_the_thread_got() {
        for request in [PriorityRequest::Realtime, PriorityRequest::High] {
            let (granted, child) = std::thread::spawn(move || {
                let granted = raise_current_thread(request);
                let own = scheduling();
                // A thread it starts does not inherit the raise.
                let child = std::thread::spawn(scheduling).join().unwrap();
                ((granted, own.0, own.1), child)
            })
            .join()
            .unwrap();
            assert!(
                child.0 == libc::SCHED_OTHER && child.1 >= 0,
                "a child of a {request:?} thread is normal: {child:?}"
            );
            match granted {
                (Granted::Realtime(priority), policy, _) => {
                    assert_eq!(request, PriorityRequest::Realtime);
                    assert_eq!(priority, REALTIME_PRIORITY);
                    assert_eq!(policy, libc::SCHED_FIFO);
                }
                (Granted::Nice(nice), policy, actual) => {
                    assert_eq!(policy, libc::SCHED_OTHER);
                    assert_eq!(actual, nice);
                }
                (Granted::Unchanged(why), policy, actual) => {
                    assert!(why.contains("refused"), "{why}");
                    assert_eq!(policy, libc::SCHED_OTHER);
                    assert!(actual >= 0, "nice {actual} although raising was refused");
                }
            }
        }
    }
}
