#!/usr/bin/env bash
# The GPU measurement as one prepared, time-boxed script. Each stage runs in its own processes,
# is killed at its time box, and writes its tables as soon as it finishes, so a stage that runs out
# of time loses only itself. Everything lands in $OUT: summary.md (every table and the log,
# readable at once), bundle.tgz (the tables as CSV, the logs, the results stores) and the tables as a
# dated measurement under this machine's header (perf-cuda.md and perf-cuda/<date>-<commit>.md, for
# docs/measurements/).
#
#   OUT=/tmp/gpu WHEELS=.whl AMAZON_SOURCE=.gpu/amazon bash benchmark/gpu_measure.sh      # GPU box, ~5 min
#   OUT=/tmp/gpu DEVICE=cpu DATASET=tiny GRID_DATASET=tiny LIMIT=20 bash benchmark/gpu_measure.sh  # rehearsal
#
# The defaults keep the whole script near 5 minutes (each perf stage gets ~30 s of set-up beyond its
# box); the recorded runs (docs/measurements/perf-cuda*) gave the stages longer boxes, named in
# their commands. Stages (time box in seconds, environment name):
#   prepare     amazon (no text) and amazon-standin (random 1536-d text vectors) from $AMAZON_SOURCE,
#               an RLMRec-format folder (trn_mat.pkl, val_mat.pkl, tst_mat.pkl)
#   epoch       benchmark.perf's interleaved Mult-VAE / DMRec table with host-sync counts (EPOCH_LIMIT, 30)
#   grids       two grids at once into a private results root (a copy of RESUME, when set, so what
#               finished there is not run again): the `fidelity` grid by WORKERS runners
#               sharing one store (the claims hand each trial to one of them), and the Table 2 slice
#               (Mult-VAE, L-DiffRec, CVGA; base and DMRec-M; seed 0; amazon-standin) as SHARDS
#               `--shard i/SHARDS` runs, none with SHARDS=0 (GRIDS_LIMIT, 110)
#   concurrent  trials per hour at N = 1, 2, 4, 8 processes on the device (CONCURRENT_LIMIT, 30)
#   project     the projected wall time of Table 2's 360 trials on this device (PROJECT_LIMIT, 30)
# Other settings: STAGES (which timed stages run: "epoch grids concurrent project"), PY (python3), DEVICE (cuda), DATASET (amazon-standin: the perf stages' data),
# GRID_DATASET (amazon: where the grids run; `tiny` for a rehearsal), LIMIT (every time box at once),
# SHAPE (users,items,interactions,dim: synthetic data of this shape for the perf stages, instead of
# the paper's Table 1 shapes), PROJECT_RESULTS (the results root whose table2 runs give the epochs),
# WHEELS (RecBole and the pure-Python packages it needs, installed with --no-deps when RecBole is
# missing), DMREC_COMMIT (the commit this copy of the tree is, recorded in every trial record).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-gpu-out}
DATASET=${DATASET:-amazon-standin}
GRID_DATASET=${GRID_DATASET:-amazon}
EPOCH_LIMIT=${EPOCH_LIMIT:-${LIMIT:-30}}
GRIDS_LIMIT=${GRIDS_LIMIT:-${LIMIT:-110}}
CONCURRENT_LIMIT=${CONCURRENT_LIMIT:-${LIMIT:-30}}
PROJECT_LIMIT=${PROJECT_LIMIT:-${LIMIT:-30}}
STAGES=${STAGES:-epoch grids concurrent project}  # which of the timed stages run, in this order
WORKERS=${WORKERS:-12}
SHARDS=${SHARDS:-3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-measure.XXXXXX")
mkdir -p "$WORK/tables" "$WORK/logs" "$WORK/results"
# RESUME: a results root whose stores the grids resume (trials finished there are not run again)
[ -n "${RESUME:-}" ] && cp -r "$RESUME"/. "$WORK/results/"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 DMREC_RESULTS="$WORK/results"
START=$(date +%s)
want() { [[ " $STAGES " == *" $1 "* ]]; }
log() { echo "[gpu_measure +$(($(date +%s) - START))s] $*" | tee -a "$WORK/logs/gpu_measure.log"; }

bundle() {  # the two files that come back, whatever happened before
  {
    echo "# GPU measurement, $(date -u +%Y-%m-%dT%H:%MZ), commit ${DMREC_COMMIT:-unknown}"
    echo; echo '```'; cat "$WORK/logs/device.txt" 2>/dev/null; echo '```'
    for table in "$WORK"/tables/{perf_epoch,grids,perf_concurrent,perf_project}.md; do
      [ -f "$table" ] && { echo; cat "$table"; }
    done
    echo; echo '## Log'; echo '```'; cat "$WORK/logs/gpu_measure.log"; echo '```'
  } >"$OUT/summary.md"
  # the tables as a dated measurement under this machine's header (docs/measurements/ takes both files)
  for table in "$WORK"/tables/{perf_epoch,grids,perf_concurrent,perf_project}.md; do
    [ -f "$table" ] && { cat "$table"; echo; }
  done >"$WORK/tables/all.md"
  "$PY" -m benchmark.measurements record perf-cuda --from "$WORK/tables/all.md" --root "$OUT" \
    --command "bash benchmark/gpu_measure.sh" >>"$WORK/logs/gpu_measure.log" 2>&1
  tar -czf "$OUT/bundle.tgz" -C "$WORK" tables logs results 2>/dev/null
}
trap bundle EXIT

if ! "$PY" -c "import recbole" 2>/dev/null; then
  if [ -n "${WHEELS:-}" ]; then
    log "installing $(ls "$WHEELS"/*.whl | wc -l) wheel(s) from $WHEELS into $WORK/site (--no-deps)"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" \
      "$WHEELS"/*.whl >>"$WORK/logs/gpu_measure.log" 2>&1
    export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
  else
    log "RecBole is not importable and WHEELS is not set: the stages below will fail"
  fi
fi
{ "$PY" -c "import torch, numpy, pandas, scipy, recbole, platform
print('python', platform.python_version(), 'torch', torch.__version__, 'numpy', numpy.__version__,
      'pandas', pandas.__version__, 'scipy', scipy.__version__, 'recbole', recbole.__version__)
print('cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  echo "cores: $(nproc --all)"; } >"$WORK/logs/device.txt" 2>&1
log "device: $(tr '\n' ' ' <"$WORK/logs/device.txt" | cut -c1-300)"

boxed() {  # boxed SECONDS LOGNAME COMMAND...: one process, killed at its time box
  local limit=$1 name=$2; shift 2
  timeout --signal=TERM --kill-after=5 "$limit" "$@" >>"$WORK/logs/$name.log" 2>&1
  local status=$?
  log "$name: exit $status"
  return $status
}

if [ -n "${AMAZON_SOURCE:-}" ]; then
  boxed 120 prepare "$PY" -m benchmark.data prepare amazon --source "$AMAZON_SOURCE"
  boxed 120 prepare "$PY" -m benchmark.data prepare amazon --source "$AMAZON_SOURCE" --name amazon-standin \
    --stand-in-vectors 1536
fi

perf() {  # perf NAME LIMIT ARGS...: one benchmark.perf process, 30 s beyond its limit for set-up
  local name=$1 limit=$2; shift 2
  [ -n "${SHAPE:-}" ] && set -- "$@" --shape "$SHAPE"
  log "stage $name: benchmark.perf --device $DEVICE --dataset $DATASET --time-limit $limit $*"
  boxed $((limit + 30)) "perf-$name" "$PY" -m benchmark.perf --device "$DEVICE" --dataset "$DATASET" \
    --out "$WORK/tables" --time-limit "$limit" "$@"
}
want epoch && perf epoch "$EPOCH_LIMIT" --repeats 3

if want grids; then

log "stage grids: fidelity by $WORKERS runners, table2 slice by $SHARDS shards, ${GRIDS_LIMIT}s"
grid_start=$(date +%s)
find "$WORK/results" -name record.json >"$WORK/logs/records-before.txt"
pids=()
for worker in $(seq 1 "$WORKERS"); do
  timeout --signal=INT --kill-after=10 "$GRIDS_LIMIT" "$PY" -m benchmark.run --grid fidelity --no-ray \
    --datasets "$GRID_DATASET" >"$WORK/logs/fidelity-$worker.log" 2>&1 &
  pids+=($!)
done
for index in $(seq 1 "$SHARDS"); do
  timeout --signal=INT --kill-after=10 "$GRIDS_LIMIT" "$PY" -m benchmark.run --grid table2 --no-ray \
    --datasets "${GRID_DATASET/#amazon/amazon-standin}" --models multvae,ldiffrec,cvga --matchers none,mddm \
    --seeds 1 --shard "$index/$SHARDS" >"$WORK/logs/table2-shard-$index.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
grid_seconds=$(($(date +%s) - grid_start))
"$PY" - "$WORK" "$grid_seconds" "$WORKERS" "$SHARDS" >"$WORK/tables/grids.md" 2>>"$WORK/logs/gpu_measure.log" <<'PYTABLE'
import json, sys
from pathlib import Path
work, seconds, workers, shards = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
before = set((work / "logs" / "records-before.txt").read_text().split())  # resumed, not run here
print(f"### Grids on one device: {seconds} s wall, fidelity by {workers} runners, table2 slice by {shards} shards\n")
print("| grid | model | matcher | dataset | seed | epochs | best epoch | train s | s/epoch | R@20 | N@20 |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
done = 0
for path in sorted((work / "results").glob("*/trials/*/record.json")):
    if str(path) in before:
        continue
    r = json.loads(path.read_text())
    if r.get("status") != "finished":
        continue
    done += 1
    c, t, m = r["config"], r.get("timings", {}), r["metrics"]["test"]
    print(f"| {r['grid']} | {c['model']} | {c.get('matcher') or '-'} | {c['dataset']} | {c['seed']} | "
          f"{r['epochs_run']} | {r['best_epoch']} | {t.get('train_s', 0):.1f} | {t.get('s_per_epoch', 0):.3f} | "
          f"{m['recall@20']:.4f} | {m['ndcg@20']:.4f} |")
print(f"\n- {done} trials finished in {seconds} s: {done * 3600 / max(seconds, 1):.0f} trials per hour")
PYTABLE
log "stage grids: $(tail -1 "$WORK/tables/grids.md")"
fi

want concurrent && perf concurrent "$CONCURRENT_LIMIT" --skip-epoch-table --concurrent 1,2,4,8 --trial-epochs 5
# the projection takes its epoch counts from the stored CPU runs of Table 2 (PROJECT_RESULTS: a results root)
want project && DMREC_RESULTS=${PROJECT_RESULTS:-$PWD/results} perf project "$PROJECT_LIMIT" --skip-epoch-table --project table2 --repeats 2
log "done in $(($(date +%s) - START)) s"
