#!/usr/bin/env python3
"""Installs conda packages with py-rattler (`pip install py-rattler`), the library behind pixi:
solves `specs` against one channel URL for linux-64 and noarch, then installs the result into a
prefix. Every cache (repodata and packages) lives under `cache`, so a fresh directory means a
client that has seen nothing. Prints one `name version filename` line per installed package.

    rattler_install.py CHANNEL_URL PREFIX CACHE SPEC...
"""

import asyncio
import os
import sys

import rattler


async def main(channel_url, prefix, cache, specs):
    gateway = rattler.Gateway(cache_dir=os.path.join(cache, "repodata"))
    records = await rattler.solve(
        sources=[rattler.Channel(channel_url)],
        specs=specs,
        gateway=gateway,
        platforms=["linux-64", "noarch"],
        virtual_packages=[],
    )
    await rattler.install(
        records,
        target_prefix=prefix,
        cache_dir=os.path.join(cache, "pkgs"),
        show_progress=False,
    )
    for r in sorted(records, key=lambda r: r.name.normalized):
        print(r.name.normalized, r.version, r.file_name)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]))
    # py-rattler's runtime threads may still hold or wait for the GIL while the interpreter
    # finalizes, which aborts ("PyGILState_Release: thread state … must be current") or hangs
    # now and then. The work is done and written: leave without finalizing.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
