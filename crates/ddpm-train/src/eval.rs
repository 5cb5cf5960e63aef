//! What a trained model reaches, in numbers: the variational bound on test digits in bits per
//! dimension (chapter 4's code), and how a classifier sees its samples.

use ddpm_data::{pixels_to_unit, Dataset, Images};
use ddpm_schedule::Schedule;
use ddpm_unet::ConvDevice;
use ddpm_vlb::{vlb_terms, ModelVariance};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use serde_json::{json, Value};

use crate::classifier::{DeviceClassifier, FEATURES};
use crate::frechet::frechet_between;
use crate::net::EpsNet;

/// Mean and standard error of the mean.
pub fn mean_sem(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

// ANCHOR: bits_per_dim
/// L_vlb of each image in `images`, in bits per dimension: all T + 1 terms with chapter 4's
/// [`vlb_terms`], the network called once per step t on the whole batch.
pub fn bits_per_dim<D: ConvDevice, M: EpsNet<D>>(
    dev: &D,
    model: &M,
    s: &Schedule,
    images: &Images,
    variance: ModelVariance,
    rng: &mut impl Rng,
    show_progress: bool,
) -> Vec<f64> {
    let n = images.count;
    let x0: Vec<f64> = images
        .pixels
        .iter()
        .map(|&p| pixels_to_unit(p) as f64)
        .collect();
    let bar = progress(s.t_max(), "bits/dim", show_progress);
    let mut eps_model = |x_t: &[f64], t: usize| -> Vec<f64> {
        let x = dev.tensor_from_vec(x_t.iter().map(|&v| v as f32).collect(), (n, 1, 28, 28));
        bar.inc(1);
        model
            .eps(x, &vec![t; n])
            .as_vec()
            .into_iter()
            .map(f64::from)
            .collect()
    };
    let terms = vlb_terms(s, &mut eps_model, &x0, images.image_len(), variance, rng);
    bar.finish_and_clear();
    terms.bits_per_dim()
}
// ANCHOR_END: bits_per_dim

fn progress(len: usize, what: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template(&format!("{what} {{bar:30}} {{pos}}/{{len}}  eta {{eta}}"))
            .expect("valid template"),
    );
    b
}

/// How the classifier sees a set of images, and Fréchet distances of their features.
#[derive(Clone, Debug)]
pub struct Quality {
    pub count: usize,
    /// Fraction classified with probability ≥ 0.9.
    pub confident: f64,
    /// Images per predicted class.
    pub histogram: [usize; 10],
    /// Entropy (nats) of the predicted-class histogram; ln 10 ≈ 2.303 when balanced.
    pub class_entropy: f64,
    /// Fréchet distance of these images' features to the reference test images'.
    pub frechet: f64,
}

impl Quality {
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "confident_fraction": self.confident,
            "class_histogram": self.histogram,
            "class_entropy_nats": self.class_entropy,
            "frechet": self.frechet,
        })
    }
}

// ANCHOR: quality
/// Judges `images` with the classifier against `reference` features (real test digits).
pub fn quality<D: ConvDevice>(
    classifier: &DeviceClassifier<f32, D>,
    images: &Images,
    reference: &[f32],
) -> Quality {
    let p = classifier.predict(images);
    let mut histogram = [0usize; 10];
    for c in p.classes() {
        histogram[c] += 1;
    }
    let n = images.count as f64;
    let class_entropy = -histogram
        .iter()
        .filter(|&&k| k > 0)
        .map(|&k| (k as f64 / n) * (k as f64 / n).ln())
        .sum::<f64>();
    let confident = p.confidences().iter().filter(|&&c| c >= 0.9).count() as f64 / n;
    Quality {
        count: images.count,
        confident,
        histogram,
        class_entropy,
        frechet: frechet_between(&p.features, reference, FEATURES),
    }
}
// ANCHOR_END: quality

/// Real digits with Gaussian noise of standard deviation `sigma` (on the [−1, 1] scale) added
/// and clipped: the "noised images" row of the evaluation, for a sense of scale.
pub fn noised(images: &Images, sigma: f64, rng: &mut impl Rng) -> Images {
    let mut out = images.clone();
    for p in out.pixels.iter_mut() {
        let z: f64 = rng.sample(rand_distr::StandardNormal);
        let x = (pixels_to_unit(*p) as f64 + sigma * z).clamp(-1.0, 1.0);
        *p = ddpm_data::unit_to_pixels(x as f32);
    }
    out
}

/// The reference set and the floor, from one fixed shuffle of the test set: the first
/// `reference` shuffled test images give the reference features; the next `count` are the
/// held-out real digits whose distance to the reference is the best a model can expect with
/// `count` samples. (Shuffled because MNIST's test set is ordered: its first 5,000 digits come
/// from different writers than its last 5,000, and a floor drawn from one half against a
/// reference from the other is not a floor.)
pub fn split_test(test: &Dataset, reference: usize, count: usize) -> (Images, Images) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    assert!(
        reference + count <= test.len(),
        "the test set has {} images, {} + {} asked for",
        test.len(),
        reference,
        count
    );
    let mut order: Vec<usize> = (0..test.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0x5EED));
    (
        test.images.select(&order[..reference]),
        test.images.select(&order[reference..reference + count]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split is disjoint, and both parts draw from both halves of the ordered test set.
    #[test]
    fn test_split_is_disjoint_and_shuffled() {
        let n = 1000;
        let test = Dataset {
            images: Images {
                count: n,
                rows: 1,
                cols: 2,
                pixels: (0..n)
                    .flat_map(|i| [(i / 256) as u8, (i % 256) as u8])
                    .collect(),
            },
            labels: vec![0; n],
        };
        let (reference, held_out) = split_test(&test, 600, 300);
        let index = |im: &Images| -> Vec<usize> {
            (0..im.count)
                .map(|k| 256 * im.image(k)[0] as usize + im.image(k)[1] as usize)
                .collect()
        };
        let (r, h) = (index(&reference), index(&held_out));
        assert!(r.iter().all(|i| !h.contains(i)));
        for part in [&r, &h] {
            assert!(part.iter().any(|&i| i < n / 2) && part.iter().any(|&i| i >= n / 2));
        }
        assert_eq!((r.len(), h.len()), (600, 300));
    }

    #[test]
    fn mean_and_standard_error() {
        let (m, se) = mean_sem(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-12);
        // Sample variance 5/3, so the standard error is √(5/12).
        assert!((se - (5.0f64 / 12.0).sqrt()).abs() < 1e-12);
    }
}
