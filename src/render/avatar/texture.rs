//! Layer images: PNG decoded once into premultiplied RGBA8, which is what bilinear sampling and
//! "over" compositing want (straight alpha would bleed the colour of transparent texels into edges).

use std::path::Path;

use super::{AvatarError, MAX_SIDE_PX};

/// A premultiplied RGBA8 image, rows top to bottom, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct Texture {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

impl std::fmt::Debug for Texture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Texture({}x{})", self.width, self.height)
    }
}

impl Texture {
    /// Decodes a PNG of any colour type and bit depth.
    pub fn decode_png(file: &Path, bytes: &[u8]) -> Result<Texture, AvatarError> {
        if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(AvatarError::invalid(
                file,
                "is not a PNG image (layer images must be PNG files with an alpha channel)",
            ));
        }
        let pixmap = tiny_skia::Pixmap::decode_png(bytes)
            .map_err(|e| AvatarError::invalid(file, format!("is a broken PNG image: {e}")))?;
        if pixmap.width() > MAX_SIDE_PX || pixmap.height() > MAX_SIDE_PX {
            return Err(AvatarError::invalid(
                file,
                format!(
                    "is {}x{} pixels; layer images may be at most {MAX_SIDE_PX} pixels on a side",
                    pixmap.width(),
                    pixmap.height()
                ),
            ));
        }
        Ok(Texture {
            width: pixmap.width(),
            height: pixmap.height(),
            rgba: pixmap.take(),
        })
    }

    /// Half the size (rounded up), each texel the mean of the 2x2 texels it covers: the next mip
    /// level, so a texture drawn at half its size or less is not undersampled (fine lines would
    /// shimmer).
    pub fn halved(&self) -> Texture {
        let (w, h) = (self.width.div_ceil(2).max(1), self.height.div_ceil(2).max(1));
        let mut rgba = vec![0u8; w as usize * h as usize * 4];
        let src = |x: u32, y: u32, c: usize| {
            let (x, y) = (x.min(self.width - 1), y.min(self.height - 1));
            self.rgba[(y as usize * self.width as usize + x as usize) * 4 + c] as u32
        };
        for y in 0..h {
            for x in 0..w {
                for c in 0..4 {
                    let sum = src(2 * x, 2 * y, c)
                        + src(2 * x + 1, 2 * y, c)
                        + src(2 * x, 2 * y + 1, c)
                        + src(2 * x + 1, 2 * y + 1, c);
                    rgba[(y as usize * w as usize + x as usize) * 4 + c] = ((sum + 2) / 4) as u8;
                }
            }
        }
        Texture {
            width: w,
            height: h,
            rgba,
        }
    }
}
