//! RGBA8 to I420 (planar 4:2:0 YUV), the input format of VP8.
//!
//! Uses BT.601 coefficients in limited ("TV") range, which is what VP8 decoders and browsers assume
//! when a stream says nothing else (the muxer also says so in the track's Colour element).
//! Alpha is ignored, not composited: rendered frames are expected to be opaque.

use yuv::{
    BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix, rgba_to_yuv420,
};

use super::EncodeError;

/// Bytes of an I420 picture of an even `width` x `height`: a full-size Y plane, then quarter-size U
/// and V planes, no padding.
pub fn i420_len(width: u32, height: u32) -> usize {
    let luma = width as usize * height as usize;
    luma + 2 * (luma / 4)
}

/// Converts a tightly packed RGBA8 picture into `i420` (Y plane, then U, then V, strides equal to the
/// plane widths).
///
/// Errors on odd sizes and on buffers whose length does not match `width` x `height`.
pub fn rgba_to_i420(rgba: &[u8], width: u32, height: u32, i420: &mut [u8]) -> Result<(), EncodeError> {
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(EncodeError::OddDimensions { width, height });
    }
    let expected = [
        ("RGBA", rgba.len(), width as usize * height as usize * 4),
        ("I420", i420.len(), i420_len(width, height)),
    ];
    for (buffer, got_bytes, expected_bytes) in expected {
        if got_bytes != expected_bytes {
            return Err(EncodeError::BufferLength {
                buffer,
                width,
                height,
                expected_bytes,
                got_bytes,
            });
        }
    }
    let luma_len = width as usize * height as usize;
    let (y, chroma) = i420.split_at_mut(luma_len);
    let (u, v) = chroma.split_at_mut(luma_len / 4);
    let mut planar = YuvPlanarImageMut {
        y_plane: BufferStoreMut::Borrowed(y),
        y_stride: width,
        u_plane: BufferStoreMut::Borrowed(u),
        u_stride: width / 2,
        v_plane: BufferStoreMut::Borrowed(v),
        v_stride: width / 2,
        width,
        height,
    };
    rgba_to_yuv420(
        &mut planar,
        rgba,
        width * 4,
        YuvRange::Limited,
        YuvStandardMatrix::Bt601,
        YuvConversionMode::Balanced,
    )
    .map_err(|e| EncodeError::Encode {
        codec: "RGBA to I420 conversion",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert_solid(rgb: [u8; 3]) -> [u8; 3] {
        let (w, h) = (4, 2);
        let rgba: Vec<u8> = (0..w * h).flat_map(|_| [rgb[0], rgb[1], rgb[2], 255]).collect();
        let mut i420 = vec![0; i420_len(w, h)];
        rgba_to_i420(&rgba, w, h, &mut i420).unwrap();
        let luma = (w * h) as usize;
        // A solid picture must give solid planes.
        assert!(i420[..luma].iter().all(|&y| y == i420[0]), "{rgb:?}: {i420:?}");
        [i420[0], i420[luma], i420[luma + luma / 4]]
    }

    #[test]
    fn primaries_map_to_bt601_limited_range() {
        // Expected values from the BT.601 limited-range equations, rounded.
        let cases = [
            ([255, 0, 0], [81, 90, 240]),
            ([0, 255, 0], [145, 54, 34]),
            ([0, 0, 255], [41, 240, 110]),
            ([255, 255, 255], [235, 128, 128]),
            ([0, 0, 0], [16, 128, 128]),
        ];
        for (rgb, expected) in cases {
            let got = convert_solid(rgb);
            for (plane, (g, e)) in ["Y", "U", "V"].iter().zip(got.iter().zip(expected)) {
                assert!(
                    (i32::from(*g) - e).abs() <= 2,
                    "{rgb:?}: {plane} is {g}, expected {e} ± 2"
                );
            }
        }
    }

    #[test]
    fn odd_sizes_and_short_buffers_are_errors_not_panics() {
        let mut out = vec![0; 64];
        assert!(matches!(
            rgba_to_i420(&[0; 3 * 2 * 4], 3, 2, &mut out),
            Err(EncodeError::OddDimensions { width: 3, height: 2 })
        ));
        assert!(rgba_to_i420(&[0; 10], 2, 2, &mut out).is_err());
    }
}
