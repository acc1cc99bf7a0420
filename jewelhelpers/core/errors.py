"""The one exception type a user can cause.

Taught in: every notebook (errors say what to do).
"""


class JewelError(Exception):
    """A problem with the user's input or environment, with a message that says what to do.

    The CLI prints it as one line on stderr and exits with status 2.
    """
