#!/usr/bin/env bash
# The grouped measurement on a lent GPU, in under 5 minutes: trials per hour with trials in groups
# of K (K = 1, 5, 10) with 1 and 4 processes at once, then the projected Table 2 for each K. Each
# benchmark.perf run is time-boxed, and a stage writes its table as soon as it ends, so a run out of
# time loses only itself. What comes back in $OUT (4 files): summary.md (every table and the log),
# tables.tgz (the tables as CSV and Markdown, the logs) and the tables as a dated measurement,
# perf-cuda-groups.md and perf-cuda-groups/<date>-<commit>.md (for docs/measurements/; perf-cpu-groups
# on a CPU).
#
#   OUT=/tmp/groups WHEELS=.whl bash benchmark/perf/device_check.sh                           # a GPU
#   OUT=/tmp/groups DEVICE=cpu SHAPE=300,200,6000,32 LIMIT=40 bash benchmark/perf/device_check.sh  # rehearsal
#
# Settings: PY (python3), DEVICE (cuda), DATASET (amazon: a synthetic stand-in of its Table 1 shape
# unless prepared), GROUP (1,5,10), CONCURRENT (1,4), EPOCHS (5: each trial's fixed epochs), SHAPE
# (users,items,interactions,dim instead of Table 1's), GROUP_LIMIT (120: the group stage's box; the
# concurrent stage's two runs take well under it), PROJECT_LIMIT (50: the project stage's), LIMIT
# (both at once), WHEELS (RecBole and the pure-Python packages it needs, installed with --no-deps
# where RecBole is missing), DMREC_COMMIT (the commit this copy of the tree is: a copy may carry no .git).
set -u
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
DATASET=${DATASET:-amazon}
GROUP=${GROUP:-1,5,10}
CONCURRENT=${CONCURRENT:-1,4}
EPOCHS=${EPOCHS:-5}
GROUP_LIMIT=${GROUP_LIMIT:-${LIMIT:-120}}
PROJECT_LIMIT=${PROJECT_LIMIT:-${LIMIT:-50}}
OUT=${OUT:?set OUT to the folder the tables go to}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")
mkdir -p "$WORK/tables" "$WORK/logs"
export PYTHONUNBUFFERED=1 DMREC_RESULTS="$WORK/results"
START=$(date +%s)
log() { echo "[device_check +$(($(date +%s) - START))s] $*" | tee -a "$WORK/logs/device_check.log"; }

bundle() {  # what comes back, whatever happened before
  for table in "$WORK"/tables/perf_{concurrent,group,project,project_group}.md; do
    [ -f "$table" ] && { cat "$table"; echo; }
  done >"$WORK/tables/all.md"
  "$PY" -m benchmark.measurements record "perf-$DEVICE-groups" --from "$WORK/tables/all.md" --root "$OUT" \
    --command "bash benchmark/perf/device_check.sh" >>"$WORK/logs/device_check.log" 2>&1
  { echo "# Trial groups on $DEVICE, $(date -u +%Y-%m-%dT%H:%MZ), commit ${DMREC_COMMIT:-unknown}"; echo
    cat "$WORK/tables/all.md"; echo '## Log'; echo '```'; cat "$WORK/logs/device_check.log"; echo '```'
  } >"$OUT/summary.md"
  tar -czf "$OUT/tables.tgz" -C "$WORK" tables logs
}
trap bundle EXIT

if ! "$PY" -c "import recbole" 2>/dev/null && [ -n "${WHEELS:-}" ]; then
  log "installing $(ls "$WHEELS"/*.whl | wc -l) wheel(s) from $WHEELS (--no-deps)"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" \
    "$WHEELS"/*.whl >>"$WORK/logs/device_check.log" 2>&1
  export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
log "device: $("$PY" -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))" 2>&1)"

perf() {  # perf NAME BOX ARGS...: one benchmark.perf process, killed at BOX seconds
  local name=$1 box=$2; shift 2
  [ -n "${SHAPE:-}" ] && set -- "$@" --shape "$SHAPE"
  log "$name: benchmark.perf $*"
  timeout --signal=TERM --kill-after=5 "$box" "$PY" -m benchmark.perf --device "$DEVICE" --dataset "$DATASET" \
    --skip-epoch-table --out "$WORK/tables" "$@" >>"$WORK/logs/perf-$name.log" 2>&1
  log "$name: exit $?"
}
# the concurrent and group stages, then the projection, which reads their tables: 5 minutes in all
perf groups $((GROUP_LIMIT + 90)) --group "$GROUP" --concurrent "$CONCURRENT" --trial-epochs "$EPOCHS" \
  --time-limit "$GROUP_LIMIT"
perf project $((PROJECT_LIMIT + 40)) --project table2 --repeats 2 --time-limit "$PROJECT_LIMIT"
