"""The install without a C compiler: the compiled relay is optional (setup.py), so a machine
with no compiler or no Python headers still installs svcnet and relays TCP in Python."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_install_without_a_compiler_falls_back_to_the_python_relay(tmp_path):  # type: ignore[no-untyped-def]
    env = dict(os.environ, CC="false", PIP_DISABLE_PIP_VERSION_CHECK="1")  # every compile fails
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("svcnet-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    assert "svcnet/proxy/userspace/relay.py" in names
    assert not [n for n in names if n.endswith(".so")], "the extension was built with CC=false?"
    probe = (
        "from svcnet.proxy.userspace import relay, tcp;"
        "print(relay.AVAILABLE, relay.engine_name('auto'), tcp.TcpListener('127.0.0.1', 0, None).engine)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(tmp_path / "site")), cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "python", "python"]
