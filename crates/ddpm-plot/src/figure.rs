//! The registry format every chapter crate uses for its book figures, and how a committed figure
//! is compared with what the code draws now.

use std::fmt;
use std::io::Cursor;
use std::path::Path;

use image::codecs::gif::GifDecoder;
use image::{AnimationDecoder, ImageFormat, RgbaImage};

/// Any error a figure can raise: a missing dataset, a drawing failure, ...
pub type FigureError = Box<dyn std::error::Error + Send + Sync>;

/// One figure of the book: its file name (under `book/src/figures/chNN/`), how to draw it (as
/// the encoded bytes of that file, PNG or GIF), and how exactly a redraw must match it.
///
/// `render` receives the repository root, so figures can read `data/mnist`; notebooks call the
/// chapters' figure functions directly, with `".."`.
#[derive(Clone, Copy)]
pub struct Figure {
    pub file: &'static str,
    pub render: fn(&Path) -> Result<Vec<u8>, FigureError>,
    pub reproducible: Reproducible,
}

/// How a figure drawn on one machine must match the same figure drawn on another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reproducible {
    /// Same bytes on every x86-64 CPU: the figure comes from data, integer work, element-wise
    /// arithmetic or short computations whose rounding does not depend on the CPU.
    Exactly,
    /// Drawn from a long floating-point run (training, a 1,000-step sampling chain through a
    /// network) whose matrix products take different kernels on different CPUs (AVX2 or
    /// AVX-512 sum in a different order), so the last bits differ and a few pixels follow.
    /// Compared as decoded pixels within this tolerance.
    Within(Tolerance),
}

/// How far two decodings of a figure may be apart, in 8-bit levels (0–255) per channel,
/// compared as the means of `block × block` squares of pixels (1 = pixel by pixel).
///
/// Blocks are for figures whose fine detail is chaotic while what they show is not: a scatter
/// plot of samples from a model trained for thousands of steps, where a rounding difference
/// early in training moves many points by a pixel, but the cloud's shape stays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Side of the squares compared, in pixels.
    pub block: u32,
    /// Largest mean absolute difference over every channel of every block (and frame).
    pub mean_levels: f64,
    /// A block "changed" when a channel's mean differs by more than this many levels…
    pub changed_above: f64,
    /// …and at most this fraction of blocks may have changed.
    pub changed_fraction: f64,
}

/// What [`compare`] measured between two encodings of a figure, at one block size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Difference {
    pub frames: usize,
    pub width: u32,
    pub height: u32,
    pub block: u32,
    pub mean_levels: f64,
    pub changed_fraction: f64,
    pub max_levels: f64,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}×{} blocks: mean difference {:.3} levels, {:.3}% changed, largest {:.1} levels",
            self.block,
            self.block,
            self.mean_levels,
            100.0 * self.changed_fraction,
            self.max_levels
        )
    }
}

/// Why two encodings of a figure do not match.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Mismatch {
    #[error("the bytes differ")]
    Bytes,
    #[error("cannot decode: {0}")]
    Decode(String),
    #[error("different size or frame count: {0}")]
    Shape(String),
    #[error("{found} — more than the tolerance ({tolerance:?})")]
    Pixels {
        found: Difference,
        tolerance: Tolerance,
    },
}

/// Checks that `drawn` matches `committed` as `how` demands; on success says how they compared.
pub fn compare(how: Reproducible, committed: &[u8], drawn: &[u8]) -> Result<String, Mismatch> {
    if committed == drawn {
        return Ok("identical bytes".into());
    }
    let Reproducible::Within(tolerance) = how else {
        return Err(Mismatch::Bytes);
    };
    let found = difference(committed, drawn, tolerance.block, tolerance.changed_above)?;
    if found.mean_levels <= tolerance.mean_levels
        && found.changed_fraction <= tolerance.changed_fraction
    {
        Ok(format!("within tolerance: {found}"))
    } else {
        Err(Mismatch::Pixels { found, tolerance })
    }
}

/// Decodes two PNGs or two GIFs and measures how far apart they are: the means of each
/// `block × block` square (the last row and column of squares may be smaller) compared per
/// channel, a square counted as changed when a channel differs by more than `changed_above`
/// levels. Sizes and frame counts must agree.
pub fn difference(
    a: &[u8],
    b: &[u8],
    block: u32,
    changed_above: f64,
) -> Result<Difference, Mismatch> {
    let (fa, fb) = (decode_frames(a)?, decode_frames(b)?);
    if fa.len() != fb.len() {
        return Err(Mismatch::Shape(format!(
            "{} frames vs {}",
            fa.len(),
            fb.len()
        )));
    }
    let block = block.max(1);
    let (width, height) = fa.first().map_or((0, 0), |f| f.dimensions());
    let (mut sum, mut channels, mut changed, mut blocks, mut max) =
        (0.0, 0usize, 0usize, 0usize, 0.0f64);
    for (x, y) in fa.iter().zip(&fb) {
        if x.dimensions() != y.dimensions() {
            return Err(Mismatch::Shape(format!(
                "{:?} vs {:?} pixels",
                x.dimensions(),
                y.dimensions()
            )));
        }
        let (w, h) = x.dimensions();
        for by in (0..h).step_by(block as usize) {
            for bx in (0..w).step_by(block as usize) {
                let (mut sx, mut sy, mut n) = ([0f64; 4], [0f64; 4], 0.0);
                for py in by..(by + block).min(h) {
                    for px in bx..(bx + block).min(w) {
                        for c in 0..4 {
                            sx[c] += x.get_pixel(px, py).0[c] as f64;
                            sy[c] += y.get_pixel(px, py).0[c] as f64;
                        }
                        n += 1.0;
                    }
                }
                let worst = (0..4)
                    .map(|c| (sx[c] - sy[c]).abs() / n)
                    .fold(0.0, f64::max);
                sum += (0..4).map(|c| (sx[c] - sy[c]).abs() / n).sum::<f64>();
                channels += 4;
                blocks += 1;
                changed += usize::from(worst > changed_above);
                max = max.max(worst);
            }
        }
    }
    Ok(Difference {
        frames: fa.len(),
        width,
        height,
        block,
        mean_levels: sum / channels.max(1) as f64,
        changed_fraction: changed as f64 / blocks.max(1) as f64,
        max_levels: max,
    })
}

/// Every frame of a PNG (one) or a GIF (all), as RGBA.
fn decode_frames(bytes: &[u8]) -> Result<Vec<RgbaImage>, Mismatch> {
    let err = |e: image::ImageError| Mismatch::Decode(e.to_string());
    match image::guess_format(bytes).map_err(err)? {
        ImageFormat::Gif => {
            let dec = GifDecoder::new(Cursor::new(bytes)).map_err(err)?;
            dec.into_frames()
                .map(|f| f.map(|f| f.into_buffer()).map_err(err))
                .collect()
        }
        format => Ok(vec![image::load_from_memory_with_format(bytes, format)
            .map_err(err)?
            .to_rgba8()]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{animated_gif, encode_png};
    use image::{GrayImage, Luma};

    /// A 64×64 picture of soft blobs; `shift` moves them, `noise` adds ±1-level speckle.
    fn picture(shift: u32, noise: bool) -> GrayImage {
        GrayImage::from_fn(64, 64, |x, y| {
            let d = |cx: u32, cy: u32| {
                let (dx, dy) = (x as f64 - (cx + shift) as f64, y as f64 - cy as f64);
                (-(dx * dx + dy * dy) / 40.0).exp()
            };
            let v = 255.0 * (d(16, 20) + d(44, 40)).min(1.0);
            let jitter = if noise && (x * 7 + y * 13) % 5 == 0 {
                1.0
            } else {
                0.0
            };
            Luma([(v + jitter).min(255.0) as u8])
        })
    }

    const TOL: Tolerance = Tolerance {
        block: 1,
        mean_levels: 0.5,
        changed_above: 8.0,
        changed_fraction: 0.002,
    };

    #[test]
    fn identical_bytes_pass_both_ways() {
        let a = encode_png(picture(0, false)).unwrap();
        assert!(compare(Reproducible::Exactly, &a.0, &a.0).is_ok());
        assert!(compare(Reproducible::Within(TOL), &a.0, &a.0).is_ok());
    }

    /// Last-level differences (what another CPU's rounding does to a few pixels) fail the
    /// exact check but pass the tolerance; a moved picture fails both.
    #[test]
    fn tolerance_passes_rounding_and_fails_a_real_change() {
        let a = encode_png(picture(0, false)).unwrap();
        let rounded = encode_png(picture(0, true)).unwrap();
        assert_eq!(
            compare(Reproducible::Exactly, &a.0, &rounded.0),
            Err(Mismatch::Bytes)
        );
        let ok = compare(Reproducible::Within(TOL), &a.0, &rounded.0).unwrap();
        assert!(ok.contains("within tolerance"), "{ok}");
        let moved = encode_png(picture(3, false)).unwrap();
        let err = compare(Reproducible::Within(TOL), &a.0, &moved.0).unwrap_err();
        assert!(matches!(err, Mismatch::Pixels { .. }), "{err}");
    }

    #[test]
    fn sizes_and_frames_must_agree() {
        let a = encode_png(picture(0, false)).unwrap();
        let small = encode_png(GrayImage::new(32, 64)).unwrap();
        assert!(matches!(
            compare(Reproducible::Within(TOL), &a.0, &small.0),
            Err(Mismatch::Shape(_))
        ));
        let frame = |s| image::DynamicImage::from(picture(s, false)).to_rgb8();
        let two = animated_gif(&[frame(0), frame(1)], 10).unwrap();
        let three = animated_gif(&[frame(0), frame(1), frame(1)], 10).unwrap();
        assert!(matches!(
            compare(Reproducible::Within(TOL), &two.0, &three.0),
            Err(Mismatch::Shape(_))
        ));
        let d = difference(&two.0, &two.0, 4, 8.0).unwrap();
        assert_eq!(
            (d.frames, d.width, d.height, d.max_levels),
            (2, 64, 64, 0.0)
        );
        assert!(matches!(
            compare(Reproducible::Within(TOL), b"not an image", &two.0),
            Err(Mismatch::Decode(_))
        ));
    }
}
