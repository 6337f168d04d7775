//! Renderer and encoder costs, as in BENCHMARKS.md:
//! - CPU renderer frames per second at 512x512 and 1920x1080, on one core (the stage's own
//!   thread) and on all cores (rayon's pool);
//! - GPU renderer (wgpu) at the same sizes, frame read back into memory included; on a machine
//!   without a Vulkan adapter these are skipped with the reason printed;
//! - VP8 encode cost per 512x512 frame (RGBA → I420 → libvpx realtime), a P-frame of speech;
//! - first-frame latency: a pose in, its encoded keyframe out (render + I420 + VP8 keyframe), the
//!   cost the video path adds to the first frame of a turn.
//!
//! Every iteration draws a different pose (the jaw and head move), so nothing is cached.
//!
//! Run: `cargo bench --bench render` (or `-- cpu`, `-- gpu`, `-- vp8`, `-- first_frame`).

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use persona::encode::{Vp8Config, Vp8Encoder, i420_len, rgba_to_i420};
use persona::motion::{Channel, MotionVector};
use persona::render::{Avatar, CpuRenderer, GpuRenderer, Renderer, VideoFrame};

const SIZES: [(&str, u32, u32); 2] = [("512x512", 512, 512), ("1920x1080", 1920, 1080)];

/// Speech-like motion: the jaw opens and closes, the head drifts, the eyes blink now and then.
fn pose(k: u64) -> MotionVector {
    let t = k as f32 * 0.04;
    let mut v = MotionVector::NEUTRAL;
    v.set(Channel::JawOpen, 0.3 + 0.3 * (t * 9.0).sin());
    v.set(Channel::MouthStretch, 0.2 + 0.2 * (t * 5.0).cos());
    v.set(Channel::HeadYaw, 0.2 * (t * 0.7).sin());
    v.set(Channel::HeadPitch, 0.1 * (t * 0.9).cos());
    v.set(Channel::HeadRoll, 0.1 * (t * 0.5).sin());
    v.set(Channel::EyeBlinkLeft, if k % 50 < 3 { 1.0 } else { 0.0 });
    v.set(Channel::EyeBlinkRight, if k % 50 < 3 { 1.0 } else { 0.0 });
    v
}

fn bench_renderer(c: &mut Criterion, group: &str, id: &str, renderer: &mut dyn Renderer) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    let mut frame = VideoFrame::blank(renderer.width(), renderer.height());
    let mut k = 0;
    g.bench_function(id, |b| {
        b.iter(|| {
            k += 1;
            renderer.render(&pose(k), &mut frame).expect("renders");
        })
    });
    g.finish();
}

fn cpu(c: &mut Criterion) {
    let avatar = Arc::new(Avatar::builtin());
    for (name, w, h) in SIZES {
        for (threads, label) in [(1, "one core"), (0, "all cores")] {
            let mut renderer = CpuRenderer::new(avatar.clone(), w, h, threads).expect("valid size");
            bench_renderer(c, "cpu", &format!("{name} {label}"), &mut renderer);
        }
    }
}

fn gpu(c: &mut Criterion) {
    let avatar = Arc::new(Avatar::builtin());
    for (name, w, h) in SIZES {
        match GpuRenderer::new(avatar.clone(), w, h) {
            Ok(mut renderer) => {
                let adapter = renderer.adapter().name.clone();
                bench_renderer(c, "gpu", &format!("{name} on {adapter}"), &mut renderer);
            }
            Err(error) => {
                println!("gpu/{name}: skipped: {error}");
                return;
            }
        }
    }
}

fn encoder(w: u32, h: u32) -> Vp8Encoder {
    Vp8Encoder::new(Vp8Config {
        width: w,
        height: h,
        fps: 25,
        bitrate_kbps: 1_200,
        realtime: true,
        timebase_hz: 48_000,
        keyframe_interval_ms: 2_000,
    })
    .expect("valid settings")
}

fn vp8(c: &mut Criterion) {
    let avatar = Arc::new(Avatar::builtin());
    let (w, h) = (512, 512);
    let mut renderer = CpuRenderer::new(avatar, w, h, 0).expect("valid size");
    // A second of speech, rendered once, encoded in a loop.
    let frames: Vec<VideoFrame> = (0..25)
        .map(|k| {
            let mut f = VideoFrame::blank(w, h);
            renderer.render(&pose(k), &mut f).expect("renders");
            f
        })
        .collect();
    let mut encoder = encoder(w, h);
    let mut i420 = vec![0; i420_len(w, h)];
    let mut packets = Vec::new();
    let mut g = c.benchmark_group("vp8");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    let mut k = 0usize;
    g.bench_function("512x512 frame (I420 + realtime encode)", |b| {
        b.iter(|| {
            let frame = &frames[k % frames.len()];
            rgba_to_i420(&frame.rgba, w, h, &mut i420).expect("sizes match");
            packets.clear();
            encoder
                .encode(&i420, (k * 1920) as i64, false, &mut packets)
                .expect("encodes");
            k += 1;
        })
    });
    g.finish();
}

fn first_frame(c: &mut Criterion) {
    let avatar = Arc::new(Avatar::builtin());
    let (w, h) = (512, 512);
    let mut g = c.benchmark_group("first_frame");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(4));
    for (threads, label) in [(1, "one core"), (0, "all cores")] {
        let mut renderer = CpuRenderer::new(avatar.clone(), w, h, threads).expect("valid size");
        let mut encoder = encoder(w, h);
        let mut frame = VideoFrame::blank(w, h);
        let mut i420 = vec![0; i420_len(w, h)];
        let mut packets = Vec::new();
        let mut k = 0u64;
        g.bench_function(format!("512x512 pose to VP8 keyframe, {label}"), |b| {
            b.iter(|| {
                k += 1;
                renderer.render(&pose(k), &mut frame).expect("renders");
                rgba_to_i420(&frame.rgba, w, h, &mut i420).expect("sizes match");
                packets.clear();
                encoder
                    .encode(&i420, (k * 1920) as i64, true, &mut packets)
                    .expect("encodes");
                assert!(packets.iter().any(|p| p.keyframe));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cpu, gpu, vp8, first_frame);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
