//! MNIST-style datasets: a folder holding the four standard IDX files.
//!
//! Works for MNIST (the course bundles it in `data/mnist`) and for Fashion-MNIST (Debian's
//! `dataset-fashion-mnist` puts it in `/usr/share/datasets/fashion-mnist`): same names, same format.

use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::idx::{magic, read_idx, IdxArray, IdxError};

/// Which half of the dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 60,000 images for training.
    Train,
    /// 10,000 held-out images.
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// `count` grey images of `rows × cols` bytes (0 = black, 255 = white), stored contiguously.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

impl Images {
    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.rows * self.cols
    }
    /// The `i`-th image, row-major.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }
    /// A new set made of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Images {
        Images {
            count: indices.len(),
            rows: self.rows,
            cols: self.cols,
            pixels: indices
                .iter()
                .flat_map(|&i| self.image(i))
                .copied()
                .collect(),
        }
    }
}

/// Images with their class labels (0–9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    pub images: Images,
    pub labels: Vec<u8>,
}

/// Finds `stem.gz` or `stem` in `dir`, preferring the compressed file.
pub fn find_idx_file(dir: &Path, stem: &str) -> Result<PathBuf, IdxError> {
    let candidates = [format!("{stem}.gz"), stem.to_string()];
    candidates
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| IdxError::Missing {
            dir: dir.to_owned(),
            candidates: candidates.to_vec(),
        })
}

/// The MD5 of MNIST's four uncompressed files as published with the dataset (and listed in
/// `data/mnist/README.md`).
pub const MNIST_MD5: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte",
        "6bbc9ace898e44ae57da46a324031adb",
    ),
    (
        "train-labels-idx1-ubyte",
        "a25bea736e30d166cdddb491f175f624",
    ),
    ("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"),
    ("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"),
];

/// The MD5 of the uncompressed IDX file an array was read from (header and data), as hex.
pub fn idx_md5(array: &IdxArray) -> String {
    let mut h = Md5::new();
    h.update(magic(array.dims.len()).to_be_bytes());
    for &d in &array.dims {
        h.update((d as u32).to_be_bytes());
    }
    h.update(&array.data);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an array read from `path` (one of MNIST's four files, by name) against its published
/// MD5.
fn verify_mnist_md5(path: &Path, array: &IdxArray) -> Result<(), IdxError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let (_, expected) = MNIST_MD5
        .iter()
        .find(|(file, _)| *file == stem)
        .ok_or_else(|| IdxError::Checksum {
            path: path.to_owned(),
            expected: "one of MNIST's four file names".into(),
            found: name.into(),
        })?;
    let found = idx_md5(array);
    if found != *expected {
        return Err(IdxError::Checksum {
            path: path.to_owned(),
            expected: (*expected).into(),
            found,
        });
    }
    Ok(())
}

impl Dataset {
    /// Loads one split from a folder with the standard file names
    /// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-…`).
    pub fn load(dir: impl AsRef<Path>, split: Split) -> Result<Self, IdxError> {
        let dir = dir.as_ref();
        let p = split.prefix();
        let images = find_idx_file(dir, &format!("{p}-images-idx3-ubyte"))?;
        let labels = find_idx_file(dir, &format!("{p}-labels-idx1-ubyte"))?;
        Self::from_files(&images, &labels)
    }

    /// Loads an image file and a label file, checking that they agree.
    pub fn from_files(images_path: &Path, labels_path: &Path) -> Result<Self, IdxError> {
        let img = read_idx(images_path, 3)?;
        let lab = read_idx(labels_path, 1)?;
        Self::from_arrays(images_path, img, labels_path, lab)
    }

    fn from_arrays(
        images_path: &Path,
        img: IdxArray,
        labels_path: &Path,
        lab: IdxArray,
    ) -> Result<Self, IdxError> {
        if img.dims[0] != lab.dims[0] {
            return Err(IdxError::CountMismatch {
                images_path: images_path.to_owned(),
                labels_path: labels_path.to_owned(),
                images: img.dims[0],
                labels: lab.dims[0],
            });
        }
        if let Some((index, &value)) = lab.data.iter().enumerate().find(|(_, &v)| v > 9) {
            return Err(IdxError::BadLabel {
                path: labels_path.to_owned(),
                index,
                value,
            });
        }
        Ok(Dataset {
            images: Images {
                count: img.dims[0],
                rows: img.dims[1],
                cols: img.dims[2],
                pixels: img.data,
            },
            labels: lab.data,
        })
    }

    /// Loads one split of the bundled MNIST (`data/mnist`) and checks each file against the MD5
    /// published with MNIST: a damaged or substituted file is an error naming it, not a run
    /// that trains on the wrong digits.
    pub fn load_mnist_verified(dir: impl AsRef<Path>, split: Split) -> Result<Self, IdxError> {
        let dir = dir.as_ref();
        let p = split.prefix();
        let images = find_idx_file(dir, &format!("{p}-images-idx3-ubyte"))?;
        let labels = find_idx_file(dir, &format!("{p}-labels-idx1-ubyte"))?;
        let (img, lab) = (read_idx(&images, 3)?, read_idx(&labels, 1)?);
        for (path, array) in [(&images, &img), (&labels, &lab)] {
            verify_mnist_md5(path, array)?;
        }
        Self::from_arrays(&images, img, &labels, lab)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Indices of the first `k` examples of each class, class 0 first: a balanced sample for
    /// figures (one row per digit).
    pub fn first_of_each_class(&self, k: usize) -> Vec<usize> {
        (0..10u8)
            .flat_map(|c| {
                self.labels
                    .iter()
                    .enumerate()
                    .filter(move |(_, &l)| l == c)
                    .map(|(i, _)| i)
                    .take(k)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::encode_idx;

    /// Writes a tiny MNIST-like folder: `n` images of 2×3 and `m` labels.
    fn tiny(dir: &Path, n: usize, m: usize) {
        let pixels: Vec<u8> = (0..n * 6).map(|i| i as u8).collect();
        std::fs::write(
            dir.join("train-images-idx3-ubyte"),
            encode_idx(&[n, 2, 3], &pixels),
        )
        .unwrap();
        let labels: Vec<u8> = (0..m).map(|i| (i % 10) as u8).collect();
        std::fs::write(
            dir.join("train-labels-idx1-ubyte"),
            encode_idx(&[m], &labels),
        )
        .unwrap();
    }

    #[test]
    fn loads_a_small_folder() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path(), 12, 12);
        let ds = Dataset::load(dir.path(), Split::Train).unwrap();
        assert_eq!(
            (ds.images.count, ds.images.rows, ds.images.cols),
            (12, 2, 3)
        );
        assert_eq!(ds.images.image(1), &[6, 7, 8, 9, 10, 11]);
        assert_eq!(ds.first_of_each_class(1)[..3], [0, 1, 2]);
        assert_eq!(ds.images.select(&[2, 0]).image(0), ds.images.image(2));
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path(), 12, 11);
        let err = Dataset::load(dir.path(), Split::Train).unwrap_err();
        assert!(matches!(
            err,
            IdxError::CountMismatch {
                images: 12,
                labels: 11,
                ..
            }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("train-images-idx3-ubyte") && msg.contains("train-labels-idx1-ubyte"),
            "{msg}"
        );
    }

    #[test]
    fn missing_split_names_the_folder_and_file() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path(), 3, 3);
        let err = Dataset::load(dir.path(), Split::Test).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("t10k-images-idx3-ubyte.gz"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn labels_outside_0_to_9_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path(), 2, 2);
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            encode_idx(&[2], &[3, 12]),
        )
        .unwrap();
        let err = Dataset::load(dir.path(), Split::Train).unwrap_err();
        assert!(
            matches!(
                err,
                IdxError::BadLabel {
                    index: 1,
                    value: 12,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    /// The bundled dataset: its published checksums, and the sizes and first labels stated in
    /// data/mnist/README.md.
    #[test]
    fn bundled_mnist_matches_its_readme() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
        let train = Dataset::load_mnist_verified(&dir, Split::Train).unwrap();
        let test = Dataset::load_mnist_verified(&dir, Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (60_000, 10_000));
        assert_eq!((train.images.rows, train.images.cols), (28, 28));
        assert_eq!(train.labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
        assert_eq!(test.labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    }

    /// A file with MNIST's name but other bytes (one label changed) fails the check, naming
    /// the file and both checksums; loading it without the check still works.
    #[test]
    fn a_changed_mnist_file_fails_its_checksum() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
        let dir = tempfile::tempdir().unwrap();
        for f in ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let test = Dataset::load_mnist_verified(dir.path(), Split::Test).unwrap();
        let mut labels = test.labels.clone();
        labels[17] = (labels[17] + 1) % 10;
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
        let raw = dir.path().join("t10k-labels-idx1-ubyte");
        std::fs::write(&raw, encode_idx(&[labels.len()], &labels)).unwrap();
        let err = Dataset::load_mnist_verified(dir.path(), Split::Test).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, IdxError::Checksum { .. }), "{msg}");
        assert!(
            msg.contains("t10k-labels-idx1-ubyte")
                && msg.contains("27ae3e4e09519cfbb04c329615203637"),
            "{msg}"
        );
        assert_eq!(
            Dataset::load(dir.path(), Split::Test).unwrap().labels,
            labels
        );
    }
}
