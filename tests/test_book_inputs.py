"""scripts/book_inputs.py: the cache of executed notebooks survives only unchanged inputs.

``make book`` reuses a notebook's executed outputs when its code is unchanged (jupyter-cache);
this script must empty that cache whenever anything else the outputs depend on changed.
"""
import importlib.util

import pytest

from conftest import REPO_ROOT

_spec = importlib.util.spec_from_file_location("book_inputs", REPO_ROOT / "scripts" / "book_inputs.py")
book_inputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_inputs)


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "inpaintlib" / "__pycache__").mkdir(parents=True)
    (tmp_path / "inpaintlib" / "layers.py").write_text("WIDTH = 64\n")
    (tmp_path / "inpaintlib" / "__pycache__" / "layers.cpython-312.pyc").write_bytes(b"\0")
    (tmp_path / "data" / "checkpoints").mkdir(parents=True)
    (tmp_path / "data" / "checkpoints" / "model.pt").write_bytes(b"weights")
    (tmp_path / "requirements.txt").write_text("torch==2.5.1\n")
    return tmp_path


def key(root, profile="book"):
    return book_inputs.inputs_key(root, {"INPAINT_PROFILE": profile, "HOME": "/elsewhere"})


@pytest.mark.parametrize("change", [
    lambda r: (r / "inpaintlib" / "layers.py").write_text("WIDTH = 32\n"),
    lambda r: (r / "data" / "checkpoints" / "model.pt").write_bytes(b"retrained"),
    lambda r: (r / "data" / "new_photo.png").write_bytes(b"png"),
    lambda r: (r / "requirements.txt").write_text("torch==2.6.0\n"),
])
def test_any_change_of_library_data_or_requirements_changes_the_key(tree, change):
    before = key(tree)
    change(tree)
    assert key(tree) != before


def test_the_profile_changes_the_key_but_bytecode_and_other_variables_do_not(tree):
    before = key(tree)
    assert key(tree, profile="smoke") != before
    (tree / "inpaintlib" / "__pycache__" / "layers.cpython-312.pyc").write_bytes(b"\1")
    assert book_inputs.inputs_key(tree, {"INPAINT_PROFILE": "book", "HOME": "/x"}) == before


def test_the_cache_is_kept_for_the_same_key_and_emptied_for_another(tmp_path):
    cache = tmp_path / ".jupyter_cache"
    assert book_inputs.sync(cache, "a") is False  # first build
    (cache / "executed.ipynb").write_text("{}")
    assert book_inputs.sync(cache, "a") is True
    assert (cache / "executed.ipynb").is_file()
    assert book_inputs.sync(cache, "b") is False
    assert not (cache / "executed.ipynb").exists()
    assert (cache / book_inputs.KEY_FILE).read_text().strip() == "b"


def test_the_repository_inputs_cover_the_library_and_the_checkpoints():
    names = {p.relative_to(REPO_ROOT).as_posix() for p in book_inputs.input_files()}
    assert "inpaintlib/api.py" in names and "data/checkpoints/glcic.pt" in names
    assert "requirements.txt" in names
    assert not any("__pycache__" in n for n in names)
