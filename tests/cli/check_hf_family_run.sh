#!/usr/bin/env bash
# `juice train` on a Hugging Face folder of another family (tests/fixtures/{llama,neox}/model, made
# by transformers): a few SFT steps, then final/ must be in the family's own layout (its model_type
# in config.json, its tensor names in model.safetensors) and read back by `juice eval --model`.
#   check_hf_family_run.sh JUICE OUT MODEL_DIR MODEL_TYPE HF_TENSOR DEMOS
# The demonstrations use bytes below the fixtures' vocabulary of 96 (digits, '+', '='), without EOS.
set -euo pipefail
juice=$1 out=$2 model=$3 type=$4 tensor=$5 demos=$6
rm -rf "$out"
"$juice" train --algo sft --model "$model" --demos "$demos" --no-eos --batch-size 3 --steps 3 --lr 1e-3 --threads 1 --quiet --out "$out"
test -f "$out/final/config.json" || { echo "no final/config.json"; exit 1; }
grep -q "\"model_type\": \"$type\"" "$out/final/config.json" || { echo "final/config.json is not model_type $type:"; cat "$out/final/config.json"; exit 1; }
grep -q "\"$tensor\"" "$out/final/model.safetensors" || { echo "final/model.safetensors lacks the $type tensor $tensor"; exit 1; }
if grep -q '"wte.weight"\|"h.0.attn.c_attn.weight"' "$out/final/model.safetensors"; then echo "final/ holds juice's or GPT-2's names"; exit 1; fi
"$juice" eval --model "$out/final" --demos "$demos" --no-eos --json --threads 1 | grep -q '"nll"' || { echo "juice eval did not read final/ back"; exit 1; }
# Training moved the weights: the first run's final/ differs from the starting model's log-probs.
before=$("$juice" eval --model "$model" --demos "$demos" --no-eos --json --threads 1)
after=$("$juice" eval --model "$out/final" --demos "$demos" --no-eos --json --threads 1)
[[ $before != "$after" ]] || { echo "final/ scores as the starting model: nothing was trained"; exit 1; }
echo ok
