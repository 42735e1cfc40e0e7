"""Test session set-up: every test runs against its own FiftyOne database.

The environment is set before anything imports ``fiftyone``, so the user's
database, config and plugins are never touched. The plugin directory seen by
FiftyOne is a temporary folder holding one link to this checkout.
"""

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest

from fiftyone_plugin.private_db import PrivateDatabase

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = pathlib.Path(__file__).resolve().parent / "data"

_SESSION_DIR = pathlib.Path(tempfile.mkdtemp(prefix="data-explorer-tests-"))
_PLUGINS_DIR = _SESSION_DIR / "plugins"
_PLUGINS_DIR.mkdir()
(_PLUGINS_DIR / "data-explorer").symlink_to(REPO)

os.environ.update(
    FIFTYONE_DEFAULT_DATASET_DIR=str(_SESSION_DIR / "datasets"),
    FIFTYONE_PLUGINS_DIR=str(_PLUGINS_DIR),
    FIFTYONE_CONFIG_PATH=str(_SESSION_DIR / "config.json"),
    FIFTYONE_APP_CONFIG_PATH=str(_SESSION_DIR / "app_config.json"),
    FIFTYONE_ANNOTATION_CONFIG_PATH=str(_SESSION_DIR / "annotation_config.json"),
    FIFTYONE_DO_NOT_TRACK="true",
    FIFTYONE_DATABASE_VALIDATION="false",
    FIFTYONE_MODEL_ZOO_DIR=str(_SESSION_DIR / "zoo"),
    FIFTYONE_DATASET_ZOO_DIR=str(_SESSION_DIR / "dataset-zoo"),
)
os.environ.setdefault("OMP_NUM_THREADS", "2")


# Our own mongod on 127.0.0.1, reached through FIFTYONE_DATABASE_URI. Without
# a URI, every FiftyOne process joins any FiftyOne database service already
# running for this user, whatever its FIFTYONE_DATABASE_DIR, so a session
# could write into (and delete) another session's database. Subprocesses of
# the tests inherit the URI and share this database.
_DATABASE = PrivateDatabase(_SESSION_DIR / "db").start()

# Registered before fiftyone is imported, so they run after fiftyone's own
# exit handlers (atexit runs last-registered first): stop our database, then
# remove the session folder.
atexit.register(shutil.rmtree, _SESSION_DIR, ignore_errors=True)
atexit.register(_DATABASE.stop)


@pytest.fixture
def dataset(request):
    """An empty, non-persistent FiftyOne dataset, deleted after the test."""
    import fiftyone as fo

    ds = fo.Dataset()
    yield ds
    if not ds.deleted:
        ds.delete()


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def keyword_dir(tmp_path_factory):
    """80 real spoken keywords: 10 words x 4 espeak-ng voices x 2 speeds."""
    from fiftyone_plugin.demo_data import write_keywords

    return write_keywords(
        tmp_path_factory.mktemp("keywords"),
        voices=("en", "en-us", "en+f3", "en+m3"),
        speeds=(140, 180),
    )


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    """Crops of the photos that ship in scikit-image and scikit-learn."""
    from fiftyone_plugin.demo_data import write_images

    root = write_images(
        tmp_path_factory.mktemp("images"), digits_per_class=1, crops_per_photo=10
    )
    return root / "photos"
