"""The CLI's own error: bad input from the user, printed as one line, exit code 2.

Its own module, so command modules need not import the package that imports them.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""
