//! Checkpoints: one safetensors file with the weights, their moving average, Adam's moments,
//! the step and the run's config — written atomically, read back with an error that names the
//! file and what is wrong with it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ::safetensors::tensor::Dtype as StDtype;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut, ViewTensorName,
    ViewTensorRef,
};
use dfdx::prelude::*;

use crate::adam::AdamState;
use crate::config::TrainConfig;

/// The `format` entry of a checkpoint's metadata.
pub const FORMAT: &str = "ddpm-course/checkpoint/1";

/// Everything needed to sample from a run or to continue it.
#[derive(Clone, Debug)]
pub struct Checkpoint<M> {
    pub config: TrainConfig,
    /// Gradient steps done.
    pub step: usize,
    pub model: M,
    pub ema: M,
    pub adam: AdamState<M>,
}

/// What can be wrong with a checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: cannot read the checkpoint: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a safetensors file (truncated or another format): {reason}")]
    NotSafetensors { path: PathBuf, reason: String },
    #[error("{path}: not a ddpm-course checkpoint: {reason}")]
    NotACheckpoint { path: PathBuf, reason: String },
    #[error("{path}: tensor '{name}': {reason} — the checkpoint does not fit this UNet")]
    Mismatch {
        path: PathBuf,
        name: String,
        reason: String,
    },
}

/// Every trainable tensor of a module, by its dfdx name with a prefix: (name, shape, values).
pub fn named_tensors<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &M,
    prefix: &str,
) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    struct Collect(Vec<(String, Vec<usize>, Vec<f32>)>);
    impl<D: Device<f32>> TensorVisitor<f32, D> for Collect {
        type Viewer = (ViewTensorName, ViewTensorRef);
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, D>,
            (name, t): (String, &Tensor<S, f32, D>),
        ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
            let shape = t.shape().concrete().into_iter().collect();
            self.0.push((name, shape, t.as_vec()));
            Ok(None)
        }
    }
    let mut c = Collect(Vec::new());
    M::iter_tensors(&mut RecursiveWalker {
        m: (prefix.to_string(), model),
        f: &mut c,
    })
    .expect("reading parameters");
    c.0
}

/// Fills a module's tensors from `tensors` (name → (shape, values)), names prefixed; every
/// tensor must be present with the same shape.
fn fill_named<M: TensorCollection<f32, D>, D: Device<f32>>(
    model: &mut M,
    prefix: &str,
    tensors: &HashMap<String, (Vec<usize>, Vec<f32>)>,
) -> Result<(), (String, String)> {
    struct Fill<'a> {
        tensors: &'a HashMap<String, (Vec<usize>, Vec<f32>)>,
        error: Option<(String, String)>,
    }
    impl<D: Device<f32>> TensorVisitor<f32, D> for Fill<'_> {
        type Viewer = (ViewTensorName, ViewTensorMut);
        type Err = D::Err;
        type E2 = f32;
        type D2 = D;
        fn visit<S: Shape>(
            &mut self,
            _: TensorOptions<S, f32, D>,
            (name, t): (String, &mut Tensor<S, f32, D>),
        ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
            if self.error.is_some() {
                return Ok(None);
            }
            let want: Vec<usize> = t.shape().concrete().into_iter().collect();
            match self.tensors.get(&name) {
                None => self.error = Some((name, "missing".into())),
                Some((shape, _)) if *shape != want => {
                    self.error = Some((name, format!("shape {shape:?}, this UNet has {want:?}")))
                }
                Some((_, values)) => t.copy_from(values),
            }
            Ok(None)
        }
    }
    let mut f = Fill {
        tensors,
        error: None,
    };
    M::iter_tensors(&mut RecursiveWalker {
        m: (prefix.to_string(), model),
        f: &mut f,
    })
    .expect("writing parameters");
    f.error.map_or(Ok(()), Err)
}

/// The safetensors encoding of f32 tensors `(name, shape, values)` with string metadata, in one
/// canonical form: the JSON header's keys sorted, the tensors' data in name order, the header
/// padded with spaces to a multiple of 8 bytes. Equal tensors and metadata give equal bytes
/// (the `safetensors` crate's own writer orders the metadata by hash, so equal runs would not).
/// Read back by the `safetensors` crate, which checks the layout.
pub fn encode_safetensors(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    let mut order: Vec<&(String, Vec<usize>, Vec<f32>)> = tensors.iter().collect();
    order.sort_by(|a, b| a.0.cmp(&b.0));
    // serde_json's map is a BTreeMap: the header's keys come out sorted.
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offset = 0usize;
    for (name, shape, values) in &order {
        let end = offset + 4 * values.len();
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, end]}),
        );
        offset = end;
    }
    let mut json = serde_json::Value::Object(header).to_string().into_bytes();
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + offset);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    for (_, _, values) in order {
        out.extend(values.iter().flat_map(|x| x.to_le_bytes()));
    }
    out
}

const PARTS: [&str; 4] = ["model", "ema", "adam_m", "adam_v"];

impl<M: Clone> Checkpoint<M> {
    // ANCHOR: save
    /// Writes the checkpoint to `path` atomically: to a temporary file beside it, flushed to
    /// disk, then renamed over `path` — a crash leaves the old checkpoint or the new one, never
    /// half of one.
    pub fn save<D: Device<f32>>(&self, path: &Path) -> Result<(), CheckpointError>
    where
        M: TensorCollection<f32, D>,
    {
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut all = Vec::new();
        for (part, m) in PARTS
            .iter()
            .zip([&self.model, &self.ema, &self.adam.m, &self.adam.v])
        {
            all.extend(named_tensors(m, part));
        }
        let metadata = BTreeMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("step".to_string(), self.step.to_string()),
            ("adam_t".to_string(), self.adam.t.to_string()),
            ("config".to_string(), self.config.to_json().to_string()),
        ]);
        let data = encode_safetensors(&all, &metadata);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("safetensors.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&data).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        // The rename itself is durable only once the folder is flushed too.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Ok(d) = std::fs::File::open(dir.unwrap_or(Path::new("."))) {
            let _ = d.sync_all();
        }
        Ok(())
    }
    // ANCHOR_END: save

    /// Reads a checkpoint into modules built like `template` (whose shapes it must match).
    pub fn load<D: Device<f32>>(path: &Path, template: &M) -> Result<Self, CheckpointError>
    where
        M: TensorCollection<f32, D>,
    {
        let (config, step, adam_t, tensors) = read_file(path)?;
        let mut parts = Vec::new();
        for part in PARTS {
            let mut m = template.clone();
            fill_named(&mut m, part, &tensors).map_err(|(name, reason)| {
                CheckpointError::Mismatch {
                    path: path.to_path_buf(),
                    name,
                    reason,
                }
            })?;
            parts.push(m);
        }
        let v = parts.pop().unwrap();
        let m = parts.pop().unwrap();
        let ema = parts.pop().unwrap();
        let model = parts.pop().unwrap();
        Ok(Self {
            config,
            step,
            model,
            ema,
            adam: AdamState { m, v, t: adam_t },
        })
    }
}

type Tensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The step a checkpoint was saved at.
pub fn read_step(path: &Path) -> Result<usize, CheckpointError> {
    Ok(read_file(path)?.1)
}

/// The config recorded in a checkpoint, without loading its weights (to pick the UNet type).
pub fn read_config(path: &Path) -> Result<TrainConfig, CheckpointError> {
    Ok(read_file(path)?.0)
}

/// The largest checkpoint file read (the `base` UNet's is about 10 MB): a path to something
/// else entirely is refused before it is read into memory.
pub const MAX_CHECKPOINT_BYTES: u64 = 1 << 30;

fn read_file(path: &Path) -> Result<(TrainConfig, usize, i32, Tensors), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_CHECKPOINT_BYTES {
        return Err(CheckpointError::NotACheckpoint {
            path: path.to_path_buf(),
            reason: format!(
                "it is {size} bytes, more than any course checkpoint ({MAX_CHECKPOINT_BYTES})"
            ),
        });
    }
    let data = std::fs::read(path).map_err(io)?;
    let not_st = |reason: String| CheckpointError::NotSafetensors {
        path: path.to_path_buf(),
        reason,
    };
    let not_ckpt = |reason: &str| CheckpointError::NotACheckpoint {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let (_, header) =
        ::safetensors::SafeTensors::read_metadata(&data).map_err(|e| not_st(format!("{e:?}")))?;
    let st =
        ::safetensors::SafeTensors::deserialize(&data).map_err(|e| not_st(format!("{e:?}")))?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or_else(|| not_ckpt("no metadata (a plain weights file?)"))?;
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(not_ckpt(&format!("its format is not '{FORMAT}'")));
    }
    let num = |key: &str| -> Result<u64, CheckpointError> {
        meta.get(key)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| not_ckpt(&format!("metadata '{key}' missing or not a number")))
    };
    let step = num("step")? as usize;
    let adam_t =
        i32::try_from(num("adam_t")?).map_err(|_| not_ckpt("metadata 'adam_t' out of range"))?;
    let config_json: serde_json::Value = meta
        .get("config")
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| not_ckpt("metadata 'config' missing or not JSON"))?;
    let config = TrainConfig::from_json(&config_json).map_err(|e| not_ckpt(&e.to_string()))?;
    config
        .validate()
        .map_err(|e| not_ckpt(&format!("its config is not a valid run: {e}")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != StDtype::F32 {
            return Err(not_ckpt(&format!(
                "tensor '{name}' is {:?}, not F32",
                view.dtype()
            )));
        }
        let values = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        tensors.insert(name, (view.shape().to_vec(), values));
    }
    Ok((config, step, adam_t, tensors))
}
