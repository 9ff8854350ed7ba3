"""The database error every caller catches (probe and server). Its own module so that callers which
only need the exception (the probe's CLI) do not import SQLAlchemy with it."""


class DatabaseError(Exception):
    """A database problem stated in one line, with the URL's password masked."""
