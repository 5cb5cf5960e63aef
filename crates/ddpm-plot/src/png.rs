//! PNG bytes that know how to show themselves in a Jupyter notebook.

use std::io::Cursor;
use std::path::Path;

use base64::Engine;
use image::{DynamicImage, ImageFormat};

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
        let path = path.as_ref();
        let annotate =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(annotate)?;
        }
        std::fs::write(path, &self.0).map_err(annotate)
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

/// Encodes an RGB or grey image as PNG. Deterministic: same pixels, same bytes.
pub fn encode_png(img: impl Into<DynamicImage>) -> Result<Png, PlotError> {
    let mut out = Cursor::new(Vec::new());
    img.into().write_to(&mut out, ImageFormat::Png)?;
    Ok(Png(out.into_inner()))
}
