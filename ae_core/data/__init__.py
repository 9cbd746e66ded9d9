"""Data: the dataset registry and loaders, the uint8 image helpers, uploads, and the tf.data pipeline.

Everything here but the pipeline imports NumPy only, so the Streamlit server reads the
registry and checks uploads without TensorFlow; ``make_dataset`` is loaded on first use.
"""

from typing import TYPE_CHECKING

from ae_core.data.datasets import (DATA_DIR_ENV, DATASETS, MAX_TRAIN_LIMIT, MAX_VALIDATION_FRACTION, DatasetSpec, Splits,
                                   check_grayscale, data_dir, fixed_sample, is_available_offline, load_dataset)
from ae_core.data.images import tile, to_float, to_uint8
from ae_core.data.uploads import MAX_UPLOAD_BYTES, decode_upload, fit_to_shape, load_upload
from ae_core.lazy import lazy_exports

if TYPE_CHECKING:
    from ae_core.data.pipeline import make_dataset

__getattr__, __dir__, _lazy = lazy_exports(__name__, {"pipeline": ("make_dataset",)})
__all__ = ["DATASETS", "DATA_DIR_ENV", "DatasetSpec", "MAX_TRAIN_LIMIT", "MAX_UPLOAD_BYTES", "MAX_VALIDATION_FRACTION", "Splits", "check_grayscale", "data_dir",
           "decode_upload", "fit_to_shape", "fixed_sample", "is_available_offline", "load_dataset", "load_upload",
           "tile", "to_float", "to_uint8", *_lazy]
