#!/usr/bin/env bash
# SIGINT / SIGTERM during `juice train`: the first signal lets the current step finish, saves
# OUT/checkpoint and exits 130 / 143 with one line saying how to resume; the resumed run ends
# byte-identical to an uninterrupted one; no temporary checkpoint folder is left. A second signal,
# SIGINT or SIGTERM whichever the first was, stops the run at once, without waiting for its (here
# slow) step.
#   check_signal.sh JUICE OUT DATA
set -u
JUICE=$1 OUT=$2 DATA=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null' EXIT  # a failed check must not leave a run behind
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT" || exit 1
args=(--model "$DATA/tiny.json" --demos "$DATA/demos.jsonl" --batch-size 4 --threads 1 --algo irft --rounds 2 --gen-length 4
      --steps 1500 --quiet)

wait_lines() {  # wait_lines FILE N PID: until FILE has N lines (the run still going)
  for _ in $(seq 1 6000); do
    [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || fail "the run ended before $2 steps"
    sleep 0.005
  done
  fail "$1 did not reach $2 lines in 30 s"
}

"$JUICE" train "${args[@]}" --out straight || fail "the uninterrupted run failed"
for sig in INT TERM; do
  want=$([ "$sig" = INT ] && echo 130 || echo 143)
  "$JUICE" train "${args[@]}" --out "$sig" 2> "$sig.err" &
  pid=$!
  wait_lines "$sig/metrics.jsonl" 20 "$pid"
  kill -"$sig" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq "$want" ] || fail "SIG$sig: exit $rc, expected $want: $(cat "$sig.err")"
  [ "$(wc -l < "$sig.err")" -eq 1 ] || fail "SIG$sig: not one line: $(cat "$sig.err")"
  grep -Eq "^juice: stopped by SIG$sig after step [0-9]+ of 1500; $sig/checkpoint holds the run: to continue, run the same command with --resume\.$" "$sig.err" ||
    fail "SIG$sig: unexpected message: $(cat "$sig.err")"
  [ -e "$sig/final" ] && fail "SIG$sig: a stopped run left final/"
  leftovers=$(find "$sig" -name '*juice-tmp*')
  [ -z "$leftovers" ] || fail "SIG$sig: left $leftovers"
  at=$(grep -o '"step": *[0-9]*' "$sig/checkpoint/state.json" | grep -o '[0-9]*$')
  [ "$at" -eq "$(wc -l < "$sig/metrics.jsonl")" ] || fail "SIG$sig: the checkpoint is at step $at but metrics.jsonl has $(wc -l < "$sig/metrics.jsonl") lines"
  echo "SIG$sig: $(cat "$sig.err")"
  "$JUICE" train "${args[@]}" --resume --out "$sig" || fail "SIG$sig: --resume failed"
  cmp straight/final/model.safetensors "$sig/final/model.safetensors" || fail "SIG$sig: the resumed run ended elsewhere"
done

# A slow step (a wide model, about a second a step): a second signal 50 ms after the first, of
# either kind, ends the run at once with the second signal's default action.
echo '{"n_layer": 2, "n_head": 2, "n_embd": 512, "n_positions": 32, "vocab_size": 257}' > wide.json
for pair in INT:INT INT:TERM TERM:INT; do
  first=${pair%:*} second=${pair#*:}
  want=$([ "$second" = INT ] && echo 130 || echo 143)
  "$JUICE" train --model wide.json --demos "$DATA/demos.jsonl" --batch-size 12 --threads 1 --steps 1000 --quiet --out "twice_$first$second" \
    2> "twice_$first$second.err" &
  pid=$!
  wait_lines "twice_$first$second/metrics.jsonl" 1 "$pid"
  kill -"$first" "$pid"
  sleep 0.05
  kill -"$second" "$pid"
  wait "$pid"
  rc=$?
  [ "$rc" -eq "$want" ] || fail "SIG$first then SIG$second: exit $rc, expected $want (killed by SIG$second): $(cat "twice_$first$second.err")"
  grep -q "stopped by" "twice_$first$second.err" && fail "SIG$first then SIG$second: the run finished its step and saved: $(cat "twice_$first$second.err")"
  [ -e "twice_$first$second/checkpoint" ] && fail "SIG$first then SIG$second: a checkpoint was written"
  echo "SIG$first then SIG$second: stopped at once"
done
