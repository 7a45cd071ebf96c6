#!/usr/bin/env bash
# The GPU speed measurement of issue 14 as one prepared, time-boxed script: the interleaved epoch
# table, trials per hour at N = 1, 2, 4, 8 concurrent trials, and the projected Table 2, each stage
# in its own process and writing its table (CSV + Markdown) to $OUT as soon as it finishes, so a
# stage that runs out of time loses only itself.
#
#   OUT=/tmp/perf DEVICE=cuda bash benchmark/gpu_measure.sh          # on the GPU box (~5 min)
#   OUT=/tmp/perf DEVICE=cpu SHAPE=200,120,3000,16 LIMIT=60 bash benchmark/gpu_measure.sh   # rehearsal
#
# Settings (environment): PY (python), DEVICE (cuda), OUT (perf-out), EPOCH_LIMIT, CONCURRENT_LIMIT,
# PROJECT_LIMIT (seconds each stage measures for: 50, 110, 80; each process is killed 30 s after its
# limit, so the whole script stays under 5 minutes), LIMIT (all three at once), SHAPE (synthetic users,items,interactions,dim instead of the paper's Table 1 shapes),
# DATASET (amazon: used when prepared, else its synthetic stand-in), WHEELS (a folder of wheels,
# RecBole and the pure-Python packages it lacks, installed with --no-deps when RecBole is missing).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-perf-out}
EPOCH_LIMIT=${EPOCH_LIMIT:-${LIMIT:-50}}
CONCURRENT_LIMIT=${CONCURRENT_LIMIT:-${LIMIT:-110}}
PROJECT_LIMIT=${PROJECT_LIMIT:-${LIMIT:-80}}
SHAPE=${SHAPE:-}
DATASET=${DATASET:-amazon}
mkdir -p "$OUT"
log() { echo "[gpu_measure $(date -u +%H:%M:%S)] $*" | tee -a "$OUT/gpu_measure.log"; }

if ! "$PY" -c "import recbole" 2>/dev/null; then
  if [ -n "${WHEELS:-}" ]; then
    log "installing $(ls "$WHEELS"/*.whl | wc -l) wheel(s) from $WHEELS (--no-deps)"
    "$PY" -m pip install --quiet --no-deps --no-index "$WHEELS"/*.whl >>"$OUT/gpu_measure.log" 2>&1
  else
    log "RecBole is not importable and WHEELS is not set: the stages below will fail"
  fi
fi
{ "$PY" -c "import torch, platform; print('python', platform.python_version(), 'torch', torch.__version__,
'cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))"; command -v nvidia-smi >/dev/null && nvidia-smi; } \
  >"$OUT/device.txt" 2>&1
log "device: $(head -1 "$OUT/device.txt")"

common=(--device "$DEVICE" --dataset "$DATASET" --out "$OUT")
[ -n "$SHAPE" ] && common+=(--shape "$SHAPE")
stage() {  # stage NAME LIMIT ARGS...: one perf process, killed 30 s after its limit (setup included)
  local name=$1 limit=$2; shift 2
  log "stage $name: python -m benchmark.perf ${common[*]} --time-limit $limit $*"
  timeout --signal=TERM --kill-after=5 $((limit + 30)) "$PY" -m benchmark.perf "${common[@]}" \
    --time-limit "$limit" "$@" >"$OUT/$name.log" 2>&1
  log "stage $name: exit $? ($(ls "$OUT" | grep -c "perf_$name") table file(s))"
}
stage epoch "$EPOCH_LIMIT" --repeats 3
stage concurrent "$CONCURRENT_LIMIT" --skip-epoch-table --concurrent 1,2,4,8 --trial-epochs 5
stage project "$PROJECT_LIMIT" --skip-epoch-table --project table2 --repeats 2
log "done: $(ls "$OUT"/perf_*.md 2>/dev/null | tr '\n' ' ')"
