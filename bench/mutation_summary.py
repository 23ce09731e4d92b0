"""Summarise `mutmut results --all true` per module: generated, killed, survived, no tests.

Usage: ``.venv/bin/python bench/mutation_summary.py bench/results/mutants.txt [MODULE]``
(``make mutate`` writes that file; with MODULE, only that module's mutants are counted). A survivor is a change to the code no test notices: kill it with a test,
or explain in a line why it cannot matter in ``docs/mutation.md`` (a line naming the mutants
in backquotes, then the reason). The survivors no line explains are listed, and the exit
status is 1 when there is any, so ``make mutate`` fails until each is killed or explained.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

EXPLAINED = Path(__file__).resolve().parents[1] / "docs" / "mutation.md"
LINE = re.compile(r"^\s*(?P<name>[\w.]+)__mutmut_\d+:\s*(?P<status>[\w ]+?)\s*$")


def summarise(text: str, only: str | None = None) -> tuple[dict, list[str]]:
    """Counts per module and status, and the survivors' lines (of module ``only`` when given)."""
    per_module: dict[str, Counter] = defaultdict(Counter)
    survivors = []
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        module = match["name"].rsplit(".", 1)[0]
        if only and module != only:
            continue
        status = match["status"].strip()
        per_module[module][status] += 1
        if status == "survived":
            survivors.append(line.strip())
    return per_module, survivors


def explained(text: str) -> set[str]:
    """Mutant names (``module.x_function__mutmut_N``) named in backquotes in the explanations."""
    return set(re.findall(r"`([\w.]+__mutmut_\d+)`", text))


def main() -> int:
    per_module, survivors = summarise(open(sys.argv[1]).read(), (sys.argv[2:] or [None])[0])
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
    known = explained(EXPLAINED.read_text()) if EXPLAINED.exists() else set()
    names = [line.split(":")[0] for line in survivors]
    unexplained = [name for name in names if name not in known]
    print(f"\n{len(survivors)} survivors, {len(names) - len(unexplained)} explained in "
          f"{EXPLAINED.relative_to(EXPLAINED.parents[1])} (`mutmut show <name>` shows one)")
    for name in unexplained:
        print(f"unexplained: {name}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
