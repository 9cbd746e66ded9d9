"""The model zoo: autoencoders built from a ``ModelConfig``, and the reference classifiers.

Every module here imports Keras, so the names are loaded on first use (``ae_core.lazy``):
the Streamlit server can import this package without paying for TensorFlow.
"""

from typing import TYPE_CHECKING

from ae_core.lazy import lazy_exports

if TYPE_CHECKING:
    from ae_core.models.classifier import build_cnn, encoder_classifier, labelled_dataset
    from ae_core.models.layers import MaskingNoise, Sampling
    from ae_core.models.vae import VariationalAutoencoder
    from ae_core.models.zoo import (Autoencoder, build_autoencoder, corrupt, count_parameters, live_settings,
                                    load_autoencoder, make_optimizer, save_autoencoder)

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "zoo": ("Autoencoder", "build_autoencoder", "corrupt", "count_parameters", "live_settings", "load_autoencoder",
            "make_optimizer", "save_autoencoder"),
    "classifier": ("build_cnn", "encoder_classifier", "labelled_dataset"),
    "layers": ("MaskingNoise", "Sampling"),
    "vae": ("VariationalAutoencoder",),
})
