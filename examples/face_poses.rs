//! Renders the default face in a few poses side by side (the picture in the README).
//!
//! `cargo run --example face_poses -- assets/face-poses.png`

use persona::motion::{Channel, MotionVector};
use persona::render::{FaceRenderer, VideoFrame};

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "face-poses.png".to_string());
    let side = 256;
    let mut renderer = FaceRenderer::new(side, side)?;
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
            (Channel::JawOpen, 0.7),
            (Channel::MouthLowerDown, 0.3),
            (Channel::BrowInnerUp, 0.3),
        ]),
        pose(&[
            (Channel::MouthFunnel, 0.8),
            (Channel::JawOpen, 0.3),
            (Channel::HeadYaw, 0.4),
        ]),
        pose(&[
            (Channel::EyeBlinkLeft, 1.0),
            (Channel::EyeBlinkRight, 1.0),
            (Channel::MouthSmile, 0.6),
            (Channel::HeadRoll, 0.4),
        ]),
    ];
    let mut sheet = tiny_skia::Pixmap::new(side * poses.len() as u32, side).expect("non-zero size");
    let sheet_width = sheet.width();
    let mut frame = VideoFrame::blank(side, side);
    for (i, pose) in poses.iter().enumerate() {
        renderer.render(pose, &mut frame);
        for y in 0..side {
            for x in 0..side {
                let [r, g, b, a] = frame.pixel(x, y);
                let color = tiny_skia::PremultipliedColorU8::from_rgba(r, g, b, a).expect("opaque");
                sheet.pixels_mut()[(y * sheet_width + i as u32 * side + x) as usize] = color;
            }
        }
    }
    sheet.save_png(&out)?;
    println!("wrote {out}");
    Ok(())
}
