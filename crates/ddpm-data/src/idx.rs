//! The IDX file format of MNIST and Fashion-MNIST, gzip-compressed or raw.
//!
//! An IDX file is a 4-byte magic number — two zero bytes, a type code (0x08 = unsigned byte) and
//! the number of dimensions — then each dimension as a big-endian `u32`, then the data in
//! row-major order. Images are 3-D (count, rows, cols); labels are 1-D (count).

use std::io::Read;
use std::path::{Path, PathBuf};

/// Everything that can be wrong with an IDX file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not found (looked for {})", dir.display(), candidates.join(" and "))]
    Missing {
        dir: PathBuf,
        candidates: Vec<String>,
    },
    #[error("{}: looks gzip-compressed but does not decompress: {source}", path.display())]
    Gzip {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: not an IDX file of {expected_dims}-D unsigned bytes: magic number is {found:#010x}, expected {expected:#010x}",
        path.display()
    )]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        expected_dims: usize,
    },
    #[error("{}: truncated: {what} needs {needed} bytes but only {available} are there", path.display())]
    Truncated {
        path: PathBuf,
        what: &'static str,
        needed: usize,
        available: usize,
    },
    #[error(
        "{}: the header claims dimensions {dims:?}, more than the {} bytes an IDX file may hold here",
        path.display(),
        MAX_IDX_BYTES
    )]
    TooLarge { path: PathBuf, dims: Vec<usize> },
    #[error("{}: {extra} unexpected bytes after the data (header says {expected} bytes)", path.display())]
    TrailingBytes {
        path: PathBuf,
        expected: usize,
        extra: usize,
    },
    #[error("{}: MD5 of the uncompressed file is {found}, expected {expected} (MNIST's published checksum) — the file is damaged or not MNIST's; restore it with `git checkout data/mnist`", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{} has {images} images but {} has {labels} labels", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },
    #[error("{}: label {value} at index {index} is not a class 0..=9", path.display())]
    BadLabel {
        path: PathBuf,
        index: usize,
        value: u8,
    },
}

/// An n-dimensional array of bytes read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// The magic number of an IDX file of unsigned bytes with `dims` dimensions.
pub fn magic(dims: usize) -> u32 {
    0x0000_0800 | dims as u32
}

/// The largest IDX payload the course reads: 1 GiB (MNIST's training images are 47 MB). A
/// header that claims more is refused before anything is allocated, so a corrupt or hostile
/// file cannot make the reader ask for an impossible amount of memory.
pub const MAX_IDX_BYTES: usize = 1 << 30;

/// The bytes of an IDX file as a stream, decompressed on the fly when the file starts with the
/// gzip signature (1f 8b); read errors are reported with the file's name.
struct Source<'a> {
    path: &'a Path,
    gzip: bool,
    reader: Box<dyn Read + 'a>,
    /// Uncompressed bytes read so far.
    consumed: usize,
}

impl<'a> Source<'a> {
    fn open(path: &'a Path) -> Result<Self, IdxError> {
        let io = |source| IdxError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
        let head = std::io::BufRead::fill_buf(&mut file).map_err(io)?;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read> = if gzip {
            Box::new(flate2::bufread::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Ok(Self {
            path,
            gzip,
            reader,
            consumed: 0,
        })
    }

    fn error(&self, source: std::io::Error) -> IdxError {
        if self.gzip {
            IdxError::Gzip {
                path: self.path.to_owned(),
                source,
            }
        } else {
            IdxError::Io {
                path: self.path.to_owned(),
                source,
            }
        }
    }

    /// Appends up to `n` bytes to `out`; fewer only at the end of the stream.
    fn read_up_to(&mut self, n: usize, out: &mut Vec<u8>) -> Result<usize, IdxError> {
        let got = (&mut self.reader)
            .take(n as u64)
            .read_to_end(out)
            .map_err(|e| self.error(e))?;
        self.consumed += got;
        Ok(got)
    }

    /// Counts (and discards) what is left, up to `limit` bytes.
    fn rest(&mut self, limit: usize) -> Result<usize, IdxError> {
        let n = std::io::copy(
            &mut (&mut self.reader).take(limit as u64),
            &mut std::io::sink(),
        )
        .map_err(|e| self.error(e))?;
        Ok(n as usize)
    }
}

// ANCHOR: read_idx
/// Reads an IDX file of unsigned bytes that must have `expected_dims` dimensions.
pub fn read_idx(path: impl AsRef<Path>, expected_dims: usize) -> Result<IdxArray, IdxError> {
    let path = path.as_ref();
    let mut src = Source::open(path)?;
    let mut bytes = Vec::new();
    let truncated = |what, needed, available| IdxError::Truncated {
        path: path.to_owned(),
        what,
        needed,
        available,
    };
    if src.read_up_to(4, &mut bytes)? < 4 {
        return Err(truncated("the magic number", 4, src.consumed));
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != magic(expected_dims) {
        return Err(IdxError::BadMagic {
            path: path.to_owned(),
            found,
            expected: magic(expected_dims),
            expected_dims,
        });
    }
    let header = 4 + 4 * expected_dims;
    if src.read_up_to(header - 4, &mut bytes)? < header - 4 {
        return Err(truncated("the header", header, src.consumed));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let len = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_BYTES)
        .ok_or_else(|| IdxError::TooLarge {
            path: path.to_owned(),
            dims: dims.clone(),
        })?;
    // Grows with the bytes that actually arrive: a header that lies costs nothing.
    let mut data = Vec::with_capacity(len.min(1 << 20));
    if src.read_up_to(len, &mut data)? < len {
        return Err(truncated("the data", header + len, src.consumed));
    }
    let extra = src.rest(MAX_IDX_BYTES)?;
    if extra > 0 {
        return Err(IdxError::TrailingBytes {
            path: path.to_owned(),
            expected: len,
            extra,
        });
    }
    Ok(IdxArray { dims, data })
}
// ANCHOR_END: read_idx

/// Encodes an IDX file of unsigned bytes (used by tests and by anyone making small datasets).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = magic(dims.len()).to_be_bytes().to_vec();
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzip_alike() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..24).collect();
        let raw = encode_idx(&[2, 3, 4], &data);
        let a = read_idx(write(dir.path(), "a", &raw), 3).unwrap();
        let b = read_idx(write(dir.path(), "b.gz", &gzip(&raw)), 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
    }

    #[test]
    fn missing_file_names_the_file() {
        let err = read_idx("/nonexistent/train-images-idx3-ubyte", 3).unwrap_err();
        assert!(matches!(err, IdxError::Io { .. }));
        assert!(
            err.to_string()
                .contains("/nonexistent/train-images-idx3-ubyte"),
            "{err}"
        );
    }

    #[test]
    fn wrong_magic_number_is_reported_with_both_values() {
        let dir = tempfile::tempdir().unwrap();
        // A label file (1-D) read where images (3-D) are expected.
        let p = write(dir.path(), "labels", &encode_idx(&[3], &[1, 2, 3]));
        let err = read_idx(&p, 3).unwrap_err();
        assert!(matches!(
            err,
            IdxError::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("labels") && msg.contains("0x00000801"),
            "{msg}"
        );
        // A PNG is not an IDX file either.
        let p = write(dir.path(), "x.png", b"\x89PNG\r\n\x1a\n....");
        assert!(matches!(read_idx(&p, 3), Err(IdxError::BadMagic { .. })));
    }

    #[test]
    fn truncated_header_and_data_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let full = encode_idx(&[2, 3, 4], &[7; 24]);
        let p = write(dir.path(), "short", &full[..full.len() - 5]);
        let err = read_idx(&p, 3).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::Truncated {
                    what: "the data",
                    needed: 40,
                    available: 35,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("short"));
        let p = write(dir.path(), "tiny", &full[..6]);
        assert!(matches!(
            read_idx(&p, 3),
            Err(IdxError::Truncated {
                what: "the header",
                ..
            })
        ));
        let p = write(dir.path(), "empty", &[]);
        assert!(matches!(
            read_idx(&p, 3),
            Err(IdxError::Truncated {
                what: "the magic number",
                ..
            })
        ));
        // A gzip file cut short fails to decompress and says so.
        let gz = gzip(&full);
        let p = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
        let err = read_idx(&p, 3).unwrap_err();
        assert!(matches!(err, IdxError::Gzip { .. }), "{err:?}");
        assert!(err.to_string().contains("cut.gz"));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = encode_idx(&[2], &[1, 2]);
        bytes.push(9);
        let p = write(dir.path(), "long", &bytes);
        assert!(matches!(
            read_idx(&p, 1),
            Err(IdxError::TrailingBytes { extra: 1, .. })
        ));
    }
}
