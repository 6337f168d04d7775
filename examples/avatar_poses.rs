//! Renders an avatar in a few poses side by side (the picture in the README).
//!
//! `cargo run --release --example avatar_poses -- --out assets/avatar-poses.png [--avatar DIR] [--size PX] [--gpu]`

use std::path::PathBuf;
use std::sync::Arc;

use persona::motion::{Channel, MotionVector};
use persona::render::{Avatar, CpuRenderer, GpuRenderer, Renderer, VideoFrame};

fn main() -> anyhow::Result<()> {
    let mut out = PathBuf::from("avatar-poses.png");
    let mut avatar_dir: Option<PathBuf> = None;
    let mut side = 320;
    let mut gpu = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = args.next().expect("--out PATH").into(),
            "--avatar" => avatar_dir = Some(args.next().expect("--avatar DIR").into()),
            "--size" => side = args.next().expect("--size PX").parse()?,
            "--gpu" => gpu = true,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let avatar = Arc::new(match &avatar_dir {
        Some(dir) => Avatar::load(dir)?,
        None => Avatar::builtin(),
    });
    let mut renderer: Box<dyn Renderer> = if gpu {
        Box::new(GpuRenderer::new(avatar, side, side)?)
    } else {
        Box::new(CpuRenderer::new(avatar, side, side, 0)?)
    };
    let pose = |settings: &[(Channel, f32)]| {
        let mut vector = MotionVector::NEUTRAL;
        for (channel, value) in settings {
            vector.set(*channel, *value);
        }
        vector
    };
    let poses = [
        pose(&[]),
        pose(&[
            (Channel::JawOpen, 0.6),
            (Channel::MouthLowerDown, 0.3),
            (Channel::BrowInnerUp, 0.4),
        ]),
        pose(&[
            (Channel::MouthFunnel, 0.7),
            (Channel::JawOpen, 0.3),
            (Channel::HeadYaw, 0.6),
            (Channel::EyeLookX, 0.6),
        ]),
        pose(&[
            (Channel::EyeBlinkLeft, 1.0),
            (Channel::EyeBlinkRight, 1.0),
            (Channel::MouthSmile, 0.8),
            (Channel::HeadRoll, 0.5),
            (Channel::HeadPitch, -0.3),
        ]),
    ];
    let mut sheet = tiny_skia::Pixmap::new(side * poses.len() as u32, side).expect("non-zero size");
    let sheet_width = sheet.width();
    let mut frame = VideoFrame::blank(side, side);
    for (i, pose) in poses.iter().enumerate() {
        renderer.render(pose, &mut frame)?;
        for y in 0..side {
            for x in 0..side {
                let [r, g, b, a] = frame.pixel(x, y);
                let color = tiny_skia::PremultipliedColorU8::from_rgba(r, g, b, a).expect("opaque");
                sheet.pixels_mut()[(y * sheet_width + i as u32 * side + x) as usize] = color;
            }
        }
    }
    sheet.save_png(&out)?;
    println!("wrote {} ({} renderer)", out.display(), renderer.backend());
    Ok(())
}
