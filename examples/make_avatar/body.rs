//! The parts that never move: a soft light behind the head, the shoulders and the neck.

use tiny_skia::Shader;

use crate::Part;
use crate::paint::{Pen, Sheet, linear, px, radial, rgb, rgba};

pub fn backlight() -> Part {
    let mut sheet = Sheet::new();
    // Smooth, so stored at a quarter of the resolution.
    sheet.texture_shrink = 4;
    let mut glow = Pen::new(0.0, -0.1);
    glow.ellipse(0.0, 0.0, 1.0, 0.95);
    let centre = Pen::new(0.0, -0.1).at(0.0, 0.0);
    sheet.fill(
        glow.finish(),
        radial(
            centre,
            px(1.0),
            px(0.95),
            &[
                (0.0, rgba(255, 250, 238, 200)),
                (0.5, rgba(255, 248, 236, 100)),
                (1.0, rgba(255, 248, 236, 0)),
            ],
        ),
    );
    Part::rigid("backlight", "body", None, sheet, 48, |_| {})
}

pub fn body() -> Part {
    let mut sheet = Sheet::new();
    sheet.texture_shrink = 2;
    let outline = |pen: &mut Pen| {
        pen.move_to(-0.19, 0.60);
        pen.cubic_to(-0.30, 0.64, -0.52, 0.66, -0.68, 0.73);
        pen.cubic_to(-0.86, 0.80, -1.10, 0.84, -1.40, 0.92);
        pen.line_to(-1.55, 0.98);
        pen.line_to(-1.55, 2.0);
        pen.line_to(1.55, 2.0);
        pen.line_to(1.55, 0.98);
        pen.line_to(1.40, 0.92);
        pen.cubic_to(1.10, 0.84, 0.86, 0.80, 0.68, 0.73);
        pen.cubic_to(0.52, 0.66, 0.30, 0.64, 0.19, 0.60);
        pen.cubic_to(0.15, 0.71, -0.15, 0.71, -0.19, 0.60);
        pen.close();
    };
    let mut shirt = Pen::new(0.0, 0.0);
    outline(&mut shirt);
    let shirt = shirt.finish();
    let pen = Pen::new(0.0, 0.0);
    sheet.fill(
        shirt.clone(),
        linear(
            pen.at(0.0, 0.62),
            pen.at(0.0, 1.15),
            &[
                (0.0, rgb(78, 116, 152)),
                (0.6, rgb(56, 88, 124)),
                (1.0, rgb(40, 64, 96)),
            ],
        ),
    );
    let inside = sheet.mask_of(&shirt);
    // Light from the upper left: the right shoulder (image right) falls into shade.
    let mut shade = Pen::new(0.0, 0.0);
    shade.ellipse(0.95, 1.05, 0.75, 0.45);
    sheet.fill_masked(
        shade.finish(),
        radial(
            pen.at(0.95, 1.05),
            px(0.75),
            px(0.45),
            &[(0.0, rgba(20, 34, 56, 90)), (1.0, rgba(20, 34, 56, 0))],
        ),
        &inside,
    );
    let mut sheen = Pen::new(0.0, 0.0);
    sheen.ellipse(-0.62, 0.80, 0.30, 0.10);
    sheet.fill_masked(
        sheen.finish(),
        radial(
            pen.at(-0.62, 0.80),
            px(0.30),
            px(0.10),
            &[(0.0, rgba(200, 220, 240, 55)), (1.0, rgba(200, 220, 240, 0))],
        ),
        &inside,
    );
    // The neck's shadow on the collar and a ribbed neckline.
    let mut hollow = Pen::new(0.0, 0.0);
    hollow.ellipse(0.0, 0.66, 0.24, 0.07);
    sheet.fill_masked(
        hollow.finish(),
        radial(
            pen.at(0.0, 0.66),
            px(0.24),
            px(0.07),
            &[(0.0, rgba(18, 28, 46, 110)), (1.0, rgba(18, 28, 46, 0))],
        ),
        &inside,
    );
    let mut collar = Pen::new(0.0, 0.0);
    collar.move_to(-0.21, 0.595);
    collar.cubic_to(-0.17, 0.735, 0.17, 0.735, 0.21, 0.595);
    collar.line_to(0.19, 0.60);
    collar.cubic_to(0.15, 0.71, -0.15, 0.71, -0.19, 0.60);
    collar.close();
    sheet.fill(collar.finish(), Shader::SolidColor(rgb(50, 80, 114)));
    // Seams from the collar to the shoulders.
    for flip in [-1.0f32, 1.0] {
        let mut seam = Pen::new(0.0, 0.0).flipped(flip);
        seam.ribbon(
            &crate::paint::Cubic([(0.40, 0.655), (0.55, 0.70), (0.70, 0.76), (0.86, 0.86)]),
            [0.003, 0.005, 0.002],
        );
        sheet.fill_masked(seam.finish(), Shader::SolidColor(rgba(30, 50, 80, 90)), &inside);
    }
    Part::rigid("body", "body", None, sheet, 64, |_| {})
}

pub fn neck() -> Part {
    let mut sheet = Sheet::new();
    let mut neck = Pen::new(0.0, 0.0);
    neck.move_to(-0.150, 0.10);
    neck.cubic_to(-0.142, 0.34, -0.150, 0.50, -0.205, 0.64);
    neck.line_to(0.205, 0.64);
    neck.cubic_to(0.150, 0.50, 0.142, 0.34, 0.150, 0.10);
    neck.close();
    let neck = neck.finish();
    let pen = Pen::new(0.0, 0.0);
    sheet.fill(
        neck.clone(),
        linear(
            pen.at(0.0, 0.38),
            pen.at(0.0, 0.62),
            &[
                (0.0, rgb(176, 116, 94)),
                (0.4, rgb(214, 160, 130)),
                (1.0, rgb(228, 178, 148)),
            ],
        ),
    );
    let inside = sheet.mask_of(&neck);
    // Side shading (light from the upper left) and the shadow the jaw casts.
    sheet.fill_masked(
        neck.clone(),
        linear(
            pen.at(-0.16, 0.0),
            pen.at(0.16, 0.0),
            &[
                (0.0, rgba(255, 230, 210, 40)),
                (0.5, rgba(0, 0, 0, 0)),
                (1.0, rgba(120, 64, 50, 70)),
            ],
        ),
        &inside,
    );
    let mut under_jaw = Pen::new(0.0, 0.0);
    under_jaw.ellipse(0.0, 0.40, 0.20, 0.09);
    sheet.fill_masked(
        under_jaw.finish(),
        radial(
            pen.at(0.0, 0.40),
            px(0.20),
            px(0.09),
            &[(0.0, rgba(120, 62, 48, 120)), (1.0, rgba(120, 62, 48, 0))],
        ),
        &inside,
    );
    Part::rigid("neck", "body", None, sheet, 32, |_| {})
}
