//! Image sets in the formats other tools read, written as a stream and read back:
//!
//! - [`Format::Png`]: a folder of `000000.png`, `000001.png`, … (one 8-bit grey image each) —
//!   what pytorch-fid and clean-fid take;
//! - [`Format::Npz`]: NumPy's `.npz` with a `uint8` array `arr_0` of shape `[N, H, W, 1]` —
//!   the layout of OpenAI's guided-diffusion evaluator — and, when there are labels, `arr_1`
//!   of shape `[N]`;
//! - [`Format::Idx`]: an IDX file of unsigned bytes `[N, H, W]`, like MNIST's own.
//!
//! Writers take images batch by batch, so a large set never has to be in memory; the count is
//! fixed up front (the IDX and NPY headers hold it). [`read_images`] reads any of the three
//! back (and IDX files gzip-compressed), with errors that name the file.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::idx::{magic, read_idx, IdxError, MAX_IDX_BYTES};
use crate::mnist::Images;

/// A format samples can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Png,
    Npz,
    Idx,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Png, Format::Npz, Format::Idx];

    pub fn name(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Npz => "npz",
            Format::Idx => "idx",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format '{s}': expected png, npz or idx"))
    }
}

/// What can go wrong writing or reading an image set. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Idx(#[from] IdxError),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> FormatError + '_ {
    move |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> FormatError {
    FormatError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The most bytes of images one `.npz` written here may hold: a zip file without the zip64
/// extension stores sizes in 32 bits.
pub const MAX_NPZ_BYTES: u64 = u32::MAX as u64 - 4096;

/// Where [`SampleWriter::create`] puts a format's output inside a folder, for `count` images of
/// `rows × cols`.
pub fn output_path(dir: &Path, format: Format, count: usize, rows: usize, cols: usize) -> PathBuf {
    match format {
        Format::Png => dir.join("samples"),
        Format::Npz => dir.join(format!("samples_{count}x{rows}x{cols}x1.npz")),
        Format::Idx => dir.join("samples-images-idx3-ubyte"),
    }
}

/// Writes `count` images of `rows × cols` in one format, a batch at a time.
pub struct SampleWriter {
    path: PathBuf,
    format: Format,
    count: usize,
    rows: usize,
    cols: usize,
    written: usize,
    /// The open file (npz, idx); PNGs are one file each.
    file: Option<BufWriter<File>>,
    /// npz: where arr_0's local header starts, its CRC so far, its size; the labels.
    npz: Option<NpzState>,
}

struct NpzState {
    crc: crc32fast::Hasher,
    size: u64,
    labels: Vec<u8>,
    has_labels: bool,
}

impl SampleWriter {
    /// Prepares `format`'s output in `dir` (created if missing): refuses up front what the
    /// format cannot hold.
    pub fn create(
        dir: &Path,
        format: Format,
        count: usize,
        rows: usize,
        cols: usize,
        labelled: bool,
    ) -> Result<Self, FormatError> {
        let path = output_path(dir, format, count, rows, cols);
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let image_bytes = (count as u64)
            .checked_mul((rows * cols) as u64)
            .ok_or_else(|| invalid(&path, "the image count overflows"))?;
        let mut w = Self {
            path: path.clone(),
            format,
            count,
            rows,
            cols,
            written: 0,
            file: None,
            npz: None,
        };
        match format {
            Format::Png => std::fs::create_dir_all(&path).map_err(io_err(&path))?,
            Format::Idx => {
                for (what, n) in [("count", count), ("rows", rows), ("cols", cols)] {
                    if n > u32::MAX as usize {
                        return Err(invalid(&path, format!("an IDX {what} must fit 32 bits")));
                    }
                }
                let mut f = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
                f.write_all(&magic(3).to_be_bytes())
                    .map_err(io_err(&path))?;
                for d in [count, rows, cols] {
                    f.write_all(&(d as u32).to_be_bytes())
                        .map_err(io_err(&path))?;
                }
                w.file = Some(f);
            }
            Format::Npz => {
                let header = npy_header(&[count, rows, cols, 1]);
                let size = header.len() as u64 + image_bytes;
                if size + count as u64 > MAX_NPZ_BYTES {
                    return Err(invalid(
                        &path,
                        format!(
                            "{count} images of {rows}×{cols} need {size} bytes, more than an .npz \
                             without zip64 holds; write --format idx or png instead"
                        ),
                    ));
                }
                let mut f = BufWriter::new(File::create(&path).map_err(io_err(&path))?);
                let e = io_err(&path);
                f.write_all(&local_header("arr_0.npy", 0, size as u32))
                    .map_err(&e)?;
                f.write_all(&header).map_err(&e)?;
                let mut crc = crc32fast::Hasher::new();
                crc.update(&header);
                w.file = Some(f);
                w.npz = Some(NpzState {
                    crc,
                    size,
                    labels: Vec::new(),
                    has_labels: labelled,
                });
            }
        }
        Ok(w)
    }

    /// The file (npz, idx) or folder (png) being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a batch (and its labels, for a labelled npz).
    pub fn write(&mut self, batch: &Images, labels: Option<&[u8]>) -> Result<(), FormatError> {
        if (batch.rows, batch.cols) != (self.rows, self.cols) {
            return Err(invalid(
                &self.path,
                format!(
                    "images of {}×{} written to a set of {}×{}",
                    batch.rows, batch.cols, self.rows, self.cols
                ),
            ));
        }
        if self.written + batch.count > self.count {
            return Err(invalid(
                &self.path,
                format!("more than the {} images announced", self.count),
            ));
        }
        let e = io_err(&self.path);
        match self.format {
            Format::Png => {
                let width = digits(self.count).max(6);
                for i in 0..batch.count {
                    let img = image::GrayImage::from_raw(
                        self.cols as u32,
                        self.rows as u32,
                        batch.image(i).to_vec(),
                    )
                    .expect("image size");
                    let file = self.path.join(format!("{:0width$}.png", self.written + i));
                    img.save(&file)
                        .map_err(|err| invalid(&file, format!("cannot write the PNG: {err}")))?;
                }
            }
            Format::Idx => {
                let f = self.file.as_mut().expect("open");
                f.write_all(&batch.pixels).map_err(&e)?;
            }
            Format::Npz => {
                let f = self.file.as_mut().expect("open");
                f.write_all(&batch.pixels).map_err(&e)?;
                let st = self.npz.as_mut().expect("npz");
                st.crc.update(&batch.pixels);
                if st.has_labels {
                    let labels = labels.ok_or_else(|| {
                        invalid(
                            &self.path,
                            "a labelled set was given a batch without labels",
                        )
                    })?;
                    st.labels.extend_from_slice(&labels[..batch.count]);
                }
            }
        }
        self.written += batch.count;
        Ok(())
    }

    /// Completes the file (the npz's checksum, labels and directory), checking that every
    /// announced image was written. Returns the path.
    pub fn finish(mut self) -> Result<PathBuf, FormatError> {
        if self.written != self.count {
            return Err(invalid(
                &self.path,
                format!("{} of {} images written", self.written, self.count),
            ));
        }
        let path = self.path.clone();
        let e = io_err(&path);
        if let (Some(mut f), Some(st)) = (self.file.take(), self.npz.take()) {
            let arr0_crc = st.crc.finalize();
            let mut entries = vec![("arr_0.npy", 0u64, arr0_crc, st.size)];
            let mut offset = 30 + "arr_0.npy".len() as u64 + st.size;
            if st.has_labels {
                let mut arr1 = npy_header(&[self.count]);
                arr1.extend_from_slice(&st.labels);
                let crc = crc32fast::hash(&arr1);
                f.write_all(&local_header("arr_1.npy", crc, arr1.len() as u32))
                    .map_err(&e)?;
                f.write_all(&arr1).map_err(&e)?;
                entries.push(("arr_1.npy", offset, crc, arr1.len() as u64));
                offset += 30 + "arr_1.npy".len() as u64 + arr1.len() as u64;
            }
            let mut dir = Vec::new();
            for &(name, at, crc, size) in &entries {
                dir.extend_from_slice(&central_entry(name, crc, size as u32, at as u32));
            }
            f.write_all(&dir).map_err(&e)?;
            f.write_all(&end_of_directory(entries.len(), dir.len(), offset))
                .map_err(&e)?;
            // The first local header was written before its checksum was known.
            let mut file = f.into_inner().map_err(|err| err.into_error()).map_err(&e)?;
            file.seek(SeekFrom::Start(14)).map_err(&e)?;
            file.write_all(&arr0_crc.to_le_bytes()).map_err(&e)?;
            file.sync_all().map_err(&e)?;
        } else if let Some(f) = self.file.take() {
            let file = f.into_inner().map_err(|err| err.into_error()).map_err(&e)?;
            file.sync_all().map_err(&e)?;
        }
        Ok(self.path)
    }
}

fn digits(n: usize) -> usize {
    n.saturating_sub(1).to_string().len()
}

/// NumPy's `.npy` header (format version 1.0) for a `uint8` array of `shape`, padded so the
/// data starts at a multiple of 64 bytes.
pub fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A zip local file header for a stored (uncompressed) entry, dated 1980-01-01.
fn local_header(name: &str, crc: u32, size: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len());
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
    h.extend_from_slice(&0u16.to_le_bytes()); // flags
    h.extend_from_slice(&0u16.to_le_bytes()); // method: stored
    h.extend_from_slice(&0u16.to_le_bytes()); // time
    h.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&size.to_le_bytes()); // compressed size
    h.extend_from_slice(&size.to_le_bytes()); // uncompressed size
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // extra field length
    h.extend_from_slice(name.as_bytes());
    h
}

fn central_entry(name: &str, crc: u32, size: u32, offset: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(46 + name.len());
    h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes()); // version made by
    h.extend_from_slice(&20u16.to_le_bytes()); // version needed
    h.extend_from_slice(&0u16.to_le_bytes()); // flags
    h.extend_from_slice(&0u16.to_le_bytes()); // method
    h.extend_from_slice(&0u16.to_le_bytes()); // time
    h.extend_from_slice(&0x21u16.to_le_bytes()); // date
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&size.to_le_bytes());
    h.extend_from_slice(&size.to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&[0; 12]); // extra, comment, disk, internal and external attributes
    h.extend_from_slice(&offset.to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    h
}

fn end_of_directory(entries: usize, size: usize, offset: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(22);
    h.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    h.extend_from_slice(&[0; 4]); // this disk, the directory's disk
    h.extend_from_slice(&(entries as u16).to_le_bytes());
    h.extend_from_slice(&(entries as u16).to_le_bytes());
    h.extend_from_slice(&(size as u32).to_le_bytes());
    h.extend_from_slice(&(offset as u32).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes()); // comment length
    h
}

/// Reads an image set: a folder of PNGs (in name order), an `.npz` (its `arr_0`, `uint8`,
/// `[N, H, W]` or `[N, H, W, 1]`, and labels from `arr_1` if present), or an IDX file
/// (raw or gzip) of `[N, H, W]` unsigned bytes.
pub fn read_images(path: &Path) -> Result<(Images, Option<Vec<u8>>), FormatError> {
    if path.is_dir() {
        return read_png_folder(path).map(|i| (i, None));
    }
    let mut head = [0u8; 4];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io_err(path))?;
    if n == 4 && head == *b"PK\x03\x04" {
        return read_npz(path);
    }
    let a = read_idx(path, 3)?;
    Ok((
        Images {
            count: a.dims[0],
            rows: a.dims[1],
            cols: a.dims[2],
            pixels: a.data,
        },
        None,
    ))
}

fn read_png_folder(dir: &Path) -> Result<Images, FormatError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(invalid(dir, "no .png files in this folder"));
    }
    let mut images: Option<Images> = None;
    for f in &files {
        let img = image::open(f)
            .map_err(|e| invalid(f, format!("not a readable PNG: {e}")))?
            .to_luma8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        let set = images.get_or_insert_with(|| Images {
            count: 0,
            rows: h,
            cols: w,
            pixels: Vec::new(),
        });
        if (set.rows, set.cols) != (h, w) {
            return Err(invalid(
                f,
                format!(
                    "{w}×{h} pixels, but the first image is {}×{}",
                    set.cols, set.rows
                ),
            ));
        }
        set.pixels.extend_from_slice(img.as_raw());
        set.count += 1;
    }
    Ok(images.expect("at least one file"))
}

/// One member of a zip archive, as its central directory describes it.
struct ZipEntry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn zip_entries(path: &Path, bytes: &[u8]) -> Result<Vec<ZipEntry>, FormatError> {
    let bad = |why: &str| invalid(path, format!("not a readable .npz (zip): {why}"));
    // The end-of-directory record is in the last 22 + 65,535 bytes (its comment may be long).
    let from = bytes.len().saturating_sub(22 + 0xFFFF);
    let eocd = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(0x0605_4b50))
        .ok_or_else(|| bad("no end-of-directory record"))?;
    let entries = u16_at(bytes, eocd + 10).ok_or_else(|| bad("short record"))? as usize;
    let mut at = u32_at(bytes, eocd + 16).ok_or_else(|| bad("short record"))? as usize;
    let mut out = Vec::with_capacity(entries.min(64));
    for _ in 0..entries {
        let field = |off: usize| u32_at(bytes, at + off).ok_or_else(|| bad("directory cut short"));
        if field(0)? != 0x0201_4b50 {
            return Err(bad("broken central directory"));
        }
        let name_len = u16_at(bytes, at + 28).ok_or_else(|| bad("directory cut short"))? as usize;
        let extra = u16_at(bytes, at + 30).ok_or_else(|| bad("directory cut short"))? as usize;
        let comment = u16_at(bytes, at + 32).ok_or_else(|| bad("directory cut short"))? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("directory cut short"))?;
        out.push(ZipEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            method: u16_at(bytes, at + 10).ok_or_else(|| bad("directory cut short"))?,
            crc: field(16)?,
            compressed: field(20)? as u64,
            size: field(24)? as u64,
            offset: field(42)? as u64,
        });
        at += 46 + name_len + extra + comment;
    }
    Ok(out)
}

/// The bytes of one zip member (stored or deflated), checked against its CRC.
fn zip_member(path: &Path, bytes: &[u8], e: &ZipEntry) -> Result<Vec<u8>, FormatError> {
    let bad = |why: String| invalid(path, format!("{}: {why}", e.name));
    if e.size > MAX_IDX_BYTES as u64 {
        return Err(bad(format!(
            "{} bytes is more than this reader takes",
            e.size
        )));
    }
    let at = e.offset as usize;
    if u32_at(bytes, at) != Some(0x0403_4b50) {
        return Err(bad("no local header where the directory points".into()));
    }
    let name_len = u16_at(bytes, at + 26).unwrap_or(0) as usize;
    let extra = u16_at(bytes, at + 28).unwrap_or(0) as usize;
    let start = at + 30 + name_len + extra;
    let raw = start
        .checked_add(e.compressed as usize)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| bad("the file is cut short".into()))?;
    let data = match e.method {
        0 => raw.to_vec(),
        8 => {
            let mut out = Vec::with_capacity((e.size as usize).min(1 << 20));
            flate2::read::DeflateDecoder::new(raw)
                .take(e.size + 1)
                .read_to_end(&mut out)
                .map_err(|err| bad(format!("does not decompress: {err}")))?;
            out
        }
        m => return Err(bad(format!("compression method {m} is not supported"))),
    };
    if data.len() as u64 != e.size || crc32fast::hash(&data) != e.crc {
        return Err(bad("size or CRC does not match the directory".into()));
    }
    Ok(data)
}

/// Parses a `.npy` holding `uint8` data: (shape, data).
pub fn parse_npy(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, Vec<u8>), FormatError> {
    let bad = |why: String| invalid(path, format!("not a readable .npy array: {why}"));
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err(bad("no NUMPY magic".into()));
    }
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16_at(bytes, 8).unwrap_or(0) as usize, 10),
        2 | 3 => (
            u32_at(bytes, 8).ok_or_else(|| bad("short header".into()))? as usize,
            12,
        ),
        v => return Err(bad(format!("format version {v}"))),
    };
    let header = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| bad("header cut short".into()))?;
    let header = String::from_utf8_lossy(header);
    let field = |key: &str| -> Option<String> {
        let i = header.find(&format!("'{key}'"))?;
        let rest = header[i + key.len() + 2..].trim_start().strip_prefix(':')?;
        Some(rest.trim_start().to_string())
    };
    let descr = field("descr").ok_or_else(|| bad("no 'descr'".into()))?;
    if !["'|u1'", "'u1'", "'<u1'", "'>u1'"]
        .iter()
        .any(|d| descr.starts_with(d))
    {
        return Err(bad(format!(
            "dtype {} — expected uint8 ('|u1')",
            descr.split(',').next().unwrap_or("")
        )));
    }
    if field("fortran_order").is_some_and(|f| f.starts_with("True")) {
        return Err(bad("Fortran (column-major) order is not supported".into()));
    }
    let shape = field("shape").ok_or_else(|| bad("no 'shape'".into()))?;
    let inside = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("unreadable shape".into()))?;
    let dims: Vec<usize> = inside
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad(format!("unreadable shape ({inside})")))
        })
        .collect::<Result<_, _>>()?;
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_IDX_BYTES)
        .ok_or_else(|| bad(format!("shape {dims:?} is too large")))?;
    let data = &bytes[start + len..];
    if data.len() != n {
        return Err(bad(format!(
            "shape {dims:?} needs {n} bytes of data, the array has {}",
            data.len()
        )));
    }
    Ok((dims, data.to_vec()))
}

fn read_npz(path: &Path) -> Result<(Images, Option<Vec<u8>>), FormatError> {
    let len = std::fs::metadata(path).map_err(io_err(path))?.len();
    if len > MAX_NPZ_BYTES + (1 << 20) {
        return Err(invalid(
            path,
            format!("{len} bytes is more than this reader takes"),
        ));
    }
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let entries = zip_entries(path, &bytes)?;
    let member = |name: &str| entries.iter().find(|e| e.name == name);
    let arr0 = member("arr_0.npy").ok_or_else(|| invalid(path, "no array 'arr_0' in the .npz"))?;
    let (dims, pixels) = parse_npy(path, &zip_member(path, &bytes, arr0)?)?;
    let (count, rows, cols) = match dims[..] {
        [n, h, w] | [n, h, w, 1] => (n, h, w),
        _ => {
            return Err(invalid(
                path,
                format!("arr_0 has shape {dims:?}; expected [N, H, W] or [N, H, W, 1] grey images"),
            ))
        }
    };
    let labels = match member("arr_1.npy") {
        None => None,
        Some(e) => {
            let (ldims, labels) = parse_npy(path, &zip_member(path, &bytes, e)?)?;
            if ldims != [count] {
                return Err(invalid(
                    path,
                    format!("arr_1 (labels) has shape {ldims:?}, expected [{count}]"),
                ));
            }
            Some(labels)
        }
    };
    Ok((
        Images {
            count,
            rows,
            cols,
            pixels,
        },
        labels,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(n: usize) -> Images {
        Images {
            count: n,
            rows: 28,
            cols: 28,
            pixels: (0..n * 784).map(|i| (i * 7 % 251) as u8).collect(),
        }
    }

    fn write_all(dir: &Path, format: Format, set: &Images, labels: Option<&[u8]>) -> PathBuf {
        let mut w = SampleWriter::create(dir, format, set.count, 28, 28, labels.is_some()).unwrap();
        // In uneven batches, as the sampler writes them.
        let mut start = 0;
        for size in [3, 1, 5, 100] {
            let end = (start + size).min(set.count);
            let idx: Vec<usize> = (start..end).collect();
            w.write(&set.select(&idx), labels.map(|l| &l[start..end]))
                .unwrap();
            start = end;
        }
        w.finish().unwrap()
    }

    #[test]
    fn every_format_round_trips_pixel_for_pixel() {
        let dir = tempfile::tempdir().unwrap();
        let set = images(11);
        for format in Format::ALL {
            let path = write_all(dir.path(), format, &set, None);
            let (back, labels) = read_images(&path).unwrap();
            assert_eq!(back, set, "{format}");
            assert!(labels.is_none());
        }
        // The PNG names are zero-padded, so name order is sample order.
        assert!(dir.path().join("samples/000010.png").is_file());
        assert!(dir.path().join("samples_11x28x28x1.npz").is_file());
        // And the IDX file is MNIST's format: the course's reader takes it as a dataset half.
        let a = read_idx(dir.path().join("samples-images-idx3-ubyte"), 3).unwrap();
        assert_eq!(a.dims, vec![11, 28, 28]);
    }

    #[test]
    fn npz_labels_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let set = images(9);
        let labels: Vec<u8> = (0..9).map(|i| (i % 10) as u8).collect();
        let path = write_all(dir.path(), Format::Npz, &set, Some(&labels));
        let (back, got) = read_images(&path).unwrap();
        assert_eq!((back, got), (set, Some(labels)));
    }

    /// The layout the formats document: the zip's first local header, the `.npy` magic,
    /// version and dict (shape `[N, 28, 28, 1]`, `|u1`, C order), the data 64-byte aligned,
    /// the end-of-directory record.
    #[test]
    fn npz_layout_is_the_documented_one() {
        let dir = tempfile::tempdir().unwrap();
        let set = images(4);
        let path = write_all(dir.path(), Format::Npz, &set, None);
        let b = std::fs::read(&path).unwrap();
        assert_eq!(&b[..4], b"PK\x03\x04");
        assert_eq!(u16_at(&b, 8), Some(0), "stored, not compressed");
        let name_len = u16_at(&b, 26).unwrap() as usize;
        assert_eq!(&b[30..30 + name_len], b"arr_0.npy");
        let npy = &b[30 + name_len..];
        assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16_at(npy, 8).unwrap() as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let dict = std::str::from_utf8(&npy[10..10 + hlen]).unwrap();
        assert!(
            dict.starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': (4, 28, 28, 1), }")
        );
        assert!(dict.ends_with('\n'));
        assert_eq!(&npy[10 + hlen..10 + hlen + 4 * 784], &set.pixels[..]);
        assert_eq!(
            crc32fast::hash(&npy[..10 + hlen + 4 * 784]),
            u32_at(&b, 14).unwrap()
        );
        assert_eq!(u32_at(&b, b.len() - 22), Some(0x0605_4b50));
    }

    #[test]
    fn impossible_or_broken_sets_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = SampleWriter::create(dir.path(), Format::Npz, 100_000_000, 28, 28, false)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--format idx"), "{e}");
        let mut w = SampleWriter::create(dir.path(), Format::Idx, 2, 28, 28, false).unwrap();
        w.write(&images(1), None).unwrap();
        assert!(w.write(&images(2), None).is_err());
        let e = w.finish().unwrap_err();
        assert!(e.to_string().contains("1 of 2"), "{e}");
        // A cut npz, an empty folder, a PNG of another size.
        let set = images(3);
        let npz = write_all(dir.path(), Format::Npz, &set, None);
        let bytes = std::fs::read(&npz).unwrap();
        let cut = dir.path().join("cut.npz");
        std::fs::write(&cut, &bytes[..bytes.len() - 30]).unwrap();
        let e = read_images(&cut).unwrap_err();
        assert!(e.to_string().contains("cut.npz"), "{e}");
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(read_images(&empty)
            .unwrap_err()
            .to_string()
            .contains("no .png"));
        let pngs = write_all(dir.path(), Format::Png, &set, None);
        image::GrayImage::new(5, 5)
            .save(pngs.join("000003.png"))
            .unwrap();
        let e = read_images(&pngs).unwrap_err();
        assert!(e.to_string().contains("000003.png"), "{e}");
    }

    /// An independent reader: Python reads the `.npz` back — with NumPy's `np.load` where NumPy
    /// is installed, else with the standard library's `zipfile` and the `.npy` header parsed as
    /// the format documents it (magic, version, header length, a Python dict literal). Skipped,
    /// with a note, only where there is no `python3` at all.
    #[test]
    fn python_reads_the_npz_back() {
        let dir = tempfile::tempdir().unwrap();
        let set = images(5);
        let labels: Vec<u8> = vec![3, 1, 4, 1, 5];
        let path = write_all(dir.path(), Format::Npz, &set, Some(&labels));
        let script = r#"
import sys, zipfile, ast, struct
path = sys.argv[1]
try:
    import numpy as np
    z = np.load(path)
    a, l = z["arr_0"], z["arr_1"]
    assert a.dtype == np.uint8 and l.dtype == np.uint8
    print("numpy", list(a.shape), int(a.sum()), a.reshape(-1)[:8].tolist(), l.tolist())
except ImportError:
    def read(z, name):
        b = z.read(name)
        assert b[:6] == b"\x93NUMPY" and b[6] == 1
        n = struct.unpack("<H", b[8:10])[0]
        h = ast.literal_eval(b[10:10 + n].decode("latin1"))
        assert h["descr"] == "|u1" and h["fortran_order"] is False
        return list(h["shape"]), b[10 + n:]
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        shape, data = read(z, "arr_0.npy")
        lshape, ldata = read(z, "arr_1.npy")
    assert lshape == [len(ldata)]
    print("zipfile", shape, sum(data), list(data[:8]), list(ldata))
"#;
        let out = match std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&path)
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("no python3 here ({e}): the layout test stands alone");
                return;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sum: u64 = set.pixels.iter().map(|&p| p as u64).sum();
        let want = format!(
            "[5, 28, 28, 1] {sum} {:?} [3, 1, 4, 1, 5]",
            &set.pixels[..8]
        );
        assert!(text.trim().ends_with(&want), "{text} vs {want}");
        eprintln!("read back by {}", text.split(' ').next().unwrap_or("?"));
    }
}
