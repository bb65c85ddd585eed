"""The one compiled part: the TCP relay's byte loop (src/svcnet/proxy/userspace/_relay.c).

It is optional: without a C compiler or Python's headers the build warns and svcnet installs
anyway, and the proxy relays with its pure-Python pumps (same behaviour, more CPU per byte).
Everything else is declared in pyproject.toml.
"""

import sys

from setuptools import Extension, setup

ext_modules = []
if sys.platform.startswith("linux"):  # epoll, splice, eventfd
    ext_modules.append(
        Extension(
            "svcnet.proxy.userspace._relay",
            ["src/svcnet/proxy/userspace/_relay.c"],
            extra_compile_args=["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
            optional=True,
        )
    )

setup(ext_modules=ext_modules)
