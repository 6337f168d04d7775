//! Audio edges must not allocate per item in steady state: a chain of stage shells carrying
//! 20 ms frames is run under a counting allocator, and after warm-up the count must not grow
//! with the number of items.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use persona::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ};
use persona::runtime::{
    EdgeSpec, Event, FullPolicy, Metrics, Placement, Receiver, Sender, SessionClock, Shutdown, StageCtx,
    StageError, edge, epoch_channel, spawn_stage,
};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

async fn pass_through(
    mut ctx: StageCtx,
    mut input: Receiver<AudioFrame>,
    mut output: Sender<AudioFrame>,
) -> Result<(), StageError> {
    loop {
        match ctx.next(&mut input, None).await {
            Event::Item(frame) => ctx.emit(&mut output, frame).await?,
            Event::Closed | Event::Shutdown => return Ok(()),
            Event::Interrupt(_) | Event::Deadline => {}
        }
    }
}

/// Pushes `count` frames through the chain one at a time and takes each out at the end.
async fn send_and_receive(count: u64, input: &mut Sender<AudioFrame>, output: &mut Receiver<AudioFrame>) {
    for i in 0..count {
        let frame = AudioFrame::silence(
            LISTEN_RATE_HZ,
            i * LISTEN_FRAME_SAMPLES as u64,
            LISTEN_FRAME_SAMPLES,
        );
        input.send(frame).await.unwrap();
        output.recv().await.unwrap();
    }
}

#[test]
fn audio_frames_cross_a_stage_chain_without_allocating() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (_interrupter, epochs) = epoch_channel();
        let shutdown = Shutdown::new();
        let metrics = Metrics::new(SessionClock::starting_now());
        let (mut input, mut upstream) = edge(EdgeSpec::new("in", 16, FullPolicy::DropOldest));
        for _ in 0..4 {
            let (tx, rx) = edge(EdgeSpec::new("hop", 16, FullPolicy::Wait));
            let ctx = StageCtx::new("pass", metrics.clone(), None, epochs.clone(), shutdown.watch());
            spawn_stage("pass", Placement::Task, pass_through(ctx, upstream, tx));
            upstream = rx;
        }
        let mut output = upstream;
        send_and_receive(2_000, &mut input, &mut output).await; // warm-up: histograms, task state
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        send_and_receive(10_000, &mut input, &mut output).await;
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
        assert!(
            allocations < 20,
            "{allocations} allocations for 10000 frames through 4 stages: the audio path allocates per item"
        );
    });
}
