"""Looking at what a model learned: latent-space tools, 2-D projections and linear probes.

``projection`` and ``probe`` import NumPy (scikit-learn and umap inside their functions);
``latent`` calls Keras models, so its names are loaded on first use.
"""

from typing import TYPE_CHECKING

from ae_core.analysis.probe import CLASSIFY_TITLES, PROBES, ProbeResult, fit_probes, linear_probe, pixel_features
from ae_core.analysis.projection import METHOD_TITLES, METHODS, align, available_methods, fit_pca, project
from ae_core.lazy import lazy_exports

if TYPE_CHECKING:
    from ae_core.analysis.latent import (ErrorRanking, LatentPlane, code_ranges, decode, decode_plane, encode,
                                         errors_by_class, fit_plane, interpolate, pixel_errors, plane_bounds,
                                         rank_errors, reconstruct, sample_prior)

__getattr__, __dir__, _lazy = lazy_exports(__name__, {"latent": (
    "ErrorRanking", "LatentPlane", "code_ranges", "decode", "decode_plane", "encode", "errors_by_class", "fit_plane",
    "interpolate", "pixel_errors", "plane_bounds", "rank_errors", "reconstruct", "sample_prior")})
__all__ = ["CLASSIFY_TITLES", "METHODS", "METHOD_TITLES", "PROBES", "ProbeResult", "align", "available_methods",
           "fit_pca", "fit_probes", "linear_probe", "pixel_features", "project", *_lazy]
