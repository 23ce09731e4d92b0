"""Summarise `mutmut results --all true` per module: generated, killed, survived, no tests.

Usage: ``.venv/bin/python bench/mutation_summary.py bench/results/mutants.txt`` (``make mutate``
writes that file). A survivor is a change to the code no test notices: kill it with a test,
or explain in a line why it cannot matter (docs/mutation.md).
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict

LINE = re.compile(r"^\s*(?P<name>[\w.]+)__mutmut_\d+:\s*(?P<status>[\w ]+?)\s*$")


def summarise(text: str) -> tuple[dict, list[str]]:
    per_module: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        module = match["name"].rsplit(".", 1)[0]
        status = match["status"].strip()
        per_module[module][status] += 1
        if status == "survived":
            survivors.append(line.strip())
    return per_module, survivors


def main() -> None:
    per_module, survivors = summarise(open(sys.argv[1]).read())
    print("| module | mutants | killed | survived | no tests | other |\n|---|---|---|---|---|---|")
    total = Counter()
    for module, counts in sorted(per_module.items()):
        total.update(counts)
        other = sum(n for s, n in counts.items() if s not in ("killed", "survived", "no tests"))
        print(f"| {module} | {sum(counts.values())} | {counts['killed']} | {counts['survived']} "
              f"| {counts['no tests']} | {other} |")
    other = sum(n for s, n in total.items() if s not in ("killed", "survived", "no tests"))
    print(f"| all | {sum(total.values())} | {total['killed']} | {total['survived']} "
          f"| {total['no tests']} | {other} |")
    print(f"\n{len(survivors)} survivors (`mutmut show <name>` shows one)")


if __name__ == "__main__":
    main()
