"""robots.txt as urllib's parser can read it, and the pacing it asks for.

urllib.robotparser reads `Crawl-delay` only as a whole number (`0.5` is ignored) and passes any
value str.isdigit() accepts to int() (`²` crashes it, and with it the source); a site may also
ask for a day between requests. These lines make what it reads safe and bounded.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

# The longest wait between two requests to one host that a robots.txt can ask for and get; a
# larger Crawl-delay (a day, by mistake or malice) would stall the source for the whole night.
MAX_CRAWL_DELAY = 60.0
_ROBOTS_DIRECTIVE = re.compile(r"^\s*(crawl-delay|request-rate)\s*:\s*([^#]*)", re.I)


def robots_lines(text: str) -> Iterator[str]:
    """robots.txt lines for urllib's parser, with the two directives it would crash on or ignore
    made readable: a Crawl-delay in seconds with a fraction (`0.5`, which it ignores) is rounded
    up, and a value that is no ASCII number (`²`, which it passes to int()) is dropped."""
    for line in text.splitlines():
        match = _ROBOTS_DIRECTIVE.match(line)
        if match:
            name, value = match.group(1).lower(), match.group(2).strip()
            if name == "request-rate":
                if not re.fullmatch(r"[0-9]+\s*/\s*[0-9]+", value):
                    continue
            else:
                try:
                    seconds = float(value) if value.isascii() else math.nan
                except ValueError:
                    continue
                if not 0 <= seconds < math.inf:
                    continue
                line = f"Crawl-delay: {math.ceil(seconds)}"
        yield line
