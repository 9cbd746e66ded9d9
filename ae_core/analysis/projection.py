"""Draw latent codes in 2-D, with successive frames aligned.

A run sends a latent snapshot of the same validation images every few
seconds. Projected independently, consecutive frames can flip, rotate or
rescale even when the codes barely moved (a PCA axis's sign is arbitrary, and
t-SNE and UMAP have no fixed orientation at all). Each new frame is therefore
aligned to the previous one with an orthogonal Procrustes fit, so points only
move when the model's codes really move.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

METHODS = ("raw", "pca", "tsne", "umap")
METHOD_TITLES = {"raw": "Raw (2-D latent)", "pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
# Settings that keep t-SNE and UMAP of 2,000 codes within a few seconds on one math thread.
TSNE_ANGLE = 0.8
TSNE_MAX_ITER = 350
UMAP_EPOCHS = 200


def available_methods(latent_dim: int) -> tuple[str, ...]:
    """The methods that make sense for codes of ``latent_dim`` dimensions."""
    return METHODS if latent_dim == 2 else METHODS[1:]


def project(codes: np.ndarray, method: str, previous: np.ndarray | None = None, *, seed: int = 0) -> np.ndarray:
    """Project codes to 2-D.

    Args:
        codes: float array shaped (n, latent_dim).
        method: one of ``METHODS``; ``raw`` needs a latent size of 2.
        previous: the last frame's 2-D points for the same n images; when
            given, the result is aligned to it.
        seed: seed for t-SNE and UMAP.

    Returns:
        float32 array shaped (n, 2).

    Raises:
        ValueError: for an unknown method, ``raw`` on a latent size other than
            2, or codes that are not a 2-D array of at least 3 rows.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or len(codes) < 3:
        raise ValueError(f"codes must be an (n, latent_dim) array with n >= 3; got shape {codes.shape}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    latent_dim = codes.shape[1]
    if method == "raw" and latent_dim != 2:
        raise ValueError(f"method 'raw' needs latent_dim 2; this run has latent_dim {latent_dim}: use 'pca'")
    if latent_dim == 1:
        # One dimension has nothing to reduce: spread it along the x axis.
        points = np.column_stack([codes[:, 0], np.zeros(len(codes))])
    elif method == "raw" or latent_dim == 2 and method == "pca":
        points = codes
    elif method == "pca":
        points = fit_pca(codes).transform(codes)
    elif method == "tsne":
        points = _tsne(codes, seed)
    else:
        points = _umap(codes, seed)
    points = np.asarray(points, dtype=np.float64)
    if previous is not None and method != "raw":
        points = align(points, previous)
    return points.astype(np.float32)


def _tsne(codes: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    # Barnes-Hut with a coarser angle and 350 iterations (250 of them the early exaggeration)
    # instead of sklearn's 0.5 and 1,000: about 3x faster on 2,000 codes with one thread, and
    # the neighbourhoods are as well kept (trustworthiness 0.993 either way on 2,000 digits).
    perplexity = float(min(30.0, (len(codes) - 1) / 3.0))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed, method="barnes_hut",
                angle=TSNE_ANGLE, max_iter=TSNE_MAX_ITER, n_jobs=1).fit_transform(codes)


def _umap(codes: np.ndarray, seed: int) -> np.ndarray:
    import umap
    from sklearn.neighbors import NearestNeighbors

    # Below 4,096 points UMAP finds the exact neighbours through a Python-level callable
    # distance (millions of calls: about 5 s for 2,000 codes); sklearn's exact search gives
    # the same neighbours (each point first, at distance 0, as UMAP expects) in milliseconds.
    neighbours = min(15, len(codes) - 1)
    distances, indices = NearestNeighbors(n_neighbors=neighbours).fit(codes).kneighbors(codes)
    reducer = umap.UMAP(n_components=2, n_neighbors=neighbours, random_state=seed, n_jobs=1, n_epochs=UMAP_EPOCHS,
                        precomputed_knn=(indices, distances))
    with warnings.catch_warnings():
        # Without UMAP's own search index it cannot place new points later; a frame never needs to.
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        return reducer.fit_transform(codes)


def fit_pca(codes: np.ndarray):  # -> sklearn.decomposition.PCA
    """Fit a 2-component PCA; its ``inverse_transform`` maps the plane back to codes."""
    from sklearn.decomposition import PCA

    return PCA(n_components=2, svd_solver="full").fit(np.asarray(codes, dtype=np.float64))


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotate, reflect, scale and shift ``points`` to best match ``reference``.

    This is the orthogonal Procrustes solution: with both clouds centred, the
    rotation R minimising ||A R - B|| comes from the SVD of A^T B; the scale is
    then the one that best matches the reference's spread.

    Args:
        points: (n, 2) new frame.
        reference: (n, 2) previous frame, the same images in the same order.

    Returns:
        (n, 2) aligned points.

    Raises:
        ValueError: if the shapes differ.
    """
    points = np.asarray(points, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if points.shape != reference.shape:
        raise ValueError(f"previous must have the shape of the new frame {points.shape}; got {reference.shape}")
    points_mean, reference_mean = points.mean(axis=0), reference.mean(axis=0)
    a, b = points - points_mean, reference - reference_mean
    u, singular, vt = np.linalg.svd(a.T @ b)
    rotation = u @ vt
    norm = float((a**2).sum())
    scale = float(singular.sum()) / norm if norm > 0 else 1.0
    return scale * a @ rotation + reference_mean


def project_frames(frames: Sequence[np.ndarray], method: str, *, seed: int = 0,
                   on_frame: Callable[[int], None] | None = None) -> np.ndarray:
    """Project the codes of every frame of a time-lapse, each frame aligned to the one before.

    Args:
        frames: the codes of each frame, oldest first, each shaped (n, latent_dim) with the
            same n (the same images, in the same order).
        method: one of ``METHODS``.
        seed: seed for t-SNE and UMAP (the same for every frame, so only the codes differ).
        on_frame: called with the number of frames done after each one (a progress report).

    Returns:
        float32 array shaped (number of frames, n, 2).

    Raises:
        ValueError: for no frames, frames of different sizes, or what ``project`` refuses.
    """
    if not len(frames):
        raise ValueError("frames must hold at least one frame of codes; got none")
    sizes = {np.shape(codes)[0] for codes in frames}
    if len(sizes) != 1:
        raise ValueError(f"frames must all hold the same number of codes; got {sorted(sizes)}")
    points: list[np.ndarray] = []
    for done, codes in enumerate(frames, start=1):
        frame = project(codes, method, points[-1] if points else None, seed=seed)
        if points and method != "raw":  # raw codes are drawn as they are
            frame = _same_spread(frame, points[-1])
        points.append(frame)
        if on_frame is not None:
            on_frame(done)
    return np.stack(points)


def _same_spread(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``points`` scaled about their centre to the spread of ``reference``.

    Procrustes picks the scale that best matches the previous frame, which shrinks a frame
    that barely resembles it (the first seconds of training): chained over a hundred frames
    the map would shrink to a dot. A time-lapse keeps one size and shows the shape change.
    """
    centre = points.mean(axis=0)
    spread = float(np.sqrt(((points - centre) ** 2).sum(axis=1).mean()))
    wanted = float(np.sqrt(((reference - reference.mean(axis=0)) ** 2).sum(axis=1).mean()))
    return (centre + (points - centre) * (wanted / spread if spread > 0 else 1.0)).astype(np.float32)
