//! Per-hop overhead of the actor runtime: a chain of 9 pass-through stages carrying 20 ms /
//! 16 kHz audio frames through the real stage shell (priority select, stale check, latency
//! metering, bounded edges).
//!
//! Two measurements, as in BENCHMARKS.md:
//! - flat out (criterion): items per second through the whole chain;
//! - paced: one item every 5 ms, end-to-end latency divided by the hop count, p50/p99 printed.
//!
//! Source and sink are tasks on the same 2-worker runtime, as in a session, so the figures are
//! the chain's own cost: stage wake-ups, the priority select, stale checks, metering and edges.
//!
//! Run: `cargo bench --bench runtime_hops`

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use hdrhistogram::Histogram;
use persona::audio::{AudioFrame, LISTEN_FRAME_SAMPLES, LISTEN_RATE_HZ};
use persona::runtime::{
    EdgeSpec, Event, FullPolicy, Metrics, Placement, Receiver, Sender, SessionClock, Shutdown, StageCtx,
    StageError, edge, epoch_channel, spawn_stage,
};

const HOPS: usize = 9;
const EDGE_CAPACITY: usize = 64;

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

struct Chain {
    input: Sender<AudioFrame>,
    output: Receiver<AudioFrame>,
    _shutdown: Shutdown,
    _interrupter: persona::runtime::Interrupter,
}

fn build_chain() -> Chain {
    let (_interrupter, epochs) = epoch_channel();
    let shutdown = Shutdown::new();
    let metrics = Metrics::new(SessionClock::starting_now());
    let (input, mut upstream) = edge(EdgeSpec::new("in", EDGE_CAPACITY, FullPolicy::Wait));
    for _ in 0..HOPS {
        let (tx, rx) = edge(EdgeSpec::new("hop", EDGE_CAPACITY, FullPolicy::Wait));
        let ctx = StageCtx::new("pass", metrics.clone(), None, epochs.clone(), shutdown.watch());
        spawn_stage("pass", Placement::Task, pass_through(ctx, upstream, tx));
        upstream = rx;
    }
    Chain {
        input,
        output: upstream,
        _shutdown: shutdown,
        _interrupter,
    }
}

fn frame(i: u64) -> AudioFrame {
    AudioFrame::silence(
        LISTEN_RATE_HZ,
        i * LISTEN_FRAME_SAMPLES as u64,
        LISTEN_FRAME_SAMPLES,
    )
}

fn runtime() -> tokio::runtime::Runtime {
    if std::env::var("PERSONA_BENCH_RUNTIME").is_ok_and(|v| v == "current") {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn flat_out(c: &mut Criterion) {
    const BATCH: u64 = 10_000;
    let rt = runtime();
    let mut group = c.benchmark_group("runtime_hops");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("flat_out_9_hops_10k_items", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let Chain {
                        mut input,
                        mut output,
                        ..
                    } = build_chain();
                    // Source and sink are tasks on the same runtime, as in a session.
                    let started = std::time::Instant::now();
                    let source = tokio::spawn(async move {
                        for i in 0..BATCH {
                            input.send(frame(i)).await.expect("chain alive");
                        }
                    });
                    let sink = tokio::spawn(async move {
                        for _ in 0..BATCH {
                            output.recv().await.expect("chain alive");
                        }
                    });
                    source.await.expect("source");
                    sink.await.expect("sink");
                    total += started.elapsed();
                }
                total
            })
        })
    });
    group.finish();
}

fn paced() {
    const ITEMS: u64 = 2_000;
    const WARM_UP: u64 = 100;
    let rt = runtime();
    let per_hop_ns = rt.block_on(async {
        let Chain {
            mut input,
            mut output,
            ..
        } = build_chain();
        let (stamps_tx, mut stamps_rx) = tokio::sync::mpsc::channel::<std::time::Instant>(4);
        // The source stamps each item when it pushes it; the sink measures on receipt. Both are
        // tasks, so only the chain itself is between the two instants.
        let source = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(5));
            for i in 0..ITEMS {
                ticker.tick().await;
                stamps_tx
                    .send(std::time::Instant::now())
                    .await
                    .expect("sink alive");
                input.send(frame(i)).await.expect("chain alive");
            }
        });
        let sink = tokio::spawn(async move {
            let mut per_hop_ns = Vec::with_capacity(ITEMS as usize);
            for _ in 0..ITEMS {
                let sent_at = stamps_rx.recv().await.expect("source alive");
                output.recv().await.expect("chain alive");
                per_hop_ns.push(sent_at.elapsed().as_nanos() as u64 / HOPS as u64);
            }
            per_hop_ns
        });
        source.await.expect("source");
        sink.await.expect("sink")
    });
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).expect("bounds");
    for ns in &per_hop_ns[WARM_UP as usize..] {
        histogram.record((*ns).max(1)).expect("in range");
    }
    println!(
        "runtime_hops/paced_5ms_9_hops: per hop p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({} items)",
        histogram.value_at_quantile(0.50) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0,
        histogram.len()
    );
}

criterion_group!(benches, flat_out);

fn main() {
    paced();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
