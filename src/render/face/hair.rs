//! Hair: a cap behind the head and a swept fringe over the forehead.
//!
//! The cap's silhouette slides with the head only; the fringe's hairline sits on the forehead,
//! so it turns with the features in the middle and eases onto the silhouette at the temples.
//! The hair has no channels of its own.

use tiny_skia::{Path, Shader};

use super::head::Head;
use super::pen::{Canvas, Cubic, Pen, Space, linear, radial, rgb, rgba};

pub(super) fn draw_back_hair(canvas: &mut Canvas, head: &Head) {
    let mut hair = Pen::outline(head);
    hair.move_to(-0.43, 0.19);
    hair.cubic_to(-0.47, -0.05, -0.46, -0.40, -0.27, -0.54);
    hair.cubic_to(-0.15, -0.62, 0.15, -0.62, 0.27, -0.54);
    hair.cubic_to(0.46, -0.40, 0.47, -0.05, 0.43, 0.19);
    hair.cubic_to(0.40, 0.24, 0.33, 0.22, 0.29, 0.12);
    hair.line_to(-0.29, 0.12);
    hair.cubic_to(-0.33, 0.22, -0.40, 0.24, -0.43, 0.19);
    hair.close();
    // Solid: only the sides show past the face and fringe, and a gradient over the whole cap
    // would be the costliest fill of the frame.
    canvas.fill(hair.finish().as_ref(), Shader::SolidColor(rgb(64, 42, 32)));
}

pub(super) fn draw_fringe(canvas: &mut Canvas, head: &Head, face: Option<&Path>) {
    let hairline = Space::Hairline { dz: 0.012 };
    let fringe = |pen: &mut Pen| {
        pen.set_space(Space::Outline);
        pen.move_to(-0.355, 0.0);
        pen.cubic_to(-0.40, -0.30, -0.28, -0.585, 0.02, -0.585);
        pen.cubic_to(0.28, -0.585, 0.41, -0.34, 0.355, -0.04);
        pen.set_space(hairline);
        pen.line_to(0.325, -0.06);
        pen.cubic_to(0.32, -0.20, 0.27, -0.31, 0.16, -0.335);
        // The swept fringe ends in a few locks rather than one smooth edge.
        pen.cubic_to(0.10, -0.345, 0.03, -0.31, -0.02, -0.26);
        pen.quad_to(-0.03, -0.285, -0.055, -0.29);
        pen.cubic_to(-0.11, -0.29, -0.16, -0.25, -0.19, -0.19);
        pen.quad_to(-0.20, -0.215, -0.22, -0.22);
        pen.cubic_to(-0.27, -0.20, -0.295, -0.12, -0.30, -0.07);
        pen.line_to(-0.325, 0.0);
        pen.close();
    };
    let mut pen = Pen::outline(head);
    fringe(&mut pen);
    let path = pen.finish();
    // A hard-edged but faint shadow on the forehead, kept inside the face.
    if canvas.set_clip(face) {
        canvas.fill_clipped_offset(
            path.as_ref(),
            Shader::SolidColor(rgba(150, 90, 70, 70)),
            0.0,
            head.len_px(0.018),
        );
    }
    canvas.fill(
        path.as_ref(),
        linear(
            head.outline(0.0, -0.6),
            head.outline(0.0, 0.0),
            &[(0.0, rgb(100, 67, 48)), (1.0, rgb(56, 36, 27))],
        ),
    );
    // Sheen on the crown; it fades out before the fringe's edges, so it needs no clip.
    let mut sheen = Pen::new(head, hairline, 0.0, 0.0);
    sheen.ellipse(-0.08, -0.47, 0.24, 0.10);
    canvas.fill(
        sheen.finish().as_ref(),
        radial(
            Pen::new(head, hairline, 0.0, 0.0).at(-0.08, -0.47),
            head.len_px(0.24),
            head.len_px(0.10),
            &[(0.0, rgba(190, 150, 115, 80)), (1.0, rgba(190, 150, 115, 0))],
        ),
    );
    // A few strands following the sweep give the hair some texture.
    let strands: [Cubic; 4] = [
        Cubic([(0.22, -0.50), (0.10, -0.47), (-0.05, -0.40), (-0.18, -0.27)]),
        Cubic([(0.28, -0.42), (0.15, -0.40), (0.02, -0.36), (-0.10, -0.29)]),
        Cubic([(0.06, -0.55), (-0.08, -0.52), (-0.22, -0.42), (-0.30, -0.20)]),
        Cubic([(0.30, -0.30), (0.27, -0.38), (0.20, -0.46), (0.08, -0.52)]),
    ];
    for strand in &strands {
        let mut pen = Pen::new(head, hairline, 0.0, 0.0);
        pen.ribbon(strand, [0.002, 0.008, 0.002]);
        canvas.fill(pen.finish().as_ref(), Shader::SolidColor(rgba(140, 100, 72, 70)));
    }
}
