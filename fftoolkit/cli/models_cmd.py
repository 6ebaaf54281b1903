"""`fftk models`: the zoo with its parameter counts."""

from __future__ import annotations

import json

import click


@click.command(epilog="""\b
Examples:
  fftk models
  fftk models --json
""")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def models(as_json: bool) -> None:
    """List every model in the zoo.

    \b
    params           the paper's Table III count: blocks + one-pass head (2F norm +
                     Linear(F, 10)) + a 10x(32x32) label embedding used only by the
                     label-conditioned variant.
    params_deployed  what the network fftk trains and exports holds (no label embedding).
    """
    from fftoolkit.models import deployed_params, list_models, load_spec, macs_per_image
    from fftoolkit.models.counts import table3_params

    rows = []
    for name in list_models():
        spec = load_spec(name)
        rows.append({"name": name, "algorithm": spec.algorithm, "input": list(spec.input),
                     "params": table3_params(spec), "params_deployed": deployed_params(spec),
                     "macs": macs_per_image(spec)})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len("model"), *(len(r["name"]) for r in rows))
    click.echo(f"{'model':<{width}} {'algorithm':<9} {'input':<10} {'params':>11} "
               f"{'params_deployed':>16} {'MMACs':>8}")
    for r in rows:
        shape = "x".join(map(str, r["input"]))
        click.echo(f"{r['name']:<{width}} {r['algorithm']:<9} {shape:<10} {r['params']:>11,} "
                   f"{r['params_deployed']:>16,} {r['macs'] / 1e6:>8.2f}")
    click.echo("\nparams: paper Table III construction (includes a 10,240-parameter label "
               "embedding for the improved models);\nparams_deployed: the exported network. "
               "See `fftk models --help`.")
