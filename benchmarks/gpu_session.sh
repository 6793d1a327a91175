#!/usr/bin/env bash
# One GPU session, run through the device tool: the fidelity runs of the heterophily and
# gnn-longrange suites and the resident-batching benchmark, all bounded by BUDGET seconds.
# Finished jobs are records whatever happens to the rest; everything is packed into one file,
# $OUT/session.tgz (the device tool brings back only a few files per command).
#   carry: .whl (from ../shared/tools/gpu-wheels.sh) and .gpudata, a git-ignored copy of the raw
#   files used (heterophilous/{minesweeper,tolokers}, lrgb/peptides-functional from the data dir)
#   DEVICE=cpu SETUP=0 BUDGET=60 bash benchmarks/gpu_session.sh   # dry run on a CPU machine
set -u
PACK=${OUT:-/tmp}
OUT=/tmp/bench-session
BUDGET=${BUDGET:-460}
DEVICE=${DEVICE:-cuda}
HET_WORKERS=${HET_WORKERS:-4}
EXTRA_HET=${EXTRA_HET:-}
EXTRA_LR=${EXTRA_LR:-}
start=$(date +%s)
mkdir -p "$OUT/logs" "$OUT/results"
stamp() { echo "$(( $(date +%s) - start ))s $*" >> "$OUT/timeline.txt"; }
left() { echo $(( BUDGET - ($(date +%s) - start) )); }

if [ "${SETUP:-1}" = 1 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
  python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . > "$OUT/logs/install.log" 2>&1 \
    || { stamp "editable install failed"; cat "$OUT/logs/install.log"; exit 1; }
fi
BENCH=${BENCH:-bench}
PY=${PY:-python3}
export BENCH_DATA_DIR=$PWD/.gpudata BENCH_CACHE_DIR=${BENCH_CACHE_DIR:-/tmp/bench-cache} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/machine.txt" 2>&1
"$PY" -c "import torch, torch_geometric, platform; print('torch', torch.__version__, 'pyg', torch_geometric.__version__, 'python', platform.python_version(), 'cuda', torch.cuda.is_available())" >> "$OUT/machine.txt" 2>&1
nproc >> "$OUT/machine.txt"; date -u >> "$OUT/machine.txt"
stamp "setup done"

run() {  # run LOG ARGS...: a bench run bounded by the time left
  local log=$1; shift
  [ "$(left)" -gt 10 ] || { stamp "$log skipped: out of time"; return; }
  timeout --signal=KILL "$(left)" "$BENCH" run --results "$OUT/results" --no-progress --no-leaderboard \
    --device "$DEVICE" "$@" >> "$OUT/logs/$log.out" 2>> "$OUT/logs/$log.err"
  stamp "$log exit $?"
}

# heterophily fidelity: GCN, SAGE, GAT-sep on minesweeper and tolokers, 10 splits, 1000 steps,
# one layer count at a time so that whole grid points finish first.
for w in $(seq "$HET_WORKERS"); do
  ( for layers in 2 3 1; do
      run "heterophily-$w" --suite heterophily --model GCN --model SAGE --model GAT-sep \
        --dataset minesweeper --dataset tolokers "grid.num_layers=[$layers]" $EXTRA_HET
    done ) &
done
# gnn-longrange fidelity: GCN (Tönshoff configuration) on Peptides-func, 2 seeds in parallel,
# after building the processed Peptides-func cache once.
timeout 200 "$PY" -c "
import torch; from bench_gnn.plugin_manager import load_plugins; from bench_gnn.runner import RunOptions, load_dataset
from bench_gnn.data.context import default_cache_dir, default_data_dir
load_dataset(load_plugins(), 'peptides-func', RunOptions(torch.device('cpu'), default_data_dir(), default_cache_dir()))
" > "$OUT/logs/peptides-cache.log" 2>&1
stamp "peptides cache exit $?"
for w in 1 2; do
  run "peptides-$w" --suite gnn-longrange --model LRGB-GCN --dataset peptides-func --seeds 2 $EXTRA_LR &
done
# Resident batching against PyG's DataLoader, same model, side by side.
( timeout --signal=KILL 150 "$PY" benchmarks/resident_batching.py --device "$DEVICE" --epochs 3 \
    > "$OUT/resident_batching.md" 2> "$OUT/logs/resident.err"; stamp "resident benchmark exit $?" ) &
wait
stamp "all done"
tar czf "$PACK/session.tgz" -C "$OUT" .
