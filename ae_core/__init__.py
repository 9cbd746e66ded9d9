"""Autoencoder Lab's core: data, models, training, the run store, the job service and analysis.

Each room is a sub-package that re-exports what the others use::

    ae_core.data       datasets, uint8 image helpers, uploads, the tf.data pipeline
    ae_core.models     the autoencoder zoo and the reference classifiers
    ae_core.training   train(config, on_event, should_stop): live, checkpointed runs
    ae_core.store      SQLite plus a folder per run; run records and statuses
    ae_core.service    the job manager, its worker processes and their event path
    ae_core.analysis   latent-space tools, 2-D projections, linear probes

with ``config`` (the frozen ``ModelConfig`` and ``TrainConfig``; ``config_json`` reads
them back from a file, ``model_size`` bounds the models they describe), ``checks`` (the
small validators), ``errors`` and ``cli`` beside them. This package never imports streamlit, and
importing it (or ``config``, ``store``, ``service``) never loads TensorFlow: the modules
that need Keras are loaded when their names are first used.
"""

from ae_core.config import ModelConfig, TrainConfig
from ae_core.errors import AELabError, DatasetUnavailable, RunNotFound

__version__ = "0.1.0"
__all__ = ["AELabError", "DatasetUnavailable", "ModelConfig", "RunNotFound", "TrainConfig"]
