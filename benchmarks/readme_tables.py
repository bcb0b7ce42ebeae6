"""Copy bench_results/<name>.md into README.md between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->`.

    make bench-report            # tables from finished runs, then this
"""

from __future__ import annotations

import re

from benchmarks.common import ROOT


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for path in sorted((ROOT / "bench_results").glob("*.md")):
        name = path.stem
        pattern = re.compile(rf"(<!-- bench:{name} -->\n)(?:.*?\n)?(<!-- /bench:{name} -->)", re.S)
        if not pattern.search(text):
            continue
        body = path.read_text().strip()
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    readme.write_text(text)


if __name__ == "__main__":
    main()
