//! A small MNIST classifier, trained here in dfdx, to judge generated digits: does it see a
//! digit, which one, and how sure is it? Its 64 penultimate features give the Fréchet distance.

use std::path::Path;

use ddpm_data::{images_to_tensor, Dataset, Images};
use ddpm_plot::Progress;
use ddpm_unet::blocks::{Act, DeviceConv};
use ddpm_unet::ConvDevice;
use dfdx::nn::modules;
use dfdx::optim::{Adam, AdamConfig};
use dfdx::prelude::*;
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

/// Width of the penultimate layer (the features the Fréchet distance compares).
pub const FEATURES: usize = 64;

// ANCHOR: classifier
/// Three 3×3 convolutions (16, 32 and 64 channels; the last two with stride 2: 28 → 14 → 7),
/// ReLU after each, a 64-wide hidden layer (the features), and 10 logits.
#[derive(Clone, Copy, Debug, Default)]
pub struct Classifier;

#[derive(Clone, Debug)]
pub struct DeviceClassifier<E: Dtype, D: Storage<E>> {
    pub conv1: DeviceConv<1, 16, 3, 1, 1, E, D>,
    pub conv2: DeviceConv<16, 32, 3, 2, 1, E, D>,
    pub conv3: DeviceConv<32, 64, 3, 2, 1, E, D>,
    pub hidden: modules::Linear<3136, FEATURES, E, D>,
    pub out: modules::Linear<FEATURES, 10, E, D>,
}
// ANCHOR_END: classifier

impl<D: Device<f32>> BuildOnDevice<D, f32> for Classifier {
    type Built = DeviceClassifier<f32, D>;
}

impl<D: Device<f32>> TensorCollection<f32, D> for DeviceClassifier<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = DeviceClassifier<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                Self::module("hidden", |s| &s.hidden, |s| &mut s.hidden),
                Self::module("out", |s| &s.out, |s| &mut s.out),
            ),
            |(conv1, conv2, conv3, hidden, out)| DeviceClassifier {
                conv1,
                conv2,
                conv3,
                hidden,
                out,
            },
        )
    }
}

type Features<D, T> = Tensor<(usize, Const<FEATURES>), f32, D, T>;

impl<D: ConvDevice> DeviceClassifier<f32, D> {
    /// The penultimate features `[B, 64]` of images `[B, 1, 28, 28]` in [−1, 1].
    pub fn features<T: Tape<f32, D> + Merge<T>>(&self, x: Act<D, T>) -> Features<D, T> {
        let b = x.shape().0;
        let h = self.conv1.forward(x).relu();
        let h = self.conv2.forward(h).relu();
        let h = self.conv3.forward(h).relu();
        self.hidden
            .forward(h.reshape_like(&(b, Const::<3136>)))
            .relu()
    }

    /// Class logits `[B, 10]`.
    pub fn logits<T: Tape<f32, D> + Merge<T>>(
        &self,
        x: Act<D, T>,
    ) -> Tensor<(usize, Const<10>), f32, D, T> {
        self.out.forward(self.features(x))
    }

    /// Features and class probabilities of many images, in batches of 500.
    pub fn predict(&self, images: &Images) -> Predictions {
        let dev = self.out.weight.device().clone();
        let mut features = Vec::with_capacity(images.count * FEATURES);
        let mut probs = Vec::with_capacity(images.count * 10);
        for start in (0..images.count).step_by(500) {
            let idx: Vec<usize> = (start..(start + 500).min(images.count)).collect();
            let x = images_to_tensor(&dev, &images.select(&idx));
            let f = self.features(x);
            probs.extend(self.out.forward(f.clone()).softmax::<Axis<1>>().as_vec());
            features.extend(f.as_vec());
        }
        Predictions { features, probs }
    }
}

/// Per image: the 64 features and the 10 class probabilities, row-major.
#[derive(Clone, Debug)]
pub struct Predictions {
    pub features: Vec<f32>,
    pub probs: Vec<f32>,
}

impl Predictions {
    /// The most probable class of each image.
    pub fn classes(&self) -> Vec<usize> {
        self.probs
            .chunks(10)
            .map(|p| {
                (0..10)
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .expect("ten classes")
            })
            .collect()
    }

    /// The largest class probability of each image.
    pub fn confidences(&self) -> Vec<f32> {
        self.probs
            .chunks(10)
            .map(|p| p.iter().copied().fold(0.0, f32::max))
            .collect()
    }
}

/// Fraction of `labels` the classifier gets right.
pub fn accuracy(p: &Predictions, labels: &[u8]) -> f64 {
    let right = p
        .classes()
        .iter()
        .zip(labels)
        .filter(|(&c, &l)| c == l as usize)
        .count();
    right as f64 / labels.len() as f64
}

// ANCHOR: train_classifier
/// Trains the classifier with Adam on cross-entropy for `epochs` passes over `train` (random
/// order, batches of 128); returns the mean loss of each epoch.
pub fn train_classifier<D: ConvDevice>(
    model: &mut DeviceClassifier<f32, D>,
    train: &Dataset,
    epochs: usize,
    seed: u64,
    show_progress: bool,
) -> Vec<f32> {
    let dev = model.out.weight.device().clone();
    let mut opt = Adam::new(
        model,
        AdamConfig {
            lr: 1e-3,
            ..Default::default()
        },
    );
    let mut grads = model.alloc_grads();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let batch = 128;
    let bar = Progress::new(
        (epochs * train.len().div_ceil(batch)) as u64,
        "classifier",
        "batches",
        show_progress,
    );
    let mut epoch_losses = Vec::new();
    for _ in 0..epochs {
        order.shuffle(&mut rng);
        let (mut sum, mut n) = (0.0, 0);
        for idx in order.chunks(batch) {
            let x = images_to_tensor(&dev, &train.images.select(idx));
            let mut onehot = vec![0.0f32; idx.len() * 10];
            for (row, &i) in idx.iter().enumerate() {
                onehot[row * 10 + train.labels[i] as usize] = 1.0;
            }
            let y = dev.tensor_from_vec(onehot, (idx.len(), Const::<10>));
            let loss = cross_entropy_with_logits_loss(model.logits(x.traced(grads)), y);
            sum += loss.as_vec()[0];
            n += 1;
            grads = loss.backward();
            opt.update(model, &grads)
                .expect("every parameter has a gradient");
            model.zero_grads(&mut grads);
            bar.inc(1);
            bar.set_message(format!("loss {:.4}", sum / n as f32));
        }
        epoch_losses.push(sum / n as f32);
    }
    bar.finish();
    epoch_losses
}
// ANCHOR_END: train_classifier

/// Loads classifier weights saved with `save_safetensors`; the error names the file.
pub fn load_classifier<D: ConvDevice>(
    dev: &D,
    path: &Path,
) -> Result<DeviceClassifier<f32, D>, crate::CheckpointError> {
    let mut model = DeviceClassifier::<f32, D>::build(dev);
    if !path.is_file() {
        return Err(crate::CheckpointError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no classifier weights here (train them with `ddpm classifier`)",
            ),
        });
    }
    model
        .load_safetensors(path)
        .map_err(|e| crate::CheckpointError::NotSafetensors {
            path: path.to_path_buf(),
            reason: format!("{e:?}"),
        })?;
    Ok(model)
}
