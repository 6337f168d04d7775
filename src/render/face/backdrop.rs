//! The backdrop: background, neck and shoulders. No channel moves them (the head rolls about the
//! top of the neck and covers it), so the renderer draws them once and copies them into every
//! frame.

use tiny_skia::{PathBuilder, Rect, Shader};

use super::head::{Head, Layout};
use super::pen::{Canvas, Pen, linear, radial, rgb, rgba};

pub(super) fn draw_backdrop(canvas: &mut Canvas, layout: &Layout, width: u32, height: u32) {
    let head = Head::neutral(layout);
    let (w, h) = (width as f32, height as f32);
    if let Some(rect) = Rect::from_xywh(0.0, 0.0, w, h) {
        canvas.fill(
            Some(&PathBuilder::from_rect(rect)),
            linear(
                (0.0, 0.0).into(),
                (0.0, h).into(),
                &[(0.0, rgb(212, 222, 232)), (1.0, rgb(150, 168, 190))],
            ),
        );
    }
    // A soft light behind the head lifts it off the background.
    let mut glow = Pen::outline(&head);
    glow.ellipse(0.0, -0.1, 0.95, 0.95);
    canvas.fill(
        glow.finish().as_ref(),
        radial(
            head.outline(0.0, -0.1),
            head.len_px(0.95),
            head.len_px(0.95),
            &[(0.0, rgba(255, 250, 240, 120)), (1.0, rgba(255, 250, 240, 0))],
        ),
    );

    let mut neck = Pen::outline(&head);
    neck.move_to(-0.15, 0.12);
    neck.cubic_to(-0.142, 0.35, -0.145, 0.50, -0.20, 0.66);
    neck.line_to(0.20, 0.66);
    neck.cubic_to(0.145, 0.50, 0.142, 0.35, 0.15, 0.12);
    neck.close();
    canvas.fill(
        neck.finish().as_ref(),
        linear(
            head.outline(0.0, 0.40),
            head.outline(0.0, 0.62),
            &[
                (0.0, rgb(178, 118, 95)),
                (0.35, rgb(212, 158, 128)),
                (1.0, rgb(226, 176, 146)),
            ],
        ),
    );

    let mut shirt = Pen::outline(&head);
    shirt.move_to(-0.20, 0.62);
    shirt.cubic_to(-0.32, 0.64, -0.56, 0.66, -0.70, 0.75);
    shirt.cubic_to(-0.83, 0.83, -0.88, 0.98, -0.92, 1.25);
    shirt.line_to(-0.95, 2.0);
    shirt.line_to(0.95, 2.0);
    shirt.line_to(0.92, 1.25);
    shirt.cubic_to(0.88, 0.98, 0.83, 0.83, 0.70, 0.75);
    shirt.cubic_to(0.56, 0.66, 0.32, 0.64, 0.20, 0.62);
    shirt.cubic_to(0.16, 0.74, -0.16, 0.74, -0.20, 0.62);
    shirt.close();
    canvas.fill(
        shirt.finish().as_ref(),
        linear(
            head.outline(0.0, 0.64),
            head.outline(0.0, 1.3),
            &[(0.0, rgb(74, 112, 150)), (1.0, rgb(42, 68, 100))],
        ),
    );
    let mut collar = Pen::outline(&head);
    collar.move_to(0.20, 0.62);
    collar.cubic_to(0.16, 0.74, -0.16, 0.74, -0.20, 0.62);
    canvas.stroke(
        collar.finish().as_ref(),
        Shader::SolidColor(rgb(48, 76, 108)),
        head.len_px(0.02),
    );
}
