"""README "Set up and run": `.ci/run` fails loudly, before building anything, when ../shared/datasets is missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_run_fails_loudly_without_shared_datasets(tmp_path):
    script = REPO / ".ci" / "run"
    text = script.read_text()
    # the check comes before the first venv / pip: nothing is built when the data is missing
    assert text.index("../shared/datasets ]") < text.index("python3 -m venv") < text.index("pip_install -e")
    (tmp_path / "repo" / ".ci").mkdir(parents=True)
    shutil.copy(script, tmp_path / "repo" / ".ci" / "run")
    result = subprocess.run(["bash", str(tmp_path / "repo" / ".ci" / "run")], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert result.returncode == 1
    assert "../shared/datasets" in result.stderr and "BENCH_DATA_DIR" in result.stderr
    assert "==" not in result.stdout  # no build step started
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [".ci"]
