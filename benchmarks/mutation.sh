#!/usr/bin/env bash
# Mutation testing (mutmut 3) of the core pipeline: harness/{suite,jobs,store,runner,leaderboard}.py.
#
# mutmut 3 copies the code into ./mutants/ and derives module names from file paths (a leading src/ stripped);
# our package-dir mapping (harness/ -> bench_gnn) defeats that in place, so this script works in a scratch copy
# laid out as src/bench_gnn (= harness/), src/bench_gnn/plugins, src/bench_gnn/datasets. The venv's editable
# finder sits at the end of sys.meta_path, so the mutated copy that mutmut puts first on sys.path wins (checked
# below). Only fast in-process tests run: tests marked slow, and tests that start `python -m bench_gnn.cli` or
# other Python subprocesses (those would import the unmutated package) are deselected.
#
# usage: benchmarks/mutation.sh [SCRATCH_DIR] [mutmut run args, e.g. "bench_gnn.suite.x_load_suite*"]
# env:   MUT_CHILDREN (default 1), BENCH_DATA_DIR (default <repo>/../shared/datasets),
#        MUT_SAMPLE=N: test one mutant in N, chosen by the SHA-256 of its name (the same sample on every run;
#        all of them take about 10 h of one core, a sixth fits in an afternoon of two)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-/tmp/mut}; shift || true
children=${MUT_CHILDREN:-1}
export BENCH_DATA_DIR=$(cd "${BENCH_DATA_DIR:-$repo/../shared/datasets}" && pwd)
command -v mutmut > /dev/null || . "$repo/.venv/bin/activate"  # the venv of tox -e mutation, else .venv

if [ ! -d "$scratch/src/bench_gnn" ]; then
    mkdir -p "$scratch"
    (cd "$repo" && git ls-files --cached --others --exclude-standard | grep -v '^\.venv/' | tar -cf - -T - | tar -xf - -C "$scratch")
    cd "$scratch"
    mkdir src
    mv harness src/bench_gnn
    mv plugins src/bench_gnn/plugins
    mv datasets src/bench_gnn/datasets
    # the records' provenance names the checkout's commit, and a test checks it: make the copy a git checkout
    printf 'mutants/\n' > .git-info-exclude
    git init -q && mv .git-info-exclude .git/info/exclude && git add -A \
        && git -c user.name=mutation -c user.email=mutation@localhost commit -qm "mutation scratch copy"
    # deselect slow tests and the tests that need a separate Python process (they cannot see the mutants)
    cat > mutmut_select.py <<'PY'
import inspect

import pytest


# modules whose fixtures build from the checkout in subprocesses (a wheel, a nested pytest collection)
LAYOUT_MODULES = {"test_wheel.py", "test_slow_marker.py"}
# tests that read the core's source text (the mutated copy's trampolines), not its behaviour
SOURCE_READERS = {"test_the_core_names_no_protocol_and_no_analysis_column",
                  "test_the_core_names_no_built_in_model_dataset_or_suite"}


def _starts_processes(function, module, depth=0):
    """The function, or a helper of its module that it calls (two levels down), starts a Python process."""
    try:
        src = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    if "subprocess" in src or "sys.executable" in src:
        return True
    if depth == 2:
        return False
    code = getattr(function, "__code__", None)
    helpers = [getattr(module, name, None) for name in (code.co_names if code else ())]
    return any(inspect.isfunction(h) and h.__module__ == module.__name__ and _starts_processes(h, module, depth + 1)
               for h in helpers)


def _needs_subprocess(item):
    if "bench_cli" in getattr(item, "fixturenames", ()) or item.path.name in LAYOUT_MODULES:
        return True
    if getattr(item, "originalname", item.name) in SOURCE_READERS:
        return True
    function = getattr(item, "function", None)
    return function is not None and _starts_processes(function, item.module)


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("slow") or _needs_subprocess(item) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(autouse=True)
def _mutmut_check_import_path():
    import bench_gnn
    assert "/mutants/" in bench_gnn.__file__, bench_gnn.__file__
PY
fi
cd "$scratch"
# tests read repository files by path (plugins/suites/*.yaml, datasets/*.yaml, harness/schemas): point those
# paths, inside mutants/ where the tests run, at the copied package
mkdir -p mutants
for pair in plugins:src/bench_gnn/plugins datasets:src/bench_gnn/datasets; do
    [ -e "mutants/${pair%%:*}" ] || ln -s "${pair#*:}" "mutants/${pair%%:*}"
done
# harness/ is the package without its plugins/ and datasets/ (as in the repository)
if [ ! -e mutants/harness ]; then
    mkdir mutants/harness
    for e in src/bench_gnn/*; do
        case ${e##*/} in plugins|datasets) ;; *) ln -s "../src/bench_gnn/${e##*/}" "mutants/harness/${e##*/}" ;; esac
    done
fi
# environment.git_state() looks for pyproject.toml and harness/ next to the package's folder (mutants/src/)
mkdir -p mutants/src
for f in pyproject.toml harness; do
    [ -e "mutants/src/$f" ] || ln -s "../$f" "mutants/src/$f"
done
for f in leaderboards benchmarks README.md LICENSE tox.ini .github .ci; do
    [ -e "mutants/$f" ] || ln -s "../$f" "mutants/$f"
done
if [ -n "${MUT_SAMPLE:-}" ] && [ $# -eq 0 ]; then
    # mutants are generated by the first `mutmut run`; a name that matches none generates them and runs nothing
    ls mutants/src/bench_gnn/*.py.meta > /dev/null 2>&1 || nice -n 15 mutmut run "bench_gnn.no_such_mutant" || true
    mutmut results --all true | sed -n 's/^ *\([^ :]*\): .*/\1/p' | python3 -c "
import hashlib, sys
names = [n for n in sys.stdin.read().split() if int(hashlib.sha256(n.encode()).hexdigest(), 16) % $MUT_SAMPLE == 0]
print('\n'.join(names))" > sample.txt
    echo "mutation.sh: a sample of $(wc -l < sample.txt) mutants, one in $MUT_SAMPLE" >&2
    set -- $(cat sample.txt)
fi
nice -n 15 mutmut run --max-children "$children" "$@"
mutmut results --all true > mutmut-results.txt || true
