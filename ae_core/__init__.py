"""Autoencoder Lab's core: datasets, model zoo, trainer, projections and the job service.

This package never imports streamlit. Heavy libraries (TensorFlow, scikit-learn,
umap) are imported by the modules that need them, not here, so that the web
server can import the configuration and the job service quickly.
"""

__version__ = "0.1.0"
