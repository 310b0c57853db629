"""The README leads with the comparison's headline table, and the demo follows its order (Chapter 11)."""
import subprocess
import sys
from pathlib import Path

from inpaintlib.evaluation.comparison import comparison_order
from inpaintlib.registry import WRAPPED

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_headline_table_is_current():
    done = subprocess.run([sys.executable, "scripts/headline_table.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


def test_the_readme_shows_the_table_before_the_quick_start():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("<!-- headline table") < readme.index("## Quick start")
    table = readme.split("<!-- headline table", 1)[1].split("<!-- end of the headline table", 1)[0]
    assert table.count("\n| ") == len(comparison_order()) + 1  # header + one row per method


def test_the_demo_shows_its_models_in_the_comparisons_order():
    from inpaintlib.demo.runner import ModelBench

    demo = [WRAPPED[n][0] if n in WRAPPED else n for n in ModelBench(loader=lambda name: None).names]
    assert demo == comparison_order()
