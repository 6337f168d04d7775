//! Hair: a cap behind the head (its silhouette slides with the head only) and a swept fringe
//! whose hairline sits on the forehead (it turns with the features in the middle and eases onto
//! the silhouette at the temples).

use tiny_skia::Shader;

use crate::Part;
use crate::face::face_outline;
use crate::head::Depth;
use crate::paint::{Cubic, Pen, Sheet, linear, px, radial, rgb, rgba};

const DARK: (u8, u8, u8) = (52, 33, 25);
const MID: (u8, u8, u8) = (92, 60, 42);

pub fn back() -> Part {
    let mut sheet = Sheet::new();
    let mut hair = Pen::new(0.0, 0.0);
    hair.move_to(-0.44, 0.26);
    hair.cubic_to(-0.49, 0.0, -0.48, -0.40, -0.28, -0.55);
    hair.cubic_to(-0.15, -0.635, 0.15, -0.635, 0.28, -0.55);
    hair.cubic_to(0.48, -0.40, 0.49, 0.0, 0.44, 0.26);
    // Ends: a few soft points.
    hair.quad_to(0.425, 0.30, 0.40, 0.285);
    hair.quad_to(0.385, 0.31, 0.36, 0.285);
    hair.cubic_to(0.33, 0.25, 0.30, 0.20, 0.29, 0.12);
    hair.line_to(-0.29, 0.12);
    hair.cubic_to(-0.30, 0.20, -0.33, 0.25, -0.36, 0.285);
    hair.quad_to(-0.385, 0.31, -0.40, 0.285);
    hair.quad_to(-0.425, 0.30, -0.44, 0.26);
    hair.close();
    let hair = hair.finish();
    let pen = Pen::new(0.0, 0.0);
    sheet.fill(
        hair.clone(),
        linear(
            pen.at(0.0, -0.6),
            pen.at(0.0, 0.3),
            &[
                (0.0, rgb(MID.0, MID.1, MID.2)),
                (1.0, rgb(DARK.0, DARK.1, DARK.2)),
            ],
        ),
    );
    let inside = sheet.mask_of(&hair);
    // Shade on the side away from the light, and strands falling down the sides.
    sheet.fill_masked(
        hair.clone(),
        linear(
            pen.at(-0.45, 0.0),
            pen.at(0.45, 0.0),
            &[
                (0.0, rgba(150, 110, 80, 40)),
                (0.5, rgba(0, 0, 0, 0)),
                (1.0, rgba(20, 10, 8, 70)),
            ],
        ),
        &inside,
    );
    for i in 0..14 {
        let f = i as f32 / 13.0;
        for flip in [-1.0f32, 1.0] {
            let x = 0.33 + 0.12 * f;
            let mut strand = Pen::new(0.0, 0.0).flipped(flip);
            strand.ribbon(
                &Cubic([
                    (0.05 + 0.2 * f, -0.58 + 0.03 * f),
                    (x - 0.02, -0.45),
                    (x + 0.03, -0.1),
                    (x - 0.01, 0.26),
                ]),
                [0.002, 0.006, 0.002],
            );
            let shade = if i % 2 == 0 {
                rgba(30, 18, 14, 60)
            } else {
                rgba(140, 100, 72, 40)
            };
            sheet.fill_masked(strand.finish(), Shader::SolidColor(shade), &inside);
        }
    }
    // A soft sheen on the lit side.
    let mut sheen = Pen::new(0.0, 0.0);
    sheen.ellipse(-0.33, -0.25, 0.10, 0.28);
    sheet.fill_masked(
        sheen.finish(),
        radial(
            pen.at(-0.33, -0.25),
            px(0.10),
            px(0.28),
            &[(0.0, rgba(180, 132, 96, 70)), (1.0, rgba(180, 132, 96, 0))],
        ),
        &inside,
    );
    Part::rigid("hair_back", "head", None, sheet, 24, |mesh| {
        mesh.add_turns(|_| Depth::Outline);
    })
}

fn fringe_path(pen: &mut Pen) {
    pen.move_to(-0.357, 0.02);
    pen.cubic_to(-0.405, -0.30, -0.28, -0.59, 0.02, -0.592);
    pen.cubic_to(0.28, -0.592, 0.415, -0.34, 0.357, -0.02);
    pen.line_to(0.33, -0.05);
    pen.cubic_to(0.325, -0.20, 0.27, -0.315, 0.16, -0.338);
    // The swept fringe ends in a few locks rather than one smooth edge.
    pen.cubic_to(0.10, -0.348, 0.03, -0.31, -0.02, -0.258);
    pen.quad_to(-0.03, -0.287, -0.058, -0.292);
    pen.cubic_to(-0.11, -0.29, -0.16, -0.25, -0.19, -0.188);
    pen.quad_to(-0.20, -0.215, -0.222, -0.222);
    pen.cubic_to(-0.27, -0.20, -0.297, -0.12, -0.303, -0.06);
    pen.line_to(-0.33, 0.02);
    pen.close();
}

pub fn front() -> Part {
    let mut sheet = Sheet::new();
    let mut pen = Pen::new(0.0, 0.0);
    fringe_path(&mut pen);
    let fringe = pen.finish();
    // A soft shadow on the forehead, kept inside the face.
    let mut face = Pen::new(0.0, 0.0);
    face_outline(&mut face, 0.0);
    let face_mask = sheet.mask_of(&face.finish());
    for (dy, alpha) in [(0.028f32, 30u8), (0.018, 40), (0.010, 50)] {
        let mut shadow = Pen::new(0.0, dy);
        fringe_path(&mut shadow);
        sheet.fill_masked(
            shadow.finish(),
            Shader::SolidColor(rgba(140, 80, 62, alpha)),
            &face_mask,
        );
    }
    let at = Pen::new(0.0, 0.0);
    sheet.fill(
        fringe.clone(),
        linear(
            at.at(0.0, -0.6),
            at.at(0.0, -0.05),
            &[
                (0.0, rgb(106, 70, 50)),
                (0.55, rgb(78, 50, 36)),
                (1.0, rgb(DARK.0, DARK.1, DARK.2)),
            ],
        ),
    );
    let inside = sheet.mask_of(&fringe);
    // Strands following the sweep give the hair some texture.
    let strands: [(Cubic, bool); 10] = [
        (
            Cubic([(0.22, -0.50), (0.10, -0.47), (-0.05, -0.40), (-0.18, -0.27)]),
            false,
        ),
        (
            Cubic([(0.28, -0.42), (0.15, -0.40), (0.02, -0.36), (-0.10, -0.29)]),
            true,
        ),
        (
            Cubic([(0.06, -0.56), (-0.08, -0.53), (-0.22, -0.43), (-0.30, -0.20)]),
            false,
        ),
        (
            Cubic([(0.30, -0.30), (0.27, -0.38), (0.20, -0.46), (0.08, -0.53)]),
            true,
        ),
        (
            Cubic([(0.16, -0.55), (0.02, -0.50), (-0.12, -0.40), (-0.22, -0.25)]),
            true,
        ),
        (
            Cubic([(0.33, -0.25), (0.32, -0.35), (0.28, -0.44), (0.18, -0.52)]),
            false,
        ),
        (
            Cubic([(-0.02, -0.58), (-0.16, -0.54), (-0.28, -0.42), (-0.34, -0.15)]),
            true,
        ),
        (
            Cubic([(0.24, -0.46), (0.12, -0.44), (0.00, -0.36), (-0.06, -0.28)]),
            false,
        ),
        (
            Cubic([(0.36, -0.12), (0.355, -0.22), (0.33, -0.32), (0.28, -0.40)]),
            true,
        ),
        (
            Cubic([(0.10, -0.52), (-0.02, -0.47), (-0.14, -0.37), (-0.24, -0.22)]),
            false,
        ),
    ];
    for (strand, light) in &strands {
        let mut p = Pen::new(0.0, 0.0);
        p.ribbon(strand, [0.002, 0.009, 0.002]);
        let colour = if *light {
            rgba(160, 116, 84, 70)
        } else {
            rgba(36, 22, 16, 70)
        };
        sheet.fill_masked(p.finish(), Shader::SolidColor(colour), &inside);
    }
    // Sheen on the crown.
    let mut sheen = Pen::new(0.0, 0.0);
    sheen.ellipse(-0.06, -0.48, 0.24, 0.085);
    sheet.fill_masked(
        sheen.finish(),
        radial(
            at.at(-0.06, -0.48),
            px(0.24),
            px(0.085),
            &[(0.0, rgba(210, 170, 132, 85)), (1.0, rgba(210, 170, 132, 0))],
        ),
        &inside,
    );
    Part::rigid("hair_front", "head", None, sheet, 20, |mesh| {
        mesh.add_turns(|_| Depth::Hairline(0.015));
    })
}
