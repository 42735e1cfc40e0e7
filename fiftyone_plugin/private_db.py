"""A private FiftyOne database: our own ``mongod`` on 127.0.0.1.

Without ``FIFTYONE_DATABASE_URI``, every FiftyOne process joins any FiftyOne
database service already running for this user, whatever its
``FIFTYONE_DATABASE_DIR``: the demo would write into the database of an App
the user has open. :class:`PrivateDatabase` starts FiftyOne's own ``mongod``
on a folder and a free port of 127.0.0.1 and points
``FIFTYONE_DATABASE_URI`` at it::

    import atexit

    from fiftyone_plugin.private_db import PrivateDatabase

    database = PrivateDatabase("demo-output/fiftyone-db").start()
    # registered before fiftyone is imported, so it runs after FiftyOne's own
    # exit handlers, which still use the database (else they wait 30 s)
    atexit.register(database.stop)

    import fiftyone as fo  # only now: FiftyOne reads its config on import

The ``with`` form stops it at the end of the block, for code that does not
keep FiftyOne connected to it.

Start it before anything imports ``fiftyone``; this module never imports it.
Subprocesses (the App server) inherit the URI and share the database.
"""

import ctypes
import importlib.util
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

URI_VARIABLE = "FIFTYONE_DATABASE_URI"
HOST = "127.0.0.1"
_POLL_S = 0.1
_LOCK_IN_USE = "DBPathInUse"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class PrivateDatabase:
    """FiftyOne's ``mongod`` on ``folder``, listening on 127.0.0.1 only.

    The folder may be reused between runs; its log is ``folder/mongod.log``.
    ``mongod`` runs in its own session, so Ctrl-C does not reach it; call
    :meth:`start` from the thread that lives as long as the database is needed
    (on Linux, ``mongod`` gets SIGTERM when that thread ends).

    Args:
        folder: the database folder, created if missing
        timeout: seconds to wait for ``mongod`` to listen, and then for it to
            stop
    """

    def __init__(self, folder, timeout=60):
        self.folder = pathlib.Path(folder).resolve()
        self.timeout = timeout
        self.port = None
        self._process = None
        self._previous_uri = None

    @property
    def log_path(self):
        """The ``mongod`` log, ``folder/mongod.log``."""
        return self.folder / "mongod.log"

    @property
    def uri(self):
        """``mongodb://127.0.0.1:<port>``, or None before :meth:`start`."""
        return None if self.port is None else f"mongodb://{HOST}:{self.port}"

    @property
    def pid(self):
        """The ``mongod`` process id, or None when not started."""
        return None if self._process is None else self._process.pid

    def start(self):
        """Starts ``mongod``, waits until it listens, sets the URI variable.

        Returns:
            this object

        Raises:
            RuntimeError: if ``mongod`` is missing, exits, or does not listen
                within ``timeout`` seconds; the message names the log
        """
        if self._process is not None:
            raise RuntimeError(f"the database on {self.folder} already runs")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RuntimeError(
                f"cannot use {self.folder} as the database folder ({e}); "
                "name a folder (it is created if missing)"
            ) from e
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.port = _free_port()
        self._process = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Ctrl-C reaches our process only: FiftyOne's exit handlers still
            # find the database, and stop() ends it afterwards
            start_new_session=True,
            # only prctl() and getppid(), no locks: safe with threads
            preexec_fn=_stop_with_parent(),  # noqa: PLW1509
        )
        try:
            self._wait_listening(log_start)
        except BaseException:
            self.stop()
            raise
        self._previous_uri = os.environ.get(URI_VARIABLE)
        os.environ[URI_VARIABLE] = self.uri
        return self

    def stop(self):
        """Stops ``mongod`` (terminate, then kill after ``timeout`` seconds).

        Only the process that :meth:`start` started is signalled. Does
        nothing when not running.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if os.environ.get(URI_VARIABLE) == self.uri:
            # a later FiftyOne import (or subprocess) must not find a dead server
            if self._previous_uri is None:
                os.environ.pop(URI_VARIABLE, None)
            else:
                os.environ[URI_VARIABLE] = self._previous_uri
        self.port = None
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _command(self):
        return [
            mongod_path(),
            "--dbpath",
            str(self.folder),
            "--port",
            str(self.port),
            "--bind_ip",
            HOST,
            "--logpath",
            str(self.log_path),
            "--logappend",
        ]

    def _wait_listening(self, log_start):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(self._exit_message(log_start))
            if _listens(self.port) and self._process.poll() is None:
                return
            time.sleep(_POLL_S)
        raise RuntimeError(
            f"mongod did not listen on {HOST}:{self.port} within "
            f"{self.timeout} s; see {self.log_path}"
        )

    def _exit_message(self, log_start):
        """Why ``mongod`` exited at start, from what it logged this time."""
        if _LOCK_IN_USE not in _read_from(self.log_path, log_start):
            return (
                f"mongod exited with code {self._process.returncode}; "
                f"see {self.log_path}"
            )
        lock = self.folder / "mongod.lock"
        owner = _read_from(lock, 0).strip()
        if owner.isdigit() and _alive(int(owner)):
            return (
                f"another mongod (process {owner}) is already using "
                f"{self.folder}; stop it first (see {self.log_path})"
            )
        return (
            f"{self.folder} is locked by a mongod that no longer runs; delete "
            f"{lock} and start again (see {self.log_path})"
        )


def mongod_path():
    """FiftyOne's own ``mongod``, found without importing ``fiftyone``.

    Returns:
        the path of the executable, as a string

    Raises:
        RuntimeError: if FiftyOne or its ``mongod`` is not installed
    """
    spec = importlib.util.find_spec("fiftyone")
    if spec is None or spec.origin is None:
        raise RuntimeError("FiftyOne is not installed here; run `make setup`")
    path = pathlib.Path(spec.origin).parent / "db" / "bin" / "mongod"
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"FiftyOne's mongod is missing ({path}); run `make setup`")
    return str(path)


def _stop_with_parent():
    """On Linux, a ``preexec_fn`` that has the kernel send ``mongod`` SIGTERM
    when the thread that starts it ends, also when our process is killed
    without running :meth:`PrivateDatabase.stop`; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None).prctl
    parent = os.getpid()

    def preexec():
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # died before prctl took effect
            os._exit(1)

    return preexec


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _listens(port):
    with socket.socket() as s:
        return s.connect_ex((HOST, port)) == 0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    return True


def _read_from(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
