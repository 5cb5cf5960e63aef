//! PNG bytes that know how to show themselves in a Jupyter notebook.

use std::io::Cursor;
use std::path::Path;

use base64::Engine;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, DynamicImage, Frame, ImageFormat, RgbImage};

use crate::PlotError;

/// An encoded PNG image: what every figure function returns.
///
/// In an evcxr notebook, a cell whose last expression is a `Png` displays the picture inline.
#[derive(Clone, PartialEq, Eq)]
pub struct Png(pub Vec<u8>);

impl Png {
    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Writes the PNG to `path`, creating parent folders; the error names the file.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        write_bytes(path.as_ref(), &self.0)
    }

    /// Called by evcxr to render the value: prints the PNG as an inline `image/png` output.
    pub fn evcxr_display(&self) {
        let data = base64::engine::general_purpose::STANDARD.encode(&self.0);
        println!("EVCXR_BEGIN_CONTENT image/png\n{data}\nEVCXR_END_CONTENT");
    }
}

impl std::fmt::Debug for Png {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Png({} bytes)", self.0.len())
    }
}

/// Writes `bytes` to `path`, creating parent folders; the error names the file.
fn write_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let annotate =
        |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(annotate)?;
    }
    std::fs::write(path, bytes).map_err(annotate)
}

/// Encodes an RGB or grey image as PNG. Deterministic: same pixels, same bytes.
pub fn encode_png(img: impl Into<DynamicImage>) -> Result<Png, PlotError> {
    let mut out = Cursor::new(Vec::new());
    img.into().write_to(&mut out, ImageFormat::Png)?;
    Ok(Png(out.into_inner()))
}

/// An encoded animated GIF. In an evcxr notebook, a cell ending in a `Gif` plays it inline.
#[derive(Clone, PartialEq, Eq)]
pub struct Gif(pub Vec<u8>);

impl Gif {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Writes the GIF to `path`, creating parent folders; the error names the file.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        write_bytes(path.as_ref(), &self.0)
    }

    /// Called by evcxr: shows the animation as an inline HTML image.
    pub fn evcxr_display(&self) {
        let data = base64::engine::general_purpose::STANDARD.encode(&self.0);
        println!("EVCXR_BEGIN_CONTENT text/html\n<img src=\"data:image/gif;base64,{data}\"/>\nEVCXR_END_CONTENT");
    }
}

impl std::fmt::Debug for Gif {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gif({} bytes)", self.0.len())
    }
}

/// Encodes frames as a looping GIF, `delay_ms` per frame (the last frame is held 2 s).
pub fn animated_gif(frames: &[RgbImage], delay_ms: u32) -> Result<Gif, PlotError> {
    let mut out = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut out, 10);
        enc.set_repeat(Repeat::Infinite)?;
        for (i, f) in frames.iter().enumerate() {
            let ms = if i + 1 == frames.len() {
                2000
            } else {
                delay_ms
            };
            let rgba = DynamicImage::ImageRgb8(f.clone()).to_rgba8();
            enc.encode_frame(Frame::from_parts(
                rgba,
                0,
                0,
                Delay::from_numer_denom_ms(ms, 1),
            ))?;
        }
    }
    Ok(Gif(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gif_has_every_frame() {
        let frames: Vec<RgbImage> = (0..3)
            .map(|i| RgbImage::from_pixel(8, 6, image::Rgb([i * 80, 0, 0])))
            .collect();
        let gif = animated_gif(&frames, 50).unwrap();
        assert!(gif.bytes().starts_with(b"GIF89a"));
        let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(gif.bytes())).unwrap();
        use image::AnimationDecoder;
        assert_eq!(decoder.into_frames().count(), 3);
    }
}
