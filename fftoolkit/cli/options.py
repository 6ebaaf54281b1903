"""Options shared by several commands, defined once."""

from __future__ import annotations

import click

expect_sha256 = click.option(
    "--expect-sha256", metavar="SHA256",
    help="Refuse the bundle unless its manifest.json has this sha256 (pin a bundle you "
         "received: its manifest lists the sha256 of every file). Print it with "
         "`sha256sum BUNDLE/manifest.json`.")
