//! Chapter 1's coding exercises. `cargo xtask exercises start 01` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch01/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

/// Exercise 1.1: back from the network's range to a pixel: clamp x to [−1, 1] (a model's output
/// may overshoot), then p = round((x + 1) · 127.5). The inverse of x = p/127.5 − 1 (1.3).
pub fn unit_to_pixel(x: f32) -> u8 {
    // SOLUTION START
    // WRONG (rounding down, not to the nearest): `.round() as u8` -> ` as u8`
    // WRONG (scaled by 128, not 127.5): `* 127.5` -> `* 128.0`
    // WRONG (the shift by one dropped): `(x.clamp(-1.0, 1.0) + 1.0) * 127.5` -> `x.clamp(-1.0, 1.0) * 127.5`
    // WRONG (scaled by 255 over the whole range): `* 127.5` -> `* 255.0`
    ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
    // SOLUTION END
}

/// Exercise 1.2: the means of the ring dataset: `k` points evenly spaced on a circle of radius
/// `radius` around the origin, the first at angle 0, counter-clockwise (angle 2πi/k for the
/// i-th).
pub fn ring_means(k: usize, radius: f64) -> Vec<[f64; 2]> {
    // SOLUTION START
    // WRONG (half a circle): `2.0 * std::f64::consts::PI` -> `std::f64::consts::PI`
    // WRONG (sine and cosine swapped (the first mean at 90°)): `[radius * a.cos(), radius * a.sin()]` -> `[radius * a.sin(), radius * a.cos()]`
    // WRONG (k − 1 gaps, as if both ends were on the circle): `/ k as f64` -> `/ (k - 1) as f64`
    // WRONG (the radius ignored): `[radius * a.cos(), radius * a.sin()]` -> `[a.cos(), a.sin()]`
    (0..k)
        .map(|i| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / k as f64;
            [radius * a.cos(), radius * a.sin()]
        })
        .collect()
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pixel survives the round trip through (1.3), and values outside [−1, 1] land on
    /// 0 and 255, as the crate's `unit_to_pixels` does.
    #[test]
    fn exercise_1_1_unit_to_pixel() {
        for p in 0..=255u8 {
            assert_eq!(unit_to_pixel(ddpm_data::pixels_to_unit(p)), p, "pixel {p}");
        }
        for x in [-3.0f32, -1.0, -0.5, -0.0, 0.001, 0.3, 0.999, 1.0, 7.5] {
            assert_eq!(unit_to_pixel(x), ddpm_data::unit_to_pixels(x), "x = {x}");
        }
    }

    /// Against the crate's ring mixture, for a few sizes.
    #[test]
    fn exercise_1_2_ring_means() {
        for (k, r) in [(1, 1.0), (3, 2.0), (8, 2.0), (25, 0.5)] {
            let want = ddpm_data::GaussianMixture::ring(k, r, 0.1).means;
            let got = ring_means(k, r);
            assert_eq!(got.len(), k, "k = {k}: one mean per component");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g[0] - w[0]).abs() < 1e-12 && (g[1] - w[1]).abs() < 1e-12,
                    "k = {k}: {g:?} vs {w:?}"
                );
            }
        }
    }
}
