//! The GPU renderer (wgpu) draws the same rig as the CPU renderer: frames of the same pose agree
//! to within rounding. CI runs this on Mesa's software Vulkan (lavapipe); on a machine without any
//! Vulkan adapter the tests are skipped with the reason printed — unless lavapipe is installed, in
//! which case a missing adapter is a failure, not a skip.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::video::{mouth_openness, probe};
use common::*;
use persona::motion::{Channel, MotionVector};
use persona::render::{Avatar, CpuRenderer, GpuRenderer, RenderError, Renderer, VideoFrame};

/// Whether Mesa's lavapipe is installed (then an adapter must exist).
fn lavapipe_installed() -> bool {
    std::fs::read_dir("/usr/share/vulkan/icd.d")
        .map(|dir| {
            dir.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd"))
        })
        .unwrap_or(false)
}

/// A GPU renderer, or `None` (with the reason printed) where no Vulkan adapter exists.
fn gpu(avatar: Arc<Avatar>, width: u32, height: u32) -> Option<GpuRenderer> {
    match GpuRenderer::new(avatar, width, height) {
        Ok(renderer) => {
            println!("GPU adapter: {:?}", renderer.adapter());
            Some(renderer)
        }
        Err(RenderError::Gpu(reason)) if !lavapipe_installed() => {
            println!("skipped: {reason}");
            None
        }
        Err(error) => panic!("lavapipe is installed, so a Vulkan adapter should exist: {error}"),
    }
}

fn pose(channels: &[(Channel, f32)]) -> MotionVector {
    let mut vector = MotionVector::NEUTRAL;
    for &(channel, value) in channels {
        vector.set(channel, value);
    }
    vector
}

/// Per-pixel differences: (mean over channels, largest, share of pixels off by more than 8).
fn compare(a: &VideoFrame, b: &VideoFrame) -> (f64, u8, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let mut sum = 0u64;
    let mut worst = 0u8;
    let mut far = 0usize;
    for (p, q) in a.rgba.chunks(4).zip(b.rgba.chunks(4)) {
        let d = (0..4).map(|c| p[c].abs_diff(q[c])).max().unwrap();
        sum += (0..4).map(|c| p[c].abs_diff(q[c]) as u64).sum::<u64>();
        worst = worst.max(d);
        far += (d > 8) as usize;
    }
    let pixels = a.rgba.len() / 4;
    (
        sum as f64 / a.rgba.len() as f64,
        worst,
        far as f64 / pixels as f64,
    )
}

#[test]
fn cpu_and_gpu_frames_of_the_same_pose_match_within_rounding() {
    let avatar = Arc::new(Avatar::builtin());
    let poses = [
        pose(&[]),
        pose(&[
            (Channel::JawOpen, 0.7),
            (Channel::MouthUpperUp, 0.4),
            (Channel::HeadYaw, 0.5),
        ]),
        pose(&[
            (Channel::EyeBlinkLeft, 1.0),
            (Channel::MouthSmile, 0.8),
            (Channel::HeadRoll, -0.7),
        ]),
        pose(&[
            (Channel::MouthFunnel, 0.8),
            (Channel::JawOpen, 0.3),
            (Channel::EyeLookX, 0.8),
            (Channel::HeadPitch, -0.6),
        ]),
    ];
    for (width, height) in [(512, 512), (320, 180)] {
        let Some(mut gpu) = gpu(avatar.clone(), width, height) else {
            return;
        };
        let mut cpu = CpuRenderer::new(avatar.clone(), width, height, 0).unwrap();
        for (i, p) in poses.iter().enumerate() {
            let (mut a, mut b) = (VideoFrame::blank(1, 1), VideoFrame::blank(1, 1));
            cpu.render(p, &mut a).unwrap();
            gpu.render(p, &mut b).unwrap();
            let (mean, worst, far) = compare(&a, &b);
            println!(
                "{width}x{height} pose {i}: mean |diff| {mean:.3}, worst {worst}, pixels off by >8: {:.4}%",
                far * 100.0
            );
            // Measured on lavapipe: mean 0.003, worst 3 (rounding in bilinear weights and blending).
            assert!(mean < 0.05, "{width}x{height} pose {i}: mean difference {mean}");
            assert!(
                worst <= 8,
                "{width}x{height} pose {i}: a pixel differs by {worst}"
            );
            assert!(
                far == 0.0,
                "{width}x{height} pose {i}: {:.3}% of pixels differ by more than 8",
                far * 100.0
            );
        }
        // And they are different poses: the comparison can fail.
        let (mut a, mut b) = (VideoFrame::blank(1, 1), VideoFrame::blank(1, 1));
        cpu.render(&poses[0], &mut a).unwrap();
        gpu.render(&poses[1], &mut b).unwrap();
        assert!(compare(&a, &b).0 > 0.5, "different poses must not compare equal");
    }
}

#[test]
fn a_pipeline_with_the_gpu_backend_writes_a_lip_synced_video() {
    if !ffprobe_available() {
        println!("skipped: ffmpeg/ffprobe not found (./setup.sh installs ffmpeg)");
        return;
    }
    if gpu(Arc::new(Avatar::builtin()), 64, 64).is_none() {
        return;
    }
    let pipeline = scratch().join("gpu.toml");
    std::fs::write(
        &pipeline,
        "[output]\nwidth = 256\nheight = 256\n[stages.render]\nbackend = \"gpu\"\n",
    )
    .unwrap();
    let video = scratch().join("gpu.webm");
    let status = Command::new(env!("CARGO_BIN_EXE_persona"))
        .args(["say", "Hello from the graphics card.", "--out"])
        .arg(&video)
        .arg("--pipeline")
        .arg(&pipeline)
        .status()
        .unwrap();
    assert!(status.success());
    let p = probe(&video);
    assert_eq!((p.width, p.height, p.video_codec.as_str()), (256, 256, "vp8"));
    let open = mouth_openness(&video, 256, 256);
    assert!(
        open[0] < 0.02 && open.iter().any(|o| *o > 0.05),
        "the mouth opens while speaking"
    );
}
