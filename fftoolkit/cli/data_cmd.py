"""`fftk data`: fetch named datasets into the cache and inspect any dataset."""

from __future__ import annotations

import json

import click


class ValSplitType(click.ParamType):
    """`500` = images per class (a whole number >= 0), `0.1` = fraction per class in [0, 1)."""

    name = "N|FRACTION"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int | float:
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) \
            else self._parse(str(value))
        if isinstance(number, float) and number >= 1 and number.is_integer():
            number = int(number)  # "500.0" is a count
        if (isinstance(number, int) and number >= 0) or (
                isinstance(number, float) and 0.0 <= number < 1.0):  # nan fails both
            return number
        self.fail(f"{value!r} is neither a count >= 0 (500) nor a fraction in [0, 1) (0.1)",
                  param, ctx)

    @staticmethod
    def _parse(text: str) -> int | float | None:
        for kind in (int, float):
            try:
                return kind(text.strip())
            except ValueError:
                pass
        return None


VAL_SPLIT = click.option(
    "--val-split", type=ValSplitType(), default=None,
    help="Validation carved from train: images per class (500) or fraction per class (0.1). "
    "Default: 500 per class if every class has >= 1000 images (10% for MNIST-style IDX and "
    "smaller sets).",
)
CACHE_DIR = click.option(
    "--cache-dir", type=click.Path(file_okay=False), default=None,
    help="Dataset cache (default: $FFTK_DATA, else ~/.cache/fftk).",
)


@click.group(name="data")
def data() -> None:
    """Fetch, prepare and inspect datasets.

    \b
    Examples:
      fftk data fetch mnist
      fftk data info mnist
      fftk data info ../shared/data/cifar10/cifar10-train-jpeg.tar.gz --json
    """


@data.command("fetch")
@click.argument("name")
@click.option("--url", default=None, metavar="URL",
              help="Base URL (a folder) holding the canonical file names; file:// works.")
@click.option("--sha256-file", type=click.Path(dir_okay=False), default=None,
              help="Checksum list in sha256sum format (HASH  path) to verify against instead "
              "of the published checksums.")
@CACHE_DIR
def fetch_cmd(name: str, url: str | None, sha256_file: str | None, cache_dir: str | None) -> None:
    """Download dataset NAME (mnist, fashion-mnist, cifar10) into the cache, sha256-verified.

    \b
    Examples:
      fftk data fetch cifar10
      fftk data fetch mnist --url file:///work/shared/data/mnist/ \\
          --sha256-file /work/shared/data/SHA256SUMS
    """
    from fftoolkit.data.fetch import fetch

    for path in fetch(name, url=url, sha256_file=sha256_file, cache_dir=cache_dir):
        click.echo(f"ok  {path}")


@data.command("info")
@click.argument("name_or_path")
@VAL_SPLIT
@CACHE_DIR
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info_cmd(name_or_path: str, val_split: float | int | None, cache_dir: str | None,
             as_json: bool) -> None:
    """Decode NAME_OR_PATH into the cache (once) and show its shape, classes and split sizes.

    NAME_OR_PATH is mnist, fashion-mnist, cifar10, a folder ROOT/<split>/<class>/*.png|jpg,
    a .tar.gz of one, a folder of IDX files or cifar-10-batches-py/.

    \b
    Examples:
      fftk data info mnist
      fftk data info ../shared/data/cifar10/cifar10-train-jpeg.tar.gz --val-split 0.1 --json
    """
    from fftoolkit.data.info import dataset_info

    info = dataset_info(name_or_path, val_split=val_split, cache_dir=cache_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    h, w, c = info["image_shape"]
    splits = {k: "none" if v is None else f"{v:,}" for k, v in info["splits"].items()}
    click.echo(f"name     {info['name']}  ({info['format']})")
    click.echo(f"source   {info['source']}")
    click.echo(f"images   {h}x{w}x{c} {info['dtype']}  (H x W x C)")
    click.echo(f"classes  {len(info['classes'])}: {', '.join(info['classes'])}")
    click.echo(f"train    {splits['train']}")
    click.echo(f"val      {splits['val']}  ({info['val_from']})")
    click.echo(f"test     {splits['test']}")
    click.echo(f"cache    {info['cache']}")


