//! Cost of the learned motion model (`models/motion-fm.onnx`), as the pipeline runs it.
//!
//! - `motion_model/stream_chunk`: one session's streaming call, a 200 ms chunk (5 frames) with all
//!   flow steps inside, on one thread. Divide by 5 for the cost per 40 ms video frame (the target
//!   is < 5 ms on one CPU core).
//! - `motion_model/batched/N` for N = 1, 8, 32, 64: one call for N sessions' chunks at once, what
//!   the shared worker does when N sessions' chunks are due together. Criterion's throughput is
//!   in chunks, so "elements/s" divided by 5 is video frames per second across all sessions; the
//!   time divided by N is the cost per session.
//!
//! The device comes from `PERSONA_BENCH_DEVICE` (`cpu`, the default, or `cuda`) and the threads
//! per call from `PERSONA_BENCH_THREADS` (default 1). The batched figures matter on a GPU; on a
//! build whose ONNX Runtime lacks the CUDA execution provider, `cuda` falls back to the CPU with a
//! warning, and the figures are then the CPU's.
//!
//! Run: `cargo bench --bench motion_model`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use persona::motion::FrameClock;
use persona::motion::model::{ChunkRequest, ModelMotion, MotionNet, shipped_model};
use persona::onnx::{Device, SessionOptions};
use persona::runtime::Epoch;

const RATE_HZ: u32 = 16_000;

fn options() -> SessionOptions {
    let device = match std::env::var("PERSONA_BENCH_DEVICE").as_deref() {
        Ok("cuda") => Device::Cuda,
        _ => Device::Cpu,
    };
    let threads = std::env::var("PERSONA_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    SessionOptions {
        intra_threads: threads,
        device,
    }
}

/// A speech-like signal: a vowel-ish buzz whose loudness comes and goes.
fn signal(seconds: f32) -> Vec<f32> {
    (0..(seconds * RATE_HZ as f32) as usize)
        .map(|n| {
            let t = n as f32 / RATE_HZ as f32;
            let envelope = (0.5 + 0.5 * (std::f32::consts::TAU * 3.0 * t).sin()).powi(2);
            let buzz: f32 = (1..12)
                .map(|h| (std::f32::consts::TAU * 120.0 * h as f32 * t).sin() / h as f32)
                .sum();
            0.2 * envelope * buzz
        })
        .collect()
}

/// `count` first-chunk requests of 5 frames, each from its own session seed.
fn requests(net: &MotionNet, count: usize) -> Vec<ChunkRequest> {
    let audio = signal(1.0);
    (0..count as u64)
        .map(|seed| {
            let mut motion = ModelMotion::new(net.meta(), FrameClock::new(RATE_HZ, 25), Epoch(0), seed, 5)
                .expect("stream");
            motion.push_audio(&audio);
            motion.poll_request().expect("a second of audio holds a chunk")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let path = shipped_model().expect("the model is in models/");
    let mut net = MotionNet::load(&path, options()).expect("the model loads");
    let mut group = c.benchmark_group("motion_model");
    group.measurement_time(Duration::from_secs(8));

    let one = requests(&net, 1).remove(0);
    group.throughput(Throughput::Elements(5));
    group.bench_function("stream_chunk", |b| {
        b.iter(|| net.run(&[&one]).expect("runs"));
    });

    for sessions in [1usize, 8, 32, 64] {
        let batch = requests(&net, sessions);
        let refs: Vec<&ChunkRequest> = batch.iter().collect();
        group.throughput(Throughput::Elements(sessions as u64));
        group.bench_with_input(BenchmarkId::new("batched", sessions), &refs, |b, refs| {
            b.iter(|| net.run(refs).expect("runs"));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
