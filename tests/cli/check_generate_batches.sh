#!/usr/bin/env bash
# `juice generate --prompts`: each response's cap is its own prompt's room in the context, so the
# output does not depend on --batch-size (greedy decoding of prompts of 3 to 30 tokens on a
# context-32 model, with room for 8 new tokens after every prompt but the longest).
#   check_generate_batches.sh JUICE OUT DATA
set -u
JUICE=$1 OUT=$2 DATA=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT" || exit 1
for b in 1 4; do
  "$JUICE" generate --model "$DATA/tiny.json" --prompts "$DATA/mixed_prompts.jsonl" --temperature 0 --max-new-tokens 8 \
    --threads 1 --batch-size "$b" > "batch$b.jsonl" || fail "--batch-size $b failed"
done
diff batch1.jsonl batch4.jsonl || fail "the responses depend on --batch-size"
[ "$(wc -l < batch1.jsonl)" -eq 4 ] || fail "expected 4 lines"
echo "the same responses with --batch-size 1 and 4:"
cat batch1.jsonl
