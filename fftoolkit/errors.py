"""The one exception type for mistakes a user can make (bad file, bad option, missing package).

Library code raises `FFTKError`; only the CLI edge turns it into a one-line message and exit 2.
"""


class FFTKError(Exception):
    """A user-facing error: the message alone must tell the user what is wrong and what to do."""
