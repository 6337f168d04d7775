//! Writing `float32` matrices as NumPy `.npy` files (format version 1.0), row by row.
//!
//! The header is the tiny Python-dict literal NumPy expects (`{'descr': '<f4',
//! 'fortran_order': False, 'shape': (rows, cols), }`), padded with spaces to
//! [`HEADER_BYTES`] so it can be rewritten in place once the row count is known: rows stream
//! to disk as they are made, and the file is finished by seeking back to the header.
//! `numpy.load(path, mmap_mode="r")` reads the result without copying.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// Magic, version, header length and header dict: 128 bytes, a multiple of 64 as NumPy asks,
/// and room for any `u64` row count.
pub(super) const HEADER_BYTES: usize = 128;

/// A `.npy` file of `f32` rows of fixed width, written front to back.
pub(super) struct NpyWriter {
    out: BufWriter<File>,
    cols: usize,
    rows: u64,
}

impl NpyWriter {
    pub(super) fn create(path: &Path, cols: usize) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&header(0, cols))?;
        Ok(NpyWriter { out, cols, rows: 0 })
    }

    /// Appends whole rows (`values.len()` must be a multiple of the width).
    pub(super) fn write_rows(&mut self, values: &[f32]) -> io::Result<()> {
        assert_eq!(values.len() % self.cols, 0, "a partial row");
        let mut bytes = Vec::with_capacity(values.len() * 4);
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&bytes)?;
        self.rows += (values.len() / self.cols) as u64;
        Ok(())
    }

    pub(super) fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the final shape into the header and flushes the file to disk.
    pub(super) fn finish(mut self) -> io::Result<u64> {
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&header(self.rows, self.cols))?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.rows)
    }
}

/// The complete 128-byte preamble for a C-order little-endian `f32` array of `rows × cols`.
pub(super) fn header(rows: u64, cols: usize) -> [u8; HEADER_BYTES] {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let mut out = [b' '; HEADER_BYTES];
    out[..6].copy_from_slice(b"\x93NUMPY");
    out[6] = 1;
    out[7] = 0;
    let header_len = (HEADER_BYTES - 10) as u16;
    out[8..10].copy_from_slice(&header_len.to_le_bytes());
    out[10..10 + dict.len()].copy_from_slice(dict.as_bytes());
    out[HEADER_BYTES - 1] = b'\n';
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_numpy_v1_and_fits_any_row_count() {
        let h = header(u64::MAX, 80);
        assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
        assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize + 10, HEADER_BYTES);
        let text = std::str::from_utf8(&h[10..]).expect("ascii");
        assert!(
            text.starts_with(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 80), }"
            )
        );
        assert!(text.ends_with(" \n"));
    }

    #[test]
    fn rows_stream_and_the_shape_is_patched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.npy");
        let mut w = NpyWriter::create(&path, 3).expect("create");
        w.write_rows(&[1.0, 2.0, 3.0]).expect("row");
        w.write_rows(&[4.0, 5.0, 6.0, 7.0, 8.0, 9.0]).expect("rows");
        assert_eq!(w.finish().expect("finish"), 3);
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), HEADER_BYTES + 9 * 4);
        assert_eq!(&bytes[..HEADER_BYTES], &header(3, 3));
        let last = f32::from_le_bytes(bytes[bytes.len() - 4..].try_into().expect("4 bytes"));
        assert_eq!(last, 9.0);
    }
}
