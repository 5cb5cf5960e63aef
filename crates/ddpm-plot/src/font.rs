//! Registers the vendored DejaVu Sans with plotters' `ab_glyph` text backend, once.

use std::sync::Once;

use plotters::style::FontStyle;

/// DejaVu Sans (Bitstream Vera licence, see `assets/DejaVu-LICENSE.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The font family name charts ask for.
pub(crate) const FAMILY: &str = "sans-serif";

static REGISTER: Once = Once::new();

/// Makes `FAMILY` available to plotters. Safe to call from every drawing function.
pub(crate) fn ensure_registered() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in, so failing to parse it is a build defect, not user input.
            plotters::style::register_font(FAMILY, style, DEJAVU_SANS)
                .unwrap_or_else(|_| panic!("vendored DejaVu Sans failed to parse"));
        }
    });
}
