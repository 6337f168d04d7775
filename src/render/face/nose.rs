//! The nose: drawn with shading only (bridge shadow, tip highlight, wings, nostrils), as a
//! face seen from the front shows it. No channel moves it; it rides the head with the most
//! parallax, being the part nearest the viewer.

use tiny_skia::Shader;

use super::head::Head;
use super::pen::{Canvas, Cubic, Pen, Space, radial, rgba};

/// Height of the nostrils (face units).
pub(super) const NOSE_Y: f32 = 0.13;

pub(super) fn draw_nose(canvas: &mut Canvas, head: &Head) {
    let pen = |dz| Pen::new(head, Space::Surface { dz }, 0.0, NOSE_Y);
    // Bridge: a soft shadow on the side away from the light (upper left).
    let mut bridge = pen(0.03);
    bridge.ribbon(
        &Cubic([(0.026, -0.14), (0.034, -0.09), (0.036, -0.04), (0.044, -0.01)]),
        [0.006, 0.016, 0.01],
    );
    canvas.fill(
        bridge.finish().as_ref(),
        Shader::SolidColor(rgba(190, 125, 100, 55)),
    );
    // Tip highlight.
    let mut tip = pen(0.07);
    tip.ellipse(-0.004, -0.012, 0.026, 0.022);
    canvas.fill(
        tip.finish().as_ref(),
        radial(
            pen(0.07).at(-0.004, -0.012),
            head.len_px(0.026),
            head.len_px(0.022),
            &[(0.0, rgba(255, 232, 215, 110)), (1.0, rgba(255, 232, 215, 0))],
        ),
    );
    // Wings and the shadow under the tip.
    for flip in [-1.0f32, 1.0] {
        let mut wing = pen(0.05).flipped(flip);
        wing.ribbon(
            &Cubic([(0.028, -0.03), (0.058, -0.02), (0.060, 0.012), (0.036, 0.018)]),
            [0.002, 0.007, 0.003],
        );
        canvas.fill(
            wing.finish().as_ref(),
            Shader::SolidColor(rgba(175, 108, 88, 150)),
        );
        let mut nostril = pen(0.06).flipped(flip);
        nostril.ellipse(0.019, 0.017, 0.011, 0.0055);
        canvas.fill(
            nostril.finish().as_ref(),
            Shader::SolidColor(rgba(120, 62, 52, 190)),
        );
    }
    let mut under = pen(0.065);
    under.ribbon(
        &Cubic([(-0.024, 0.014), (-0.01, 0.026), (0.01, 0.026), (0.024, 0.014)]),
        [0.001, 0.005, 0.001],
    );
    canvas.fill(
        under.finish().as_ref(),
        Shader::SolidColor(rgba(160, 95, 78, 110)),
    );
}
