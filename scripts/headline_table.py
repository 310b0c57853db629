"""Write the comparison's headline table into README.md (between its two marker lines).

The table is Chapter 11's headline (``inpaintlib.evaluation.comparison.headline_frame``): PSNR of
every classical fill and every shipped model on every bucket of the whole test set, read from the
shipped numbers (``data/test_results.json``), with each checkpoint's training budget. The book's
introduction pastes the same table from the executed chapter; the README, which GitHub shows as it
is, carries it as Markdown. ``tests/test_readme_headline.py`` fails when the two disagree:

    python scripts/headline_table.py          # rewrite the README's table
    python scripts/headline_table.py --check  # exit 1 if it is stale
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from inpaintlib.evaluation.baselines import BASELINES  # noqa: E402
from inpaintlib.evaluation.comparison import comparison_order, headline_frame, row_label  # noqa: E402
from inpaintlib.evaluation.fixed_test_set import evaluate_model  # noqa: E402
from inpaintlib.registry import load_pretrained  # noqa: E402

START = "<!-- headline table: written by scripts/headline_table.py -->"
END = "<!-- end of the headline table -->"


def headline_markdown() -> str:
    """The table as Chapter 11 computes it: baselines, then every shipped model in chapter order."""
    models = {n: load_pretrained(n) for n in comparison_order()}
    label = {n: row_label(n, m) for n, m in models.items()}
    rows = {label[n]: evaluate_model(m, progress=False) for n, m in models.items()}
    metas = {label[n]: m.checkpoint_meta for n, m in models.items() if n not in BASELINES}
    return headline_frame(rows, metas).to_markdown()


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``."""
    if START not in readme or END not in readme:
        raise SystemExit(f"error: README.md lacks the marker lines {START!r} and {END!r}")
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's table is stale")
    args = parser.parse_args()
    path = ROOT / "README.md"
    readme = path.read_text()
    new = with_table(readme, headline_markdown())
    if args.check:
        if new != readme:
            print("README.md's headline table is stale: run python scripts/headline_table.py")
            return 1
        return 0
    path.write_text(new)
    print("README.md: headline table written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
