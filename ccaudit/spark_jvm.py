"""Spark's JVM for ``ccaudit spark``, started and owned here rather than by pyspark: its
own session, umask 077, a private scratch folder, killed however the run ends."""
from __future__ import annotations

import codecs
import contextlib
import locale
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from .errors import CcauditError
from .stops import STOPPING
from .worker import PACKAGE_ROOT

NO_JAVA = "could not start Spark (it needs Java 17 or newer: java on PATH, or JAVA_HOME)"


def _utf8_names() -> dict:
    """Java names files in its locale's encoding: ASCII in the C locale, and in one that is
    not installed (in both, Python reads names as UTF-8), so a scratch folder or an input
    named with an é became "?", and the JVM's gateway file was waited for in vain. The
    locale in effect tells, and the first UTF-8 one this system has is given instead."""
    if codecs.lookup(locale.nl_langinfo(locale.CODESET)).name != "ascii":
        return {}
    before = locale.setlocale(locale.LC_CTYPE)
    for name in ("C.UTF-8", "C.utf8", "en_US.UTF-8"):
        try:
            locale.setlocale(locale.LC_CTYPE, name)
        except locale.Error:
            continue
        locale.setlocale(locale.LC_CTYPE, before)
        return {"LC_ALL": name}
    return {}


class Jvm:
    """Spark's JVM, started as pyspark's ``launch_gateway`` would, but owned here: pyspark
    loses its process when Ctrl-C comes while it starts, and leaves it running. This one
    runs in its own session (Ctrl-C at the terminal is ccaudit's to handle), with umask 077
    (Spark's scratch files hold event rows) and ``java.io.tmpdir`` in ``scratch``; ``send``
    stops it at once, and its Python daemon and workers exit as its pipe to them closes."""

    def __init__(self, scratch: str):
        self.scratch, self.proc = scratch, None

    def start(self):
        """The py4j gateway to a new JVM."""
        from pyspark.find_spark_home import _find_spark_home
        from pyspark.java_gateway import launch_gateway
        from pyspark.serializers import UTF8Deserializer, read_int

        info = os.path.join(self.scratch, "gateway")
        options = (f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} -Djava.io.tmpdir={shlex.quote(self.scratch)}"
                   " -XX:-UsePerfData")  # (its counters' file, in /tmp whatever TMPDIR says, outlives a JVM stopped)
        env = dict(os.environ, SPARK_CONNECT_MODE="0", _PYSPARK_DRIVER_CONN_INFO_PATH=info,
                   SPARK_SUBMIT_OPTS=options.strip(), SPARK_LOCAL_DIRS=self.scratch,  # it wins over spark.local.dir
                   **_utf8_names())
        command = [os.path.join(_find_spark_home(), "bin", "spark-submit"),
                   *shlex.split(os.environ.get("PYSPARK_SUBMIT_ARGS", "pyspark-shell"))]
        quiet = {} if os.environ.get("CCAUDIT_DEBUG") else {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        with holding_stops():  # a signal between the start and the assignment would lose the process
            self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, env=env, umask=0o077,
                                         start_new_session=True, **quiet)
        while self.proc.poll() is None and not os.path.isfile(info):
            time.sleep(0.05)
        if not os.path.isfile(info):  # no Java, or one too old: its output says which (CCAUDIT_DEBUG=1)
            raise CcauditError(f"{NO_JAVA}: its launcher exited with status {self.proc.returncode} "
                               "(CCAUDIT_DEBUG=1 shows why)")
        with open(info, "rb") as f:
            port, secret = read_int(f), UTF8Deserializer().loads(f)
        os.environ.update(PYSPARK_GATEWAY_PORT=str(port), PYSPARK_GATEWAY_SECRET=secret)
        try:
            gateway = launch_gateway()  # connects to a running JVM, as under spark-submit
        finally:
            del os.environ["PYSPARK_GATEWAY_PORT"], os.environ["PYSPARK_GATEWAY_SECRET"]
        gateway.proc = self.proc
        return gateway

    def send(self, signum: int = signal.SIGKILL) -> None:
        """Signal the JVM's process group; by default kill it (its Python daemon leaves
        it, and exits when the JVM's pipe to it closes). Until the JVM is reaped, its id
        cannot be another's."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signum)

    def reap(self) -> None:
        self.send()
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            self.proc.wait()


@contextlib.contextmanager
def holding_stops() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP off a stretch that must not be left half done, then
    let the first that came act. By handlers, not by a mask (``stops.block_stops``): a mask
    is one thread's, and a signal to the process goes to a thread that does not block it,
    such as pyspark's, then on to this one all the same."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    before: dict[int, Any] = {s: signal.signal(s, lambda signum, frame: came.append(signum)) for s in STOPPING}
    try:
        yield
    finally:
        for s, handler in before.items():
            if handler is not None:
                signal.signal(s, handler)
        if came and callable(before[came[0]]):
            before[came[0]](came[0], None)
        elif came and before[came[0]] == signal.SIG_DFL:
            signal.raise_signal(came[0])


def local_settings(conf) -> None:
    """Spark on this machine: its workers run this Python and this ccaudit (not one installed
    elsewhere, nor one in the current folder, which their ``python -m`` puts first on their
    path), and no UI."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    theirs = conf.get("spark.executorEnv.PYTHONPATH")  # (Spark puts its own first, and the inherited one after)
    conf.set("spark.executorEnv.PYTHONPATH", os.pathsep.join(filter(None, [PACKAGE_ROOT, theirs])))
    conf.setIfMissing("spark.executorEnv.PYTHONSAFEPATH", "1")
    conf.setIfMissing("spark.ui.enabled", "false")
