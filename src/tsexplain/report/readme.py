"""Put generated Markdown into a README between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`: the README's
benchmark tables are the comparison report's (`python -m tsexplain.report <folder> --readme README.md --marker
<name>`, which `make bench-*` runs). Everything outside the block is left byte for byte as it was."""

from __future__ import annotations

import os
import re
from pathlib import Path


def _pattern(marker: str) -> re.Pattern:
    name = re.escape(marker)
    return re.compile(rf"(<!-- bench:{name} -->\n)(.*?)(<!-- /bench:{name} -->)", re.S)


def check_marker(text: str, marker: str) -> str | None:
    """Why `marker`'s block cannot be replaced in `text` (None when it can): it must be a name of letters, digits,
    `_`, `-` and appear exactly once as an opening line followed by its closing comment."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", marker):
        return f"marker {marker!r} is not a name of letters, digits, '_' or '-'"
    opening, closing = f"<!-- bench:{marker} -->", f"<!-- /bench:{marker} -->"
    if text.count(opening) != 1 or text.count(closing) != 1:
        return (f"needs exactly one `{opening}` line and one `{closing}` after it "
                f"(found {text.count(opening)} and {text.count(closing)})")
    if not _pattern(marker).search(text):
        return f"`{opening}` must end its line and come before `{closing}`"
    return None


def replace_block(text: str, marker: str, body: str) -> str:
    """`text` with the lines between `marker`'s opening and closing comments replaced by `body`."""
    why = check_marker(text, marker)
    if why is not None:
        raise ValueError(why)
    body = body.strip("\n")
    return _pattern(marker).sub(lambda m: m.group(1) + (body + "\n" if body else "") + m.group(3), text, count=1)


def update_readme(path: Path, marker: str, body: str) -> bool:
    """Replace `marker`'s block of the file at `path` by `body` (written whole, then renamed into place);
    True when the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    new = replace_block(text, marker, body)
    if new == text:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
    return True
