//! Chapter 7's coding exercises. `cargo xtask exercises start 07` copies this file with the
//! bodies between the SOLUTION markers taken out into `exercises/ch07/`, where `cargo test`
//! grades an attempt with the tests below — the same tests that check these reference
//! solutions here.

/// Exercise 7.1: the output height (or width) of a K×K convolution with stride `stride` and
/// zero padding `pad` on `size` pixels: how many kernel positions fit.
pub fn conv_output_size(size: usize, kernel: usize, stride: usize, pad: usize) -> usize {
    // SOLUTION START
    // WRONG (padding on one side only): `2 * pad` -> `pad`
    // WRONG (the + 1 dropped): `/ stride + 1` -> `/ stride`
    // WRONG (rounded up, not down): `(size + 2 * pad - kernel) / stride` -> `(size + 2 * pad - kernel + stride - 1) / stride`
    // WRONG (the kernel not subtracted): `(size + 2 * pad - kernel)` -> `(size + 2 * pad)`
    (size + 2 * pad - kernel) / stride + 1
    // SOLUTION END
}

/// Exercise 7.2: GroupNorm without its scale and shift, on activations `[B, C, H, W]` stored
/// row-major in `x`: the C channels of each image fall into `groups` groups of C/groups
/// consecutive channels; each group is normalised over its channels and pixels,
/// (x − mean)/√(var + 1e-5), with the biased variance (divide by the count).
pub fn group_norm_plain(x: &[f32], shape: [usize; 4], groups: usize) -> Vec<f32> {
    // SOLUTION START
    // WRONG (GroupNorm's ε dropped): `(var + 1e-5).sqrt()` -> `var.sqrt()`
    // WRONG (the unbiased variance (count − 1)): `.powi(2)).sum::<f64>() / size as f64` -> `.powi(2)).sum::<f64>() / (size - 1) as f64`
    // WRONG (divided by the variance, not its root): `(var + 1e-5).sqrt()` -> `(var + 1e-5)`
    // WRONG (the mean not subtracted): `(v as f64 - mean) * scale` -> `v as f64 * scale`
    let [b, c, h, w] = shape;
    let size = c / groups * h * w;
    let mut y = vec![0.0f32; x.len()];
    for g in 0..b * groups {
        let part = &x[g * size..(g + 1) * size];
        let mean = part.iter().map(|&v| v as f64).sum::<f64>() / size as f64;
        let var = part.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / size as f64;
        let scale = 1.0 / (var + 1e-5).sqrt();
        for (o, &v) in y[g * size..(g + 1) * size].iter_mut().zip(part) {
            *o = ((v as f64 - mean) * scale) as f32;
        }
    }
    y
    // SOLUTION END
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddpm_unet::dfdx::prelude::*;
    use ddpm_unet::ConvGeometry;

    /// Against the crate's geometry, for the course's convolutions and odd cases.
    #[test]
    fn exercise_7_1_conv_output_size() {
        for (size, k, s, p) in [
            (28, 3, 1, 1),
            (28, 3, 2, 1),
            (14, 3, 2, 1),
            (7, 1, 1, 0),
            (29, 3, 2, 1),
            (5, 5, 1, 0),
            (10, 3, 3, 2),
        ] {
            let g = ConvGeometry::new([1, 1, size, size], [1, 1, k, k], s, p);
            assert_eq!(
                conv_output_size(size, k, s, p),
                g.out_h(),
                "size {size}, kernel {k}, stride {s}, padding {p}"
            );
        }
    }

    /// Against the crate's GroupNorm (γ = 1, β = 0) on random activations, 2 images of 4
    /// channels in 2 groups, and 1 group (LayerNorm over the image); and on activations a
    /// thousand times smaller, whose variance (about 10⁻⁵) is where GroupNorm's ε shows.
    #[test]
    fn exercise_7_2_group_norm_plain() {
        let dev: Cpu = Cpu::seed_from_u64(7);
        let shape = (2usize, 4usize, 3usize, 5usize);
        let x: Tensor<(usize, usize, usize, usize), f32, Cpu> = dev.sample_normal_like(&shape);
        let (gamma, beta) = (dev.ones::<Rank1<4>>(), dev.zeros::<Rank1<4>>());
        for (groups, scale) in [(2, 1.0), (1, 1.0), (2, 1e-3)] {
            let x = (x.clone() * 3.0 + 1.5) * scale;
            let want =
                ddpm_unet::ops::group_norm_generic(x.clone(), &gamma, &beta, groups).as_vec();
            let got = group_norm_plain(&x.as_vec(), [2, 4, 3, 5], groups);
            assert_eq!(got.len(), want.len());
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 1e-4,
                "{groups} groups, scale {scale}: largest difference {worst}"
            );
        }
    }
}
