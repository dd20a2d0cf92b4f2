#!/usr/bin/env bash
# `juice train --save-every K` / `--resume`, driven as a user (or a crash) would.
#   check_resume.sh JUICE OUT MODE STEPS K MAX_DELAY_MS -- TRAIN_ARGS...
#   MODE=kill     train STEPS steps straight into OUT/straight; train again with --save-every K into
#                 OUT/killed, SIGKILL it at a random moment after its first checkpoint (see below),
#                 --resume it to the end; the two final/model.safetensors must be
#                 byte-identical, and OUT/killed/metrics.jsonl must hold steps 1..STEPS once each
#   MODE=changed  train with --save-every K, move final/ away (an unfinished run), then --resume with
#                 another --lr: refused naming --lr; --resume of a folder without a checkpoint:
#                 refused; --resume with the same options: the same final/model.safetensors, and
#                 metrics.jsonl cut back to step K and continued (steps 1..STEPS once each); and a
#                 second --resume of the now finished run: refused
#   MODE=nan      TRAIN_ARGS reach a non-finite loss or gradient at some step n: with --save-every 1
#                 the run stops naming step n, leaves no final/ and n - 1 metrics lines; its
#                 checkpoint (step n - 1) still loads: `juice eval` reads it, and --resume reaches
#                 the same step-n error again
set -u
JUICE=$1 OUT=$2 MODE=$3 STEPS=$4 K=$5 MAX_DELAY_MS=$6
shift 7
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"

check_metrics() {  # every step 1..STEPS exactly once, in order
  local got want
  got=$(grep -o '"step":[0-9]*' "$1/metrics.jsonl" | cut -d: -f2 | tr '\n' ' ')
  want=$(seq 1 "$STEPS" | tr '\n' ' ')
  [ "$got" = "$want" ] || fail "$1/metrics.jsonl holds steps [$got], expected [$want]"
}

case $MODE in
kill)
  "$JUICE" train "$@" --out "$OUT/straight" --quiet || fail "the uninterrupted run failed"
  # The kill comes once metrics.jsonl reaches a random step between the first checkpoint and
  # 2/3 of the run, plus 0..MAX_DELAY_MS: mid-step, mid-save or between them. A run that is
  # faster than the polling and finishes first is retried in a fresh folder (at most 5 times).
  killed=0
  for attempt in 1 2 3 4 5; do
    rm -rf "$OUT/killed"
    target=$((K + RANDOM % (STEPS * 2 / 3 - K + 1)))
    delay=$((RANDOM % (MAX_DELAY_MS + 1)))
    "$JUICE" train "$@" --save-every "$K" --out "$OUT/killed" --quiet &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      [ -d "$OUT/killed/checkpoint" ] && [ "$(wc -l < "$OUT/killed/metrics.jsonl")" -ge "$target" ] && break
      sleep 0.002
    done
    sleep "$(printf '0.%03d' "$delay")"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    if [ "$rc" -eq 137 ]; then killed=1; break; fi
    echo "attempt $attempt: the run ended (exit $rc) before the kill at step $target + $delay ms; again"
  done
  [ "$killed" -eq 1 ] || fail "every run ended before its kill; lengthen the run"
  [ -e "$OUT/killed/final" ] && fail "a killed run left final/"
  at=$(grep -o '"step": *[0-9]*' "$OUT/killed/checkpoint/state.json" 2>/dev/null | grep -o '[0-9]*$')
  lines=$(wc -l < "$OUT/killed/metrics.jsonl")
  echo "killed at step $target + $delay ms: checkpoint at step ${at:-?} (mid-swap if ?), metrics.jsonl had $lines lines"
  "$JUICE" train "$@" --save-every "$K" --resume --out "$OUT/killed" --quiet || fail "--resume failed"
  cmp "$OUT/straight/final/model.safetensors" "$OUT/killed/final/model.safetensors" ||
    fail "the resumed run's final/model.safetensors differs from the uninterrupted run's"
  check_metrics "$OUT/killed"
  check_metrics "$OUT/straight"
  echo "resumed: final/model.safetensors identical to the uninterrupted run's"
  ;;
changed)
  "$JUICE" train "$@" --save-every "$K" --out "$OUT/run" --quiet || fail "the run failed"
  mv "$OUT/run/final" "$OUT/first_final"
  msg=$("$JUICE" train "$@" --lr 0.5 --save-every "$K" --resume --out "$OUT/run" --quiet 2>&1) && fail "resumed with a changed --lr"
  echo "$msg" | grep -q "the option '--lr' was .* when the checkpoint was written but is 0.5 now" || fail "unexpected message: $msg"
  echo "refused: $msg"
  mkdir -p "$OUT/empty"
  msg=$("$JUICE" train "$@" --resume --out "$OUT/empty" --quiet 2>&1) && fail "resumed without a checkpoint"
  echo "$msg" | grep -q "^juice: error: --resume: there is no checkpoint in .*empty/checkpoint" || fail "unexpected message: $msg"
  echo "refused: $msg"
  # The same options resume (the refusal above was the option's): from the checkpoint at step K the
  # steps after it are trained and logged again, to the same result and each step logged once.
  "$JUICE" train "$@" --save-every "$K" --resume --out "$OUT/run" --quiet || fail "resuming with the same options failed"
  cmp "$OUT/first_final/model.safetensors" "$OUT/run/final/model.safetensors" || fail "the resumed run ended elsewhere"
  check_metrics "$OUT/run"
  msg=$("$JUICE" train "$@" --save-every "$K" --resume --out "$OUT/run" --quiet 2>&1) && fail "resumed a finished run"
  echo "$msg" | grep -q "^juice: error: --resume: .* already holds a finished run (final/)" || fail "unexpected message: $msg"
  echo "refused: $msg"
  ;;
nan)
  want='^juice: error: juice train: step [0-9]+ \(round 0\): the (loss|gradient norm) is (NaN|infinite)'
  msg=$("$JUICE" train "$@" --save-every 1 --out "$OUT/run" --quiet 2>&1) && fail "trained through a non-finite loss"
  echo "$msg" | grep -Eq "$want" || fail "unexpected message: $msg"
  good=$(($(echo "$msg" | sed -E 's/^juice: error: juice train: step ([0-9]+) .*/\1/') - 1))
  [ -e "$OUT/run/final" ] && fail "a stopped run left final/"
  [ "$(wc -l < "$OUT/run/metrics.jsonl")" -eq "$good" ] || fail "metrics.jsonl should hold the $good good steps"
  grep -q "\"step\": $good," "$OUT/run/checkpoint/state.json" || fail "the checkpoint is not the step-$good one"
  "$JUICE" eval --model "$OUT/run/checkpoint" --demos "$(dirname "$0")/data/demos.jsonl" --json > /dev/null ||
    fail "juice eval cannot read the last good checkpoint"
  msg2=$("$JUICE" train "$@" --save-every 1 --resume --out "$OUT/run" --quiet 2>&1) && fail "the resumed run trained through the non-finite loss"
  echo "$msg2" | grep -Eq "$want" || fail "the resumed run stopped differently: $msg2"
  echo "stopped with: $msg"
  ;;
*) fail "unknown MODE $MODE" ;;
esac
