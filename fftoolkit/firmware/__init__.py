"""Edge boards: render `firmware_templates/<board>/` into a deploy directory, deploy it over SSH.

Imports only the runtime (its manifest schema; the runner for `deploy --verify`'s host side),
numpy and the standard library, so it works wherever the device side does.
"""
