//! 8-bit images ↔ tensors in [−1, 1].
//!
//! DDPM scales pixels linearly from {0, …, 255} to [−1, 1] (Ho et al. 2020, §3.3): the data then
//! sits on the same scale as the N(0, I) noise the forward process ends in, and x_t stays
//! centred. The map is exactly invertible on the 256 pixel values.

use dfdx::prelude::*;

use crate::mnist::Images;

// ANCHOR: scaling
/// x = p / 127.5 − 1: pixel 0 ↦ −1, pixel 255 ↦ +1.
pub fn pixels_to_unit(p: u8) -> f32 {
    p as f32 / 127.5 - 1.0
}

/// The inverse, p = round((x + 1) · 127.5), after clamping x to [−1, 1] (a model's output may
/// overshoot). NaN maps to 0.
pub fn unit_to_pixels(x: f32) -> u8 {
    ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}
// ANCHOR_END: scaling

/// Images as a `[N, 1, H, W]` tensor (one grey channel) with values in [−1, 1].
pub fn images_to_tensor<D: Device<f32>>(
    dev: &D,
    images: &Images,
) -> Tensor<(usize, usize, usize, usize), f32, D> {
    let data = images.pixels.iter().map(|&p| pixels_to_unit(p)).collect();
    dev.tensor_from_vec(data, (images.count, 1, images.rows, images.cols))
}

/// A `[N, 1, H, W]` tensor back to 8-bit images. Panics if the tensor has more than one
/// channel: a grey-image API given colour data is a programming error, not user input.
pub fn tensor_to_images<D: Device<f32>>(
    t: &Tensor<(usize, usize, usize, usize), f32, D>,
) -> Images {
    let (n, c, h, w) = *t.shape();
    assert_eq!(
        c,
        1,
        "tensor_to_images expects one channel, got shape {:?}",
        (n, c, h, w)
    );
    unit_to_images(&t.as_vec(), n, h, w)
}

/// `count` images of `rows × cols` from values in [−1, 1] (row-major, image after image).
pub fn unit_to_images(values: &[f32], count: usize, rows: usize, cols: usize) -> Images {
    assert_eq!(
        values.len(),
        count * rows * cols,
        "unit_to_images: wrong number of values"
    );
    Images {
        count,
        rows,
        cols,
        pixels: values.iter().map(|&x| unit_to_pixels(x)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pixel_value_round_trips_exactly() {
        for p in 0..=255u8 {
            let x = pixels_to_unit(p);
            assert!((-1.0..=1.0).contains(&x));
            assert_eq!(unit_to_pixels(x), p);
        }
        assert_eq!(pixels_to_unit(0), -1.0);
        assert_eq!(pixels_to_unit(255), 1.0);
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        assert_eq!(unit_to_pixels(-3.0), 0);
        assert_eq!(unit_to_pixels(7.5), 255);
        assert_eq!(unit_to_pixels(f32::NAN), 0);
    }

    #[test]
    fn images_round_trip_through_a_tensor() {
        let dev: Cpu = Default::default();
        let images = Images {
            count: 2,
            rows: 2,
            cols: 3,
            pixels: vec![0, 1, 127, 128, 254, 255, 10, 20, 30, 40, 50, 60],
        };
        let t = images_to_tensor(&dev, &images);
        assert_eq!(*t.shape(), (2, 1, 2, 3));
        let v = t.as_vec();
        assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
        assert_eq!(tensor_to_images(&t), images);
    }
}
