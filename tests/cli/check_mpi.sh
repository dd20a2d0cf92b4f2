#!/usr/bin/env bash
# `juice train` under mpirun (label mpi), driven as a user (or a crash) would.
#   check_mpi.sh JUICE OUT MODE STEPS K -- MPIRUN... -- TRAIN_ARGS...
#   MODE=equal  one process (--distributed none) and two ranks (mpirun -np 2; TRAIN_ARGS give each --threads 1)
#               train the same minibatches: every step's loss, gradient norm, log-probs and (IRFT,
#               SPIN) implicit rewards, or (RFT) every iteration's loss, reward-model rewards, loss and
#               gradient norm and PPO's statistics, agree to a relative 1e-5 (the rewards and the KL to
#               1e-6 absolute more)
#               (float: the two halves' gradients are summed in another order than
#               one pass over the whole minibatch makes), only rank 0 wrote (one metrics line per
#               step, one final/)
#   MODE=kill   two ranks with --save-every K; once the first checkpoint exists, one rank gets
#               SIGKILL: the job must end with a non-zero exit within 60 s (not hang), leave no
#               final/, and --resume (two ranks again) must end byte-identical to an uninterrupted
#               two-rank run
#   MODE=refused  two ranks with TRAIN_ARGS that several ranks cannot run (a batch smaller than
#               the ranks): a non-zero exit, the message given after TRAIN_ARGS' last
#               `--` (a regex), and no OUT folder
#   MODE=nan    TRAIN_ARGS reach a non-finite loss or gradient norm: the two-rank job stops with a
#               non-zero exit within 60 s, naming the step and the rank, and writes no final/
set -u
JUICE=$1 OUT=$2 MODE=$3 STEPS=$4 K=$5
shift 6
MPIRUN=()
while [ "$1" != "--" ]; do MPIRUN+=("$1"); shift; done
shift
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT"
export OMP_NUM_THREADS=1

two_ranks() { "${MPIRUN[@]}" "$JUICE" train "$@" --distributed mpi --quiet; }  # TRAIN_ARGS hold --threads 1

case $MODE in
equal)
  "$JUICE" train "$@" --distributed none --out "$OUT/one" --quiet || fail "the one-process run failed"
  two_ranks "$@" --out "$OUT/two" || fail "the two-rank run failed"
  [ -d "$OUT/two/final" ] || fail "the two-rank run wrote no final/"
  [ "$(wc -l < "$OUT/two/metrics.jsonl")" -eq "$STEPS" ] || fail "metrics.jsonl should hold $STEPS lines (rank 0 alone writes)"
  for key in loss grad_norm logps/chosen logps/rejected rewards/chosen rewards/rejected rewards/margins \
             reward_loss reward_grad_norm reward_warmup_loss ppo/mean_score ppo/kl ppo/clipped_fraction; do
    # An implicit reward is beta times the difference of two log-probabilities of about the same
    # size: its rounding is theirs (tens of nats here) times beta, not a fraction of its own size.
    floor=1e-7
    # PPO's KL is the same kind of difference (of the policy's and the reference's log-probabilities),
    # and RFT's loss (PPO's) a sum of whitened advantages, of mean zero, times ratios near 1.
    case $key in rewards/* | ppo/kl) floor=1e-6 ;; esac
    [ "$key" = loss ] && grep -q '"ppo/kl"' "$OUT/one/metrics.jsonl" && floor=1e-6
    paste <(grep -o "\"$key\":[^,}]*" "$OUT/one/metrics.jsonl" | cut -d: -f2) \
          <(grep -o "\"$key\":[^,}]*" "$OUT/two/metrics.jsonl" | cut -d: -f2) |
      awk -v key="$key" -v floor="$floor" '{ d = $1 - $2; if (d < 0) d = -d; s = $1 < 0 ? -$1 : $1;
                            if (d > 1e-5 * s + floor) { printf "step %d: %s %s (one process) vs %s (two ranks)\n", NR, key, $1, $2; bad = 1 } }
                          END { exit bad }' || fail "the two-rank run's $key differs from the one-process run's"
  done
  echo "two ranks equal one process to a relative 1e-5 over $STEPS steps"
  ;;
kill)
  two_ranks "$@" --out "$OUT/straight" || fail "the uninterrupted two-rank run failed"
  "${MPIRUN[@]}" "$JUICE" train "$@" --distributed mpi --quiet --save-every "$K" --out "$OUT/killed" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    [ -d "$OUT/killed/checkpoint" ] && [ "$(wc -l < "$OUT/killed/metrics.jsonl")" -gt "$K" ] && break
    sleep 0.01
  done
  victim=$(pgrep -P "$pid" | tail -n 1)
  [ -n "$victim" ] || fail "the job ended before a rank could be killed; lengthen the run"
  start=$(date +%s)
  kill -KILL "$victim"
  wait "$pid"
  rc=$?
  took=$(($(date +%s) - start))
  [ "$rc" -ne 0 ] || fail "the job exited 0 after one of its ranks was killed"
  [ "$took" -le 60 ] || fail "the job took ${took} s to end after one of its ranks was killed"
  [ -e "$OUT/killed/final" ] && fail "a killed job left final/"
  echo "one rank killed: the job ended with exit $rc after ${took} s"
  two_ranks "$@" --save-every "$K" --resume --out "$OUT/killed" || fail "--resume failed"
  cmp "$OUT/straight/final/model.safetensors" "$OUT/killed/final/model.safetensors" ||
    fail "the resumed run's final/model.safetensors differs from the uninterrupted run's"
  echo "resumed: final/model.safetensors identical to the uninterrupted two-rank run's"
  ;;
nan)
  start=$(date +%s)
  msg=$(two_ranks "$@" --out "$OUT/run" 2>&1) && fail "trained through a non-finite loss"
  took=$(($(date +%s) - start))
  [ "$took" -le 60 ] || fail "the job took ${took} s to stop"
  echo "$msg" | grep -Eq "juice: error: juice train: step [0-9]+ \(round 0\): the (loss|gradient norm) is (NaN|infinite) on rank [01] of 2" ||
    fail "unexpected message: $msg"
  [ -e "$OUT/run/final" ] && fail "a stopped run left final/"
  echo "stopped with: $(echo "$msg" | grep -m1 'juice: error')"
  ;;
refused)
  args=() want=""
  while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then want=$2; break; fi
    args+=("$1"); shift
  done
  msg=$(two_ranks "${args[@]}" --out "$OUT/run" 2>&1) && fail "two ranks ran ${args[*]}"
  echo "$msg" | grep -Eq "^juice: error: $want" || fail "unexpected message: $msg"
  [ -e "$OUT/run" ] && fail "a refused run created its --out folder"
  echo "refused: $(echo "$msg" | grep -m1 'juice: error')"
  ;;
*) fail "unknown MODE $MODE" ;;
esac
