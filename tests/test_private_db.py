"""The private database server of the demo, the tests and the benchmarks.

Each test starts its own ``mongod`` on its own temp folder and port; the
suite's database (``conftest.py``) and its URI are left as they were.
"""

import os
import time

import pymongo
import pytest

from fiftyone_plugin.private_db import URI_VARIABLE, PrivateDatabase


@pytest.fixture(autouse=True)
def _keep_suite_uri(monkeypatch):
    """Restores the suite's FIFTYONE_DATABASE_URI after each test."""
    monkeypatch.setenv(URI_VARIABLE, os.environ[URI_VARIABLE])


@pytest.fixture
def database(tmp_path):
    db = PrivateDatabase(tmp_path / "db", timeout=30)
    yield db
    db.stop()


def _ping(uri):
    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=10_000)
    try:
        return client.admin.command("ping")
    finally:
        client.close()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_sets_a_uri_that_answers(database):
    suite_uri = os.environ[URI_VARIABLE]
    database.start()
    assert database.uri.startswith("mongodb://127.0.0.1:")
    assert database.uri != suite_uri
    assert os.environ[URI_VARIABLE] == database.uri
    assert _ping(database.uri)["ok"] == 1
    assert database.log_path.is_file()


def test_stop_ends_the_process(database):
    pid = database.start().pid
    assert _alive(pid)
    database.stop()
    assert not _alive(pid)
    assert database.pid is None
    database.stop()  # a second stop does nothing


def test_context_manager_stops(tmp_path):
    with PrivateDatabase(tmp_path / "db") as db:
        pid = db.pid
        assert _ping(db.uri)["ok"] == 1
    assert not _alive(pid)


def test_second_instance_on_same_folder_fails_clearly(database, tmp_path):
    database.start()
    start = time.monotonic()
    with pytest.raises(RuntimeError) as info:
        PrivateDatabase(tmp_path / "db", timeout=30).start()
    assert time.monotonic() - start < 20
    message = str(info.value)
    assert f"process {database.pid}" in message
    assert "already using" in message
    assert str(database.log_path) in message
    assert os.environ[URI_VARIABLE] == database.uri  # the first one's
    assert _ping(database.uri)["ok"] == 1


def test_folder_is_reused_after_a_clean_stop(database):
    database.start()
    client = pymongo.MongoClient(database.uri, serverSelectionTimeoutMS=10_000)
    client.demo.items.insert_one({"name": "kept"})
    client.close()
    database.stop()

    database.start()
    client = pymongo.MongoClient(database.uri, serverSelectionTimeoutMS=10_000)
    try:
        assert client.demo.items.find_one()["name"] == "kept"
    finally:
        client.close()


def test_start_twice_is_refused(database):
    database.start()
    with pytest.raises(RuntimeError, match="already runs"):
        database.start()


def test_missing_fiftyone_says_to_run_setup(tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="make setup"):
        PrivateDatabase(tmp_path / "db").start()


def test_stop_gives_back_the_uri_it_replaced(tmp_path):
    before = os.environ[URI_VARIABLE]
    database = PrivateDatabase(tmp_path / "db").start()
    assert os.environ[URI_VARIABLE] == database.uri != before
    database.stop()
    assert os.environ[URI_VARIABLE] == before and database.uri is None


def test_a_file_as_the_folder_is_a_clear_error(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(RuntimeError, match="cannot use .*taken as the database"):
        PrivateDatabase(tmp_path / "taken").start()
