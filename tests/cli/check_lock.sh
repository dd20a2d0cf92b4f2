#!/usr/bin/env bash
# One `juice train` per --out folder (an flock on OUT/.juice-train.lock held for the run).
#   check_lock.sh JUICE OUT DATA
#   - while a run trains in OUT/run, a second run (and a --resume) on the same folder is refused in
#     one line naming the first run's pid, and the first run's metrics.jsonl stays one JSON object
#     per line;
#   - two runs started at once on a new folder: exactly one trains (each of its steps logged once),
#     the other is refused.
set -u
JUICE=$1 OUT=$2 DATA=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT" || exit 1
args=(--model "$DATA/tiny.json" --demos "$DATA/demos.jsonl" --batch-size 4 --threads 1 --algo sft --quiet)

"$JUICE" train "${args[@]}" --steps 10000000 --out run &
pid=$!
trap 'kill -KILL "$pid" 2>/dev/null' EXIT  # a failed check must not leave the long run behind
for _ in $(seq 1 3000); do
  [ -s run/metrics.jsonl ] && break
  kill -0 "$pid" 2>/dev/null || fail "the first run ended early"
  sleep 0.01
done
[ -s run/metrics.jsonl ] || fail "the first run logged nothing in 30 s"
for extra in "--steps 5" "--steps 10000000 --save-every 1 --resume"; do
  # shellcheck disable=SC2086  # $extra is two or four words on purpose
  msg=$("$JUICE" train "${args[@]}" $extra --out run 2>&1) && fail "a second run ($extra) was accepted"
  [ "$(echo "$msg" | wc -l)" -eq 1 ] || fail "not one line: $msg"
  echo "$msg" | grep -q "^juice: error: --out run: another juice train (pid $pid) is running in this folder" || fail "unexpected message: $msg"
  echo "refused ($extra): $msg"
done
kill -0 "$pid" 2>/dev/null || fail "the first run died"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
bad=$(grep -cv '^{"grad_norm":.*"step":[0-9]*,.*}$' run/metrics.jsonl)
[ "$bad" -le 1 ] || fail "run/metrics.jsonl has $bad lines that are not a step's record"  # a kill may cut the last line

for attempt in 1 2 3; do
  rm -rf race
  "$JUICE" train "${args[@]}" --steps 40 --out race 2> a.err &
  a=$!
  "$JUICE" train "${args[@]}" --steps 40 --out race 2> b.err &
  b=$!
  wait "$a"
  ra=$?
  wait "$b"
  rb=$?
  [ $((ra == 0 ? 1 : 0)) -ne $((rb == 0 ? 1 : 0)) ] || fail "attempt $attempt: exits $ra and $rb, expected one 0"
  loser=$([ "$ra" -eq 0 ] && cat b.err || cat a.err)
  echo "$loser" | grep -Eq "^juice: error: --out race: (another juice train \(pid [0-9]+\) is running in this folder|already holds a run)" ||
    fail "attempt $attempt: unexpected message: $loser"
  got=$(grep -o '"step":[0-9]*' race/metrics.jsonl | cut -d: -f2 | tr '\n' ' ')
  [ "$got" = "$(seq 1 40 | tr '\n' ' ')" ] || fail "attempt $attempt: race/metrics.jsonl holds steps [$got]"
  [ -f race/final/model.safetensors ] || fail "attempt $attempt: no final/"
  echo "attempt $attempt: one run trained, the other: $loser"
done
