"""Edge boards: render `firmware_templates/<board>/` into a deploy directory, deploy it over SSH.

Imports only the runtime's manifest schema and the standard library, so it works wherever the
device side does.
"""
