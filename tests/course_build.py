"""The course's editions and site, built once per test session and shared by the tests.

Executing the whole course takes minutes, so the instructor edition is executed once per
test process (whichever test asks first) into a temporary folder, and the site is built
from those executed notebooks without executing anything again. A failed build is
remembered, so that every test that needs it reports the same error instead of trying again.
"""

import atexit
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tools.editions import build_editions, course_notebooks
from tools.site import build_site

_BUILT = {}


@contextmanager
def no_network():
    """Inside: opening a network connection raises (the site must build offline)."""
    def refuse(*args, **kwargs):
        raise OSError("the site build tried to open a network connection")

    saved = socket.socket.connect, socket.create_connection
    socket.socket.connect, socket.create_connection = refuse, refuse
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection = saved


def _root():
    if "root" not in _BUILT:
        _BUILT["root"] = Path(tempfile.mkdtemp(prefix="course-build-"))
        atexit.register(shutil.rmtree, _BUILT["root"], True)
    return _BUILT["root"]


def editions():
    """(folder with student/ and instructor/, {notebook: seconds}, wall seconds) of every
    course notebook present, built once."""
    if "editions" not in _BUILT:
        started = time.perf_counter()
        try:
            seconds = build_editions(course_notebooks(), _root(), jobs=2)
        except Exception as error:  # remembered: the next test reports it again
            _BUILT["editions"] = error
        else:
            _BUILT["editions"] = (_root(), seconds, time.perf_counter() - started)
    if isinstance(_BUILT["editions"], Exception):
        raise _BUILT["editions"]
    return _BUILT["editions"]


def site():
    """(the site's folder, seconds to build it) from the executed instructor edition."""
    if "site" not in _BUILT:
        root, _, _ = editions()
        started = time.perf_counter()
        try:
            with no_network():
                build_site(root / "instructor", root / "site")
        except Exception as error:
            _BUILT["site"] = error
        else:
            _BUILT["site"] = (root / "site", time.perf_counter() - started)
    if isinstance(_BUILT["site"], Exception):
        raise _BUILT["site"]
    return _BUILT["site"]
