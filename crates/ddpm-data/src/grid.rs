//! Many small grey images tiled into one picture.

use image::{imageops, GrayImage, Luma};

use crate::mnist::Images;

/// The grey of the lines between tiles: visible against both black and white digits.
pub const GRID_LINE: u8 = 96;

// ANCHOR: image_grid
/// Tiles `images` row by row, `cols` per row, with `pad` pixels of [`GRID_LINE`] grey between
/// and around the tiles, then enlarges the result `scale` times (nearest neighbour, so pixels
/// stay crisp).
pub fn image_grid(images: &Images, cols: usize, pad: u32, scale: u32) -> GrayImage {
    assert!(
        cols > 0 && scale > 0,
        "image_grid needs cols > 0 and scale > 0"
    );
    let (h, w) = (images.rows as u32, images.cols as u32);
    let rows = images.count.div_ceil(cols).max(1) as u32;
    let cols_u = cols.min(images.count.max(1)) as u32;
    let mut grid = GrayImage::from_pixel(
        cols_u * (w + pad) + pad,
        rows * (h + pad) + pad,
        Luma([GRID_LINE]),
    );
    for i in 0..images.count {
        let tile = GrayImage::from_raw(w, h, images.image(i).to_vec()).expect("tile size");
        let (r, c) = ((i / cols) as u32, (i % cols) as u32);
        imageops::replace(
            &mut grid,
            &tile,
            (pad + c * (w + pad)) as i64,
            (pad + r * (h + pad)) as i64,
        );
    }
    if scale == 1 {
        grid
    } else {
        imageops::resize(
            &grid,
            grid.width() * scale,
            grid.height() * scale,
            imageops::FilterType::Nearest,
        )
    }
}
// ANCHOR_END: image_grid

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_where_expected() {
        // Three 2×2 images with distinct constant values, two per row, pad 1.
        let images = Images {
            count: 3,
            rows: 2,
            cols: 2,
            pixels: [[10u8; 4], [20; 4], [30; 4]].concat(),
        };
        let g = image_grid(&images, 2, 1, 1);
        assert_eq!(g.dimensions(), (2 * 3 + 1, 2 * 3 + 1));
        assert_eq!(g.get_pixel(0, 0).0[0], GRID_LINE);
        assert_eq!(g.get_pixel(1, 1).0[0], 10);
        assert_eq!(g.get_pixel(4, 2).0[0], 20);
        assert_eq!(g.get_pixel(2, 5).0[0], 30);
        // The empty fourth slot stays grid-grey.
        assert_eq!(g.get_pixel(5, 5).0[0], GRID_LINE);
        let big = image_grid(&images, 2, 1, 3);
        assert_eq!(big.dimensions(), (21, 21));
        assert_eq!(big.get_pixel(4, 4).0[0], 10);
    }
}
