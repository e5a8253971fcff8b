"""What a page must contain: a pattern that does not match fails the test, naming the pattern."""

import re


def found(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """The first match of `pattern` in `text`; there must be one."""
    match = re.search(pattern, text, flags)
    assert match is not None, f"{pattern!r} not found"
    return match
